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

// The bulk paths, SealBatch and ParallelSeal, look the tenant's key up
// once per batch instead of once per value, which is most of what sealing
// a short value costs beside the AEAD itself. They do what
// field.Encryptor.Seal does — resolve the tenant, take its active key's
// cipher for the column, seal — with the cipher held for one batch.

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
	if c.bindRow {
		return nil, c.errorf("seal", errBatchBound)
	}
	out := make([][]byte, len(vs))
	if len(vs) == 0 {
		return out, nil
	}
	ciph, err := c.activeCipher(ctx, tenant)
	if err != nil {
		return nil, err
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

// activeCipher is the cipher field.Encryptor.Seal would use for tenant.
func (c *Column[T]) activeCipher(ctx context.Context, tenant string) (*codec.Cipher, error) {
	ciph, err := c.enc.ActiveCipher(ctx, field.Scope{Tenant: tenant, Table: c.table, Column: c.column})
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	return ciph, nil
}

// sealChunk seals vs into out, whose slices share one buffer. base is the
// index of vs[0] in the caller's slice, for errors.
func (c *Column[T]) sealChunk(ciph *codec.Cipher, vs []T, out [][]byte, base int) error {
	pts := make([][]byte, len(vs))
	size := 0
	for i, v := range vs {
		pt, ok, err := c.encode(v)
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
		size += c.storedLen(ciph, len(pt))
	}
	buf := make([]byte, 0, size)
	var scratch []byte
	var nonces codec.Nonces
	for i, pt := range pts {
		if pt == nil {
			continue
		}
		start := len(buf)
		var err error
		if buf, err = c.appendSealed(buf, ciph, pt, &scratch, &nonces); err != nil {
			return c.errorf("seal", err)
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return nil
}

// sealCached is Seal for ParallelSeal: the cipher is looked up in the
// batch's cache, and the value is written into the batch's arena.
func (c *Column[T]) sealCached(ctx context.Context, tenant string, v T, b *batchState) ([]byte, error) {
	pt, ok, err := c.encode(v)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	if !ok {
		return nil, nil
	}
	resolved, err := c.enc.ResolveTenant(ctx, tenant)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	key := cipherKey{col: c, tenant: resolved}
	ciph := b.ciphers[key]
	if ciph == nil {
		if ciph, err = c.activeCipher(ctx, resolved); err != nil {
			return nil, err
		}
		b.ciphers[key] = ciph
	}
	if need := c.storedLen(ciph, len(pt)); cap(b.arena)-len(b.arena) < need {
		b.arena = make([]byte, 0, max(arenaSize, need))
	}
	start := len(b.arena)
	if b.arena, err = c.appendSealed(b.arena, ciph, pt, &b.scratch, &b.nonces); err != nil {
		return nil, c.errorf("seal", err)
	}
	return b.arena[start:len(b.arena):len(b.arena)], nil
}

// arenaSize is the size of the buffers ParallelSeal writes values into:
// one allocation for a few hundred short values instead of one each.
const arenaSize = 32 << 10

// batchState is what one ParallelSeal batch, sealed by one goroutine,
// shares between its values: the ciphers per column and tenant, and the
// arena the values are written into.
type batchState struct {
	ciphers map[cipherKey]*codec.Cipher
	arena   []byte
	scratch []byte
	nonces  codec.Nonces
}

type cipherKey struct {
	col    any // the *Column[T]
	tenant string
}

// appendSealed appends the stored form of pt to dst: the binary value, or
// its armor, built in *scratch. A randomized seal takes its nonce from
// nonces, which belongs to the calling goroutine.
func (c *Column[T]) appendSealed(dst []byte, ciph *codec.Cipher, pt []byte, scratch *[]byte, nonces *codec.Nonces) ([]byte, error) {
	if !c.armor {
		return c.sealWith(ciph, dst, pt, nonces)
	}
	bin, err := c.sealWith(ciph, (*scratch)[:0], pt, nonces)
	if err != nil {
		return nil, err
	}
	*scratch = bin
	return codec.Armor(dst, bin), nil
}

func (c *Column[T]) sealWith(ciph *codec.Cipher, dst, pt []byte, nonces *codec.Nonces) ([]byte, error) {
	if c.bindRow {
		return c.sealRowWith(ciph, dst, pt)
	}
	if c.mode == field.Deterministic {
		return ciph.SealDeterministic(dst, pt)
	}
	return ciph.SealNonces(dst, pt, nonces)
}

// storedLen is the stored size of a plaintext of n bytes under ciph.
func (c *Column[T]) storedLen(ciph *codec.Cipher, n int) int {
	alg := codec.AESGCM
	if c.mode == field.Deterministic {
		alg = codec.AESSIV
	}
	n += codec.Overhead(alg, ciph.Version())
	if c.armor {
		return armoredLen(n)
	}
	return n
}

// armoredLen is the length of the armor of a binary value of n bytes.
func armoredLen(n int) int {
	return len(codec.ArmorPrefix) + base64.RawStdEncoding.EncodedLen(n)
}
