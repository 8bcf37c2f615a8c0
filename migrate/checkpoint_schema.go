package migrate

import (
	"context"
	"fmt"
	"strings"
)

// checkpointColumn is a column the checkpoint table gained after its first
// release. CreateCheckpointTable adds the missing ones to a table an older
// version created, so a job recorded before an upgrade keeps running.
type checkpointColumn struct {
	name string
	// def is the column definition per dialect name.
	def map[string]string
}

// laterCheckpointColumns are added, in this order, when missing.
var laterCheckpointColumns = []checkpointColumn{
	// owner is "host:pid" of the process that last started or
	// heartbeated the job (header row).
	{"owner", map[string]string{"postgres": "text NOT NULL DEFAULT ''", "mysql": "VARCHAR(255) NOT NULL DEFAULT ''", "sqlite": "TEXT NOT NULL DEFAULT ''"}},
	// heartbeat_at is when a running process last said it was alive.
	{"heartbeat_at", map[string]string{"postgres": "timestamptz", "mysql": "DATETIME(6) NULL", "sqlite": "TEXT"}},
	// error is the error that stopped the last run (state failed).
	{"error", map[string]string{"postgres": "text NOT NULL DEFAULT ''", "mysql": "MEDIUMTEXT NOT NULL DEFAULT ('')", "sqlite": "TEXT NOT NULL DEFAULT ''"}},
	// table_ident identifies the table the job was planned on, so a
	// dropped and recreated table is a new job (see tableIdent).
	{"table_ident", map[string]string{"postgres": "text NOT NULL DEFAULT ''", "mysql": "VARCHAR(255) NOT NULL DEFAULT ''", "sqlite": "TEXT NOT NULL DEFAULT ''"}},
	// rereads counts rows read again after a lost compare-and-set.
	{"rereads", map[string]string{"postgres": "bigint NOT NULL DEFAULT 0", "mysql": "BIGINT NOT NULL DEFAULT 0", "sqlite": "INTEGER NOT NULL DEFAULT 0"}},
}

// upgradeCheckpointTable adds the columns an older checkpoint table lacks.
// Adding a column with a constant default is an online, metadata-only
// change on Postgres (11+), MariaDB (10.3+, instant ADD COLUMN) and SQLite.
// Two processes upgrading at once may both try: a failed ALTER is checked
// by probing the column again.
func (m *Migrator) upgradeCheckpointTable(ctx context.Context) error {
	tbl := quoteTable(m.d, m.ckpt)
	for _, c := range laterCheckpointColumns {
		if m.hasCheckpointColumn(ctx, c.name) {
			continue
		}
		_, err := m.db.ExecContext(ctx, "ALTER TABLE "+tbl+" ADD COLUMN "+m.d.quote(c.name)+" "+c.def[m.d.Name()])
		if err != nil && !m.hasCheckpointColumn(ctx, c.name) {
			return fmt.Errorf("migrate: add column %s to checkpoint table %s: %w", c.name, m.ckpt, err)
		}
	}
	return nil
}

// hasCheckpointColumn probes one column. It selects the column by name,
// not "*": a driver's cached statement for "SELECT *" would not survive
// the table gaining a column (pgx: "cached plan must not change result
// type").
//
// SQLite reads an unknown double-quoted identifier as a string literal,
// so there the probe asks pragma_table_info.
func (m *Migrator) hasCheckpointColumn(ctx context.Context, name string) bool {
	if m.d.Name() == "sqlite" {
		info, args := "pragma_table_info(?)", []any{m.ckpt, name}
		if schema, table, ok := strings.Cut(m.ckpt, "."); ok {
			info, args = "pragma_table_info(?, ?)", []any{table, schema, name}
		}
		var n int
		return m.db.QueryRowContext(ctx, "SELECT count(*) FROM "+info+" WHERE name = ?", args...).Scan(&n) == nil && n > 0
	}
	rows, err := m.db.QueryContext(ctx, "SELECT "+m.d.quote(name)+" FROM "+quoteTable(m.d, m.ckpt)+" WHERE 1 = 0")
	if err != nil {
		return false
	}
	rows.Close()
	return true
}
