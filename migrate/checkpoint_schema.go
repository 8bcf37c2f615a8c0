package migrate

import (
	"context"
	"fmt"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// upgradeCheckpointTable adds the columns an older checkpoint table lacks.
// Adding a column with a constant default is an online, metadata-only
// change on Postgres (11+), MariaDB (10.3+, instant ADD COLUMN) and SQLite.
// Two processes upgrading at once may both try: a failed ALTER is checked
// by probing the column again.
func (m *Migrator) upgradeCheckpointTable(ctx context.Context) error {
	tbl := quoteTable(m.d, m.ckpt)
	for _, c := range sqldialect.LaterCheckpointColumns {
		if m.d.sql().HasColumn(ctx, m.db, m.ckpt, c.Name) {
			continue
		}
		_, err := m.db.ExecContext(ctx, "ALTER TABLE "+tbl+" ADD COLUMN "+m.d.quote(c.Name)+" "+c.Def(m.d.sql()))
		if err != nil && !m.d.sql().HasColumn(ctx, m.db, m.ckpt, c.Name) {
			return fmt.Errorf("migrate: add column %s to checkpoint table %s: %w", c.Name, m.ckpt, err)
		}
	}
	return nil
}
