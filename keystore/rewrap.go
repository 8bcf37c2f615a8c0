package keystore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/kms"
)

// RewrapResult counts what Rewrap did.
type RewrapResult struct {
	// Scanned counts the live (active or retired) rows read.
	Scanned int
	// Rewrapped counts rows now wrapped under the new master key.
	Rewrapped int
	// Skipped counts rows left alone: already under the new master key
	// (without Force), or under another key than From names.
	Skipped int
	// Conflicts counts rows that changed while being rewrapped (shredded,
	// or rewrapped by a concurrent run) and were left as they now are.
	Conflicts int
}

// RewrapOptions narrow and tune Rewrap. The zero value rewraps every
// live row not already under the target master key, 100 rows a query.
type RewrapOptions struct {
	// Tenants limits Rewrap to these tenants.
	Tenants []string
	// From limits Rewrap to rows wrapped under this master key, compared
	// by canonical name (kms.Name).
	From string
	// Force rewraps rows already wrapped under the target master key too:
	// after a KMS-side key version rotation (Cloud KMS's primary version
	// changes, its URI does not), this moves every row to the new key
	// version.
	Force bool
	// BatchSize is how many rows are read per query (default 100).
	BatchSize int
	// Progress is called with the running totals after each batch.
	Progress func(RewrapResult)
}

type rewrapConfig struct {
	tenants  []string
	from     string
	force    bool
	batch    int
	progress func(RewrapResult)
}

// Rewrap moves data keys to the master key to: for each live row, it
// unwraps the key with the configured keeper the row's kek_uri names (the
// Store's own, one given to WithMasterKeys, or to itself), or failing that
// from the key's other keyring copies (a row with no copy under a
// configured key stops Rewrap with ErrUnknownMasterKey), wraps it under
// to, checks that to unwraps the new blob to the same key, and updates the
// row's wrapped_dek and kek_uri with a compare-and-set on the old
// wrapped_dek. Rewrap moves the key row's copy only: copies of the
// keyring's further master keys (WithKeyring) stay, except one under to,
// which the row's new copy replaces. To add or drop a keyring key, use
// AddMasterKey and RemoveMasterKey. The data keys themselves do not change, so no data row is
// read or written and cached keys stay valid. Destroyed rows are never
// touched.
//
// Rewrap is resumable: rows already under to are skipped, so running it
// again after a failure finishes the job. On error it stops and returns
// the totals so far.
//
// Rewrap does not change the master key this Store wraps new keys with.
// Master key rotation is therefore: deploy every process with a Store
// built on the new keeper, with the old one given to WithMasterKeys so
// that rows still under it open; run Rewrap once no process wraps with
// the old key; then drop the old keeper from the configuration and
// disable the old key in the KMS.
func (s *Store) Rewrap(ctx context.Context, to *kms.Keeper, opts RewrapOptions) (RewrapResult, error) {
	var res RewrapResult
	if err := s.errIfClosed(); err != nil {
		return res, err
	}
	if to == nil {
		return res, fmt.Errorf("keystore: rewrap: nil kms.Keeper")
	}
	cfg := rewrapConfig{tenants: opts.Tenants, from: opts.From, force: opts.Force, batch: opts.BatchSize, progress: opts.Progress}
	if cfg.batch == 0 {
		cfg.batch = 100
	}
	if cfg.batch < 1 {
		return res, fmt.Errorf("keystore: rewrap: batch size must be positive, got %d", cfg.batch)
	}
	for _, t := range cfg.tenants {
		if err := validTenant(t); err != nil {
			return res, err
		}
	}
	r := rewrapper{s: s, to: to, cfg: cfg, res: &res}
	var err error
	if len(cfg.tenants) > 0 {
		for _, t := range cfg.tenants {
			if err = r.run(ctx, t); err != nil {
				break
			}
		}
	} else {
		err = r.run(ctx, "")
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: rewrap",
		slog.String("to", to.URI()), slog.Int("scanned", res.Scanned), slog.Int("rewrapped", res.Rewrapped),
		slog.Int("skipped", res.Skipped), slog.Int("conflicts", res.Conflicts), slog.Bool("complete", err == nil))
	return res, err
}

type rewrapper struct {
	s   *Store
	to  *kms.Keeper
	cfg rewrapConfig
	res *RewrapResult
}

type rewrapRow struct {
	tenant  string
	version uint32
	kekURI  string
	wrapped []byte
}

// run pages through the live rows of one tenant, or of all when tenant
// is "", in (tenant, version) order.
func (r *rewrapper) run(ctx context.Context, tenant string) error {
	afterTenant, afterVersion := "", int64(0)
	for {
		page, err := r.page(ctx, tenant, afterTenant, afterVersion)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, row := range page {
			if err := r.one(ctx, row); err != nil {
				return err
			}
		}
		last := page[len(page)-1]
		afterTenant, afterVersion = last.tenant, int64(last.version)
		if r.cfg.progress != nil {
			r.cfg.progress(*r.res)
		}
		if len(page) < r.cfg.batch {
			return nil
		}
	}
}

