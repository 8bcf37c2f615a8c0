package migrate

// Option configures a Migrator (see New). The Migrator's settings are
// functional options, as in keystore.New and kms.Open: each is optional,
// set once for the Migrator's life, and checked by New.
type Option func(*Migrator)

// WithDialect names the database's SQL dialect ("postgres", "pgx",
// "postgresql", "sqlite", "sqlite3", "mysql", "mariadb") for a driver New
// cannot tell from its Go type (a wrapped or instrumented driver). New
// refuses an unknown name.
func WithDialect(name string) Option {
	return func(m *Migrator) { m.dialectName = name }
}

// WithCheckpointTable names the checkpoint table (default
// "colcrypt_migrations"); "schema.table" is allowed.
func WithCheckpointTable(name string) Option {
	return func(m *Migrator) { m.ckpt = name }
}
