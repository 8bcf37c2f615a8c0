package sqltypes

import (
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"sync"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
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
	h, err := c.activeHandle(ctx, tenant)
	if err != nil {
		return nil, err
	}
	workers := min(runtime.GOMAXPROCS(0), (len(vs)+sealBatchChunk-1)/sealBatchChunk)
	if workers <= 1 {
		if err := c.sealChunk(ctx, h, vs, out, 0); err != nil {
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
		// Each goroutine seals with a fork of h: the same key version,
		// its own nonces.
		fork := h.Fork()
		wg.Go(func() {
			if err := c.sealChunk(ctx, fork, vs[lo:hi], out[lo:hi], lo); err != nil {
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

// activeHandle is a fieldcore.Handle of the column for tenant whose active
// key is looked up already: what field.Encryptor.Seal would use, held for
// a batch.
func (c *Column[T]) activeHandle(ctx context.Context, tenant string) (*fieldcore.Handle, error) {
	h, err := c.enc.Handle(ctx, field.Scope{Tenant: tenant, Table: c.table, Column: c.column})
	if err == nil {
		_, err = h.KeyVersion(ctx)
	}
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	return h, nil
}

// sealChunk seals vs into out, whose slices share one buffer. base is the
// index of vs[0] in the caller's slice, for errors.
func (c *Column[T]) sealChunk(ctx context.Context, h *fieldcore.Handle, vs []T, out [][]byte, base int) error {
	version, err := h.KeyVersion(ctx)
	if err != nil {
		return c.errorf("seal", err)
	}
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
		size += c.storedLen(version, len(pt))
	}
	buf := make([]byte, 0, size)
	var scratch []byte
	for i, pt := range pts {
		if pt == nil {
			continue
		}
		start := len(buf)
		var err error
		if buf, err = c.appendSealed(ctx, buf, h, pt, &scratch); err != nil {
			return c.errorf("seal", err)
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return nil
}

// sealCached is Seal for ParallelSeal: the handle is looked up in the
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
	key := handleKey{col: c, tenant: resolved}
	h := b.handles[key]
	if h == nil {
		if h, err = c.activeHandle(ctx, resolved); err != nil {
			return nil, err
		}
		b.handles[key] = h
	}
	version, err := h.KeyVersion(ctx)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	if need := c.storedLen(version, len(pt)); cap(b.arena)-len(b.arena) < need {
		b.arena = make([]byte, 0, max(arenaSize, need))
	}
	start := len(b.arena)
	if b.arena, err = c.appendSealed(ctx, b.arena, h, pt, &b.scratch); err != nil {
		return nil, c.errorf("seal", err)
	}
	return b.arena[start:len(b.arena):len(b.arena)], nil
}

// arenaSize is the size of the buffers ParallelSeal writes values into:
// one allocation for a few hundred short values instead of one each.
const arenaSize = 32 << 10

// batchState is what one ParallelSeal batch, sealed by one goroutine,
// shares between its values: the handles per column and tenant, and the
// arena the values are written into.
type batchState struct {
	handles map[handleKey]*fieldcore.Handle
	arena   []byte
	scratch []byte
}

type handleKey struct {
	col    any // the *Column[T]
	tenant string
}

// appendSealed appends the stored form of pt to dst: the binary value, or
// its armor, built in *scratch. h belongs to the calling goroutine.
func (c *Column[T]) appendSealed(ctx context.Context, dst []byte, h *fieldcore.Handle, pt []byte, scratch *[]byte) ([]byte, error) {
	if !c.armor {
		return c.sealWith(ctx, h, dst, pt)
	}
	bin, err := c.sealWith(ctx, h, (*scratch)[:0], pt)
	if err != nil {
		return nil, err
	}
	*scratch = bin
	return codec.Armor(dst, bin), nil
}

func (c *Column[T]) sealWith(ctx context.Context, h *fieldcore.Handle, dst, pt []byte) ([]byte, error) {
	if c.bindRow {
		return c.sealRowWith(ctx, h, dst, pt)
	}
	return h.Seal(ctx, c.mode, dst, pt)
}

// storedLen is the stored size of a plaintext of n bytes under the given
// key version.
func (c *Column[T]) storedLen(version uint32, n int) int {
	alg := codec.AESGCM
	if c.mode == field.Deterministic {
		alg = codec.AESSIV
	}
	n += codec.Overhead(alg, version)
	if c.armor {
		return armoredLen(n)
	}
	return n
}

// armoredLen is the length of the armor of a binary value of n bytes.
func armoredLen(n int) int {
	return len(codec.ArmorPrefix) + base64.RawStdEncoding.EncodedLen(n)
}
