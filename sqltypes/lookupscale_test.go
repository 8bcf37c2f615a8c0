package sqltypes_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// lookupRows turns on TestBlindIndexLookupAtScale, which builds a table of
// that many rows on Postgres: too big for every CI run.
var lookupRows = flag.Int("lookup-rows", 0, "rows of TestBlindIndexLookupAtScale's Postgres table (0: skip the test); BENCHMARKS.md uses 1000000")

// TestBlindIndexLookupAtScale times a blind-index lookup of one row among
// -lookup-rows rows with a B-tree index on each index column, before and
// after 3 data-key rotations, for an index under the tenant's index key
// (stable) and one under its data key versions (legacy), against the same
// lookup of a plaintext column with a B-tree index in the same table and
// the same rounds. Cells run interleaved, in an order rotated every
// round, so machine noise falls on all of them alike. Each lookup is the
// whole path: index values computed (key cache warm), the query, the row
// scanned and its value opened (the plaintext one only scanned).
//
//	go test ./sqltypes -run TestBlindIndexLookupAtScale -lookup-rows 1000000 -v
func TestBlindIndexLookupAtScale(t *testing.T) {
	if *lookupRows <= 0 {
		t.Skip("set -lookup-rows to run")
	}
	n := *lookupRows
	pg := newPG(t)
	ctx := context.Background()
	const tenant = "acme"
	mustPoolExec(t, pg.pool, `CREATE TABLE bidx_scale (id bigint PRIMARY KEY, tenant_id text NOT NULL, email bytea NOT NULL,
		email_plain text NOT NULL, email_bidx bytea NOT NULL, email_bidx_legacy bytea NOT NULL)`)
	stable := sqltypes.NewColumn[string](pg.enc, "bidx_scale", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:lower"))
	legacy := sqltypes.NewColumn[string](pg.enc, "bidx_scale", "email", sqltypes.WithTag("blindindex:email_bidx_legacy,normalize:lower,indexkey:legacy"))
	scope := field.Scope{Tenant: tenant, Table: "bidx_scale", Column: "email"}
	email := func(i int) string { return fmt.Sprintf("user%08d@example.com", i) }

	start := time.Now()
	i := 0
	var rowErr error
	_, err := pg.pool.CopyFrom(ctx, pgx.Identifier{"bidx_scale"},
		[]string{"id", "tenant_id", "email", "email_plain", "email_bidx", "email_bidx_legacy"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n || rowErr != nil {
				return nil, rowErr
			}
			e := email(i)
			ct, err := pg.enc.Seal(ctx, scope, []byte(e))
			if err != nil {
				return nil, err
			}
			s, err := stable.BlindIndex(ctx, tenant, e)
			if err != nil {
				return nil, err
			}
			l, err := legacy.BlindIndex(ctx, tenant, e)
			if err != nil {
				return nil, err
			}
			i++
			return []any{int64(i), tenant, ct, e, s, l}, nil
		}))
	if err != nil {
		t.Fatalf("CopyFrom: %v", err)
	}
	for _, c := range []string{"email_bidx", "email_bidx_legacy", "email_plain"} {
		mustPoolExec(t, pg.pool, `CREATE INDEX ON bidx_scale USING btree (`+c+`)`)
	}
	mustPoolExec(t, pg.pool, `ANALYZE bidx_scale`)
	t.Logf("built %d rows in %v", n, time.Since(start).Round(time.Second))

	type cell struct {
		name   string
		lookup func(v string) (values int)
	}
	byIndex := func(col *sqltypes.Column[string], column string) func(string) int {
		q := `SELECT email FROM bidx_scale WHERE tenant_id = $1 AND ` + column + ` = ANY($2)`
		return func(v string) int {
			cands, err := col.Match(ctx, tenant, v)
			if err != nil {
				t.Fatalf("Match(%q) = %v", v, err)
			}
			var got string
			if err := pg.pool.QueryRow(ctx, q, tenant, cands).Scan(col.Scan(ctx, tenant, &got)); err != nil || got != v {
				t.Fatalf("lookup %s = %q, %v; want %q", column, got, err, v)
			}
			return len(cands)
		}
	}
	cells := []cell{
		{"plaintext column", func(v string) int {
			var got string
			if err := pg.pool.QueryRow(ctx, `SELECT email_plain FROM bidx_scale WHERE email_plain = $1`, v).Scan(&got); err != nil || got != v {
				t.Fatalf("plaintext lookup = %q, %v", got, err)
			}
			return 1
		}},
		{"stable (index key)", byIndex(stable, "email_bidx")},
		{"legacy (data key)", byIndex(legacy, "email_bidx_legacy")},
	}
	const rounds, perCell = 30, 40
	rng := rand.New(rand.NewPCG(1, 2))
	measure := func(phase string) map[string]time.Duration {
		times := make([][]time.Duration, len(cells))
		values := make([]int, len(cells))
		for _, c := range cells { // warm the key cache and the plan cache
			c.lookup(email(rng.IntN(n)))
		}
		for r := range rounds {
			for k := range cells {
				ci := (k + r) % len(cells)
				for range perCell {
					v := email(rng.IntN(n))
					t0 := time.Now()
					values[ci] = cells[ci].lookup(v)
					times[ci] = append(times[ci], time.Since(t0))
				}
			}
		}
		med := map[string]time.Duration{}
		base := median(times[0])
		for ci, c := range cells {
			m := median(times[ci])
			med[c.name] = m
			t.Logf("%-7s %-18s values/lookup %d  median %7.1f µs  p90 %7.1f µs  ratio to plaintext %.2f",
				phase, c.name, values[ci], us(m), us(pct(times[ci], 90)), float64(m)/float64(base))
		}
		if values[1] != 1 {
			t.Errorf("%s: stable lookup sent %d index values, want 1", phase, values[1])
		}
		return med
	}
	t.Logf("GOMAXPROCS %d, %s", runtime.GOMAXPROCS(0), loadavg())
	before := measure("before")
	for range 3 {
		if _, err := pg.keys.Rotate(ctx, tenant); err != nil {
			t.Fatal(err)
		}
	}
	after := measure("after")
	for _, c := range cells[1:] {
		t.Logf("%-18s after/before %.2f", c.name, float64(after[c.name])/float64(before[c.name]))
	}
	t.Logf("%s", loadavg())
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	return "load average " + strings.Join(strings.Fields(string(b))[:3], " ")
}
