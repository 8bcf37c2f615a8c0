package sqldialect

// LegacyIndexSuffix names the legacy index table of a key table:
// colcrypt_keys_legacy_indexes.
const LegacyIndexSuffix = "_legacy_indexes"

// LegacyIndexTable names the legacy index table of a key table.
func LegacyIndexTable(keyTable string) string { return keyTable + LegacyIndexSuffix }

// LegacyIndexDDL creates the legacy index table of keyTable, if it does
// not exist: one row per tenant whose data key versions up to
// through_version may carry blind indexes taken under the data key, as
// releases before index keys took them. The upgrade to schema version 4
// fills it (LegacyIndexQueries.Mark) from the key table as it stands, so a
// database created at version 4 or later starts with it empty.
func (d Dialect) LegacyIndexDDL(keyTable string) string {
	t := d.Quote(LegacyIndexTable(keyTable))
	switch d {
	case MySQL:
		return `CREATE TABLE IF NOT EXISTS ` + t + ` (
	tenant_id       VARBINARY(1024) NOT NULL PRIMARY KEY,
	through_version BIGINT          NOT NULL
) ENGINE=InnoDB`
	case SQLite:
		return `CREATE TABLE IF NOT EXISTS ` + t + ` (
	tenant_id       TEXT    NOT NULL PRIMARY KEY,
	through_version INTEGER NOT NULL
)`
	}
	return `CREATE TABLE IF NOT EXISTS ` + t + ` (
	tenant_id       text   NOT NULL PRIMARY KEY,
	through_version bigint NOT NULL
)`
}

// LegacyIndexQueries are the statements on the legacy index table. The
// comments list each statement's arguments (→ its result columns).
type LegacyIndexQueries struct {
	// Mark records every tenant of the key table with its newest version,
	// raising a recorded version, never lowering it.
	Mark     string
	Any      string // → 1 if the table has a row
	Through  string // tenant → through_version
	Count    string // → rows
	Clear    string // tenant
	ClearAll string
}

// LegacyIndexQueries returns the statements of the legacy index table of
// the key table keyTable.
func (d Dialect) LegacyIndexQueries(keyTable string) *LegacyIndexQueries {
	k, t := d.Quote(keyTable), d.Quote(LegacyIndexTable(keyTable))
	r := d.Rebind
	// WHERE true keeps SQLite from reading the upsert's ON as a join's.
	sel := ` (tenant_id, through_version) SELECT tenant_id, MAX(version) FROM ` + k + ` WHERE true GROUP BY tenant_id`
	mark := `INSERT INTO ` + t + ` AS li` + sel + ` ON CONFLICT (tenant_id) DO UPDATE SET through_version = GREATEST(li.through_version, EXCLUDED.through_version)`
	switch d {
	case MySQL:
		mark = `INSERT INTO ` + t + sel + ` ON DUPLICATE KEY UPDATE through_version = GREATEST(through_version, VALUES(through_version))`
	case SQLite:
		mark = `INSERT INTO ` + t + sel + ` ON CONFLICT (tenant_id) DO UPDATE SET through_version = MAX(through_version, excluded.through_version)`
	}
	return &LegacyIndexQueries{
		Mark:     mark,
		Any:      `SELECT 1 FROM ` + t + ` LIMIT 1`,
		Through:  r(`SELECT through_version FROM ` + t + ` WHERE tenant_id = ?`),
		Count:    `SELECT COUNT(*) FROM ` + t,
		Clear:    r(`DELETE FROM ` + t + ` WHERE tenant_id = ?`),
		ClearAll: `DELETE FROM ` + t,
	}
}