// page reads one batch, closing the result set before any row is updated
// (a single-connection SQLite pool could not do both at once).
func (r *rewrapper) page(ctx context.Context, tenant, afterTenant string, afterVersion int64) (_ []rewrapRow, err error) {
	ctx, span := r.s.querySpan(ctx, "rewrap_page", tenant)
	defer func() { endSpan(span, err) }()
	q := r.s.q
	var (
		query string
		args  []any
	)
	if tenant != "" {
		query, args = q.RewrapTenant, []any{tenant, afterVersion, r.cfg.batch}
	} else {
		query, args = q.RewrapPage, []any{afterTenant, afterTenant, afterVersion, r.cfg.batch}
	}
	rows, err := r.s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("keystore: rewrap: read keys: %w", err)
	}
	defer rows.Close()
	var page []rewrapRow
	for rows.Next() {
		var (
			row rewrapRow
			v   int64
		)
		if err := rows.Scan(&row.tenant, &v, &row.kekURI, &row.wrapped); err != nil {
			return nil, fmt.Errorf("keystore: rewrap: read keys: %w", err)
		}
		if row.version, err = checkVersion(row.tenant, v); err != nil {
			return nil, err
		}
		if len(row.wrapped) == 0 {
			return nil, corruptRow(row.tenant, v, "live key without wrapped_dek")
		}
		page = append(page, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keystore: rewrap: read keys: %w", err)
	}
	return page, nil
}

// one rewraps a row. Names are compared canonically (kms.Name): a row
// stored with connection settings in its kek_uri is under the same key as
// one without. The row is unwrapped with to or a configured keeper, never
// with anything the row's kek_uri would open.
func (r *rewrapper) one(ctx context.Context, row rewrapRow) error {
	s := r.s
	r.res.Scanned++
	name := canonicalName(row.kekURI)
	underTo := name == canonicalName(r.to.URI())
	if (r.cfg.from != "" && name != canonicalName(r.cfg.from)) || (!r.cfg.force && underTo) {
		r.res.Skipped++
		return nil
	}
	var (
		dek []byte
		err error
	)
	if underTo {
		dek, err = s.kmsCall(ctx, eventUnwrap, r.to, row.tenant, row.version, row.wrapped)
	} else {
		dek, err = r.unwrap(ctx, row)
	}
	if err != nil {
		return err
	}
	defer clear(dek)
	if len(dek) != cipher.DEKSize {
		return corruptRow(row.tenant, int64(row.version), "unwrapped key has the wrong length")
	}
	wrapped, err := s.kmsCall(ctx, eventWrap, r.to, row.tenant, row.version, dek)
	if err != nil {
		return err
	}
	// The new blob replaces the only stored copy of the key: prove it
	// unwraps to the same key before the old one is overwritten.
	check, err := s.kmsCall(ctx, eventUnwrap, r.to, row.tenant, row.version, wrapped)
	if err != nil {
		return err
	}
	same := constantTimeEqual(check, dek)
	clear(check)
	if !same {
		return fmt.Errorf("keystore: rewrap tenant %q version %d: %s returned a different key on unwrap; row left unchanged",
			row.tenant, row.version, r.to.URI())
	}
	n, err := r.swap(ctx, row, wrapped)
	if err != nil {
		return fmt.Errorf("keystore: rewrap tenant %q version %d: %w", row.tenant, row.version, err)
	}
	if n == 1 {
		r.res.Rewrapped++
	} else {
		r.res.Conflicts++
	}
	return nil
}

// unwrap opens a row's key from its copies, the row's own first, failing
// over like a cold load (see WithKeyring): a keyring's other copies let
// a row whose own master key is down, or no longer configured, be
// rewrapped.
func (r *rewrapper) unwrap(ctx context.Context, row rewrapRow) ([]byte, error) {
	s := r.s
	copies := []wrapCopy{{row.kekURI, row.wrapped}}
	full, found, err := s.readCopies(ctx, s.db, row.tenant, row.version)
	if err != nil {
		return nil, err
	}
	if found && full.state != stateDestroyed && full.kekURI == row.kekURI && constantTimeEqual(full.wrapped, row.wrapped) {
		copies = full.copies
	}
	dek, _, err := s.unwrapCopies(ctx, row.tenant, row.version, copies)
	return dek, err
}

// swap replaces the row's wrapped key if it still holds the one read
// and, when it did, appends the rewrap's audit event in the same
// transaction. It returns how many rows it changed (0 or 1).
func (r *rewrapper) swap(ctx context.Context, row rewrapRow, wrapped []byte) (n int64, err error) {
	s := r.s
	chain, err := s.auditRef(ctx) // cached after the first row
	if err != nil {
		return 0, err
	}
	ctx, span := s.querySpan(ctx, "rewrap", row.tenant)
	defer func() { endSpan(span, err) }()
	var tx *sql.Tx
	if tx, err = s.db.BeginTx(ctx, nil); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	res, err := s.execSpan(ctx, tx, "rewrap_swap", row.tenant, s.q.RewrapCAS, r.to.URI(), wrapped, s.dialect.TimeArg(s.clock.wall()),
		row.tenant, int64(row.version), row.wrapped)
	if err != nil {
		return 0, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, err
	}
	if n == 1 {
		// A copy under to in the copies table is the row's own now.
		if _, err = s.execSpan(ctx, tx, "rewrap_drop_copy", row.tenant, s.rq.DeleteWrap, row.tenant, int64(row.version), r.to.URI()); err != nil {
			return 0, err
		}
		if err = s.appendEvent(ctx, tx, chain, opRewrap, row.tenant, row.version, r.to.URI()); err != nil {
			return 0, err
		}
	}
	return n, s.commitSpan(ctx, tx, row.tenant)
}
