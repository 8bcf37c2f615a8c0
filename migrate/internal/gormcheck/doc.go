// Package gormcheck holds only tests: that the named indexes a migration
// writes are the bytes the GORM plugin computes and looks up, on every
// database. They live apart from package migrate's tests because GORM's
// SQLite driver registers the database/sql driver name "sqlite", which
// the migrate tests' own SQLite driver registers too.
package gormcheck
