package sqltypes

import (
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"sync"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// sealBatchChunk is the fewest values a SealBatch goroutine takes: below
// it, a goroutine costs more than it saves.
const sealBatchChunk = 1024

// SealBatch seals the values of one tenant for a bulk load and returns the
// bytes to store, in order; a NULL value gives nil. It is Seal for many
// values: the tenant's key is looked up once, the values are sealed on
// every CPU, and each goroutine writes its values into one allocation.
// Every value is sealed with the key that was active when SealBatch
// began; a rotation during the call takes effect for the next one.
//
// For pgx's CopyFrom, seal the columns, then copy:
//
//	names, err := name.SealBatch(ctx, tenant, rawNames)
//	...
//	pool.CopyFrom(ctx, pgx.Identifier{"people"}, []string{"tenant_id", "name"},
//		pgx.CopyFromSlice(len(names), func(i int) ([]any, error) {
//			return []any{tenant, names[i]}, nil
//		}))
//
// On error no result is returned; the error names the column and, for a
// value that cannot be encoded, its index.
func (c *Column[T]) SealBatch(ctx context.Context, tenant string, vs []T) ([][]byte, error) {
	out := make([][]byte, len(vs))
	if len(vs) == 0 {
		return out, nil
	}
	resolved, err := c.enc.ResolveTenant(ctx, tenant)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	// What field.Encryptor.Seal does per value, once: the tenant's active
	// key, and its cipher for this column.
	k, err := c.enc.Keys().Active(ctx, resolved)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	ciph, err := k.Cipher(c.table, c.column)
	if err != nil {
		return nil, c.errorf("seal", err)
	}

	workers := min(runtime.GOMAXPROCS(0), (len(vs)+sealBatchChunk-1)/sealBatchChunk)
	if workers <= 1 {
		if err := c.sealChunk(ciph, vs, out, 0); err != nil {
			return nil, err
		}
		return out, nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	per := (len(vs) + workers - 1) / workers
	for lo := 0; lo < len(vs); lo += per {
		hi := min(lo+per, len(vs))
		wg.Go(func() {
			if err := c.sealChunk(ciph, vs[lo:hi], out[lo:hi], lo); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// sealChunk seals vs into out, whose slices share one buffer. base is the
// index of vs[0] in the caller's slice, for errors.
func (c *Column[T]) sealChunk(ciph *codec.Cipher, vs []T, out [][]byte, base int) error {
	alg := codec.AESGCM
	if c.mode == field.Deterministic {
		alg = codec.AESSIV
	}
	overhead := codec.Overhead(alg, ciph.Version())
	pts := make([][]byte, len(vs))
	size := 0
	for i, v := range vs {
		pt, ok, err := encode(v)
		if err != nil {
			return c.errorf("seal", fmt.Errorf("value %d: %w", base+i, err))
		}
		if !ok {
			continue
		}
		if pt == nil {
			pt = []byte{} // not NULL: an empty value
		}
		pts[i] = pt
		size += c.storedLen(len(pt) + overhead)
	}
	buf := make([]byte, 0, size)
	var scratch []byte // the binary value, when the column stores armor
	for i, pt := range pts {
		if pt == nil {
			continue
		}
		start := len(buf)
		var err error
		if c.armor {
			if scratch, err = c.sealWith(ciph, scratch[:0], pt); err == nil {
				buf = codec.Armor(buf, scratch)
			}
		} else {
			buf, err = c.sealWith(ciph, buf, pt)
		}
		if err != nil {
			return c.errorf("seal", err)
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return nil
}

func (c *Column[T]) sealWith(ciph *codec.Cipher, dst, pt []byte) ([]byte, error) {
	if c.mode == field.Deterministic {
		return ciph.SealDeterministic(dst, pt)
	}
	return ciph.Seal(dst, pt)
}

// storedLen is the stored size of a binary value of n bytes.
func (c *Column[T]) storedLen(n int) int {
	if c.armor {
		return len(codec.ArmorPrefix) + base64.RawStdEncoding.EncodedLen(n)
	}
	return n
}
