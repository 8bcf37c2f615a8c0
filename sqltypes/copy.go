package sqltypes

import (
	"runtime"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// CopyFromSource is pgx's CopyFromSource (pgx.CopyFromSource), declared
// here so that this package does not import pgx: every
// pgx.CopyFromSource is one, and every CopyFromSource is a
// pgx.CopyFromSource.
type CopyFromSource interface {
	Next() bool
	Values() ([]any, error)
	Err() error
}

// sealer is implemented by this package's Valuers: ParallelSeal seals
// them ahead of the driver.
type sealer interface{ sealIn(*batchState) error }

var _ sealer = (*valuer[string])(nil)

// parallelBatchRows is how many rows one goroutine seals at a time: enough
// to amortize a goroutine, a key lookup and an arena, few enough that pgx
// is not kept waiting for the first batch.
const parallelBatchRows = 512

// ParallelSeal returns a CopyFromSource with the rows of src whose
// [Column.Value] values are sealed by up to workers goroutines (all CPUs
// if workers <= 0) while pgx encodes and sends the rows before them.
// Sealing then costs wall time only where the CPUs are busier than the
// database, and each batch of a few hundred rows looks the tenant's key up
// once per column instead of once per value and writes its values into
// shared buffers.
//
//	_, err := pool.CopyFrom(ctx, pgx.Identifier{"patients"}, []string{"tenant_id", "name", "ssn"},
//		sqltypes.ParallelSeal(pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
//			return []any{t, name.Value(ctx, t, ps[i].Name), ssn.Value(ctx, t, ps[i].SSN)}, nil
//		}), 0))
//
// src is read from the goroutine that calls Next, a few hundred rows
// ahead, and the []any slices it returns are copied, so a source may reuse
// its slice. Values that are not this package's Valuers pass through as
// they are. A row whose value fails to seal returns the error from Values,
// which aborts pgx's copy; goroutines still sealing rows read ahead finish
// on their own, none outlives its batch.
//
// pgx reports a source's error as the server's "COPY from stdin failed"
// error, with the text but not the error value; the returned source's Err
// method returns the error itself once CopyFrom is done:
//
//	src := sqltypes.ParallelSeal(rows, 0)
//	if _, err := pool.CopyFrom(ctx, table, columns, src); err != nil {
//		if serr := src.Err(); serr != nil {
//			err = serr // errors.Is(err, keystore.ErrKeyDestroyed) and so on
//		}
//		return err
//	}
func ParallelSeal(src CopyFromSource, workers int) CopyFromSource {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &parallelSource{src: src, depth: workers + 1}
}

type parallelSource struct {
	src   CopyFromSource
	depth int // batches in flight

	queue   []*sealBatch // FIFO of batches handed to workers
	cur     *sealBatch
	row     int
	srcDone bool
	err     error // the first error Values returned
}

// sealBatch is rows read from src and the goroutine that seals them.
type sealBatch struct {
	rows  [][]any // slices of one backing array
	errs  []error // per row: src's Values error or the first seal error
	ready chan struct{}
}

// Next implements CopyFromSource.
func (p *parallelSource) Next() bool {
	if p.cur != nil && p.row+1 < len(p.cur.rows) {
		p.row++
		return true
	}
	p.cur = nil
	p.fill()
	if len(p.queue) == 0 {
		return false
	}
	p.cur = p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.row = 0
	<-p.cur.ready
	return true
}

// Values implements CopyFromSource.
func (p *parallelSource) Values() ([]any, error) {
	if p.cur == nil {
		return nil, nil
	}
	if err := p.cur.errs[p.row]; err != nil {
		if p.err == nil {
			p.err = err
		}
		return nil, err
	}
	return p.cur.rows[p.row], nil
}

// Err implements CopyFromSource: the error of src, or else the first error
// Values returned. pgx hands a source's error to the server as the reason
// the COPY failed and returns the server's error, which carries only its
// text; Err gives the error itself back to errors.Is after CopyFrom.
func (p *parallelSource) Err() error {
	if err := p.src.Err(); err != nil {
		return err
	}
	return p.err
}

// fill reads batches from src until depth batches are in flight.
func (p *parallelSource) fill() {
	for len(p.queue) < p.depth && !p.srcDone {
		b := p.readBatch()
		if len(b.rows) == 0 {
			return
		}
		p.queue = append(p.queue, b)
		go b.seal()
	}
}

func (p *parallelSource) readBatch() *sealBatch {
	b := &sealBatch{ready: make(chan struct{})}
	var backing []any
	for len(b.rows) < parallelBatchRows {
		if !p.src.Next() {
			p.srcDone = true
			break
		}
		vals, err := p.src.Values()
		if err != nil {
			// pgx stops at this row; read no further.
			b.rows = append(b.rows, nil)
			b.errs = append(b.errs, err)
			p.srcDone = true
			break
		}
		if backing == nil {
			backing = make([]any, 0, len(vals)*parallelBatchRows)
		}
		if cap(backing)-len(backing) < len(vals) {
			backing = make([]any, 0, len(vals)*(parallelBatchRows-len(b.rows)))
		}
		start := len(backing)
		backing = append(backing, vals...)
		b.rows = append(b.rows, backing[start:len(backing):len(backing)])
		b.errs = append(b.errs, nil)
	}
	return b
}

func (b *sealBatch) seal() {
	defer close(b.ready)
	state := &batchState{handles: map[handleKey]*fieldcore.Handle{}}
	for i, row := range b.rows {
		for _, v := range row {
			if s, ok := v.(sealer); ok {
				if err := s.sealIn(state); err != nil && b.errs[i] == nil {
					b.errs[i] = err
				}
			}
		}
	}
}
