package gormplugin

import (
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// ErrSharedPool is returned by db.Use(gormplugin.New(enc)) when enc's
// key store reads its key table through the *sql.DB under db (seen
// through GORM's wrappers, such as the prepared-statement pool); the
// error names the plugin.
//
// That set-up deadlocks under load: a GORM statement holds a connection
// (a transaction, or result rows still being read) while the plugin asks
// the key store for a key, and on a cache miss the key store needs a
// second connection from the same pool. With the pool's connection limit
// reached by such statements, each waits for the others until its
// deadline. Open a second *sql.DB with the same DSN for keystore.New, with
// a few connections of its own (on SQLite, the same file with WAL and a
// busy_timeout).
var ErrSharedPool = errors.New("gormplugin: key store shares GORM's connection pool")

// poolUser is what the plugin asks of a key store to refuse a shared
// pool; *keystore.Store implements it. A field.Keys that does not (a test
// double, a wrapper) is not checked.
type poolUser interface {
	UsesPool(db *sql.DB) bool
}

// checkPool returns ErrSharedPool, naming the plugin, if the key store behind p uses the
// *sql.DB under db. db.DB() sees through *sql.Tx and GORM's
// prepared-statement wrappers; a connection pool GORM cannot name (a
// custom gorm.ConnPool) cannot be compared and is let through.
func (p *plugin) checkPool(db *gorm.DB) error {
	keys, ok := p.enc.Keys().(poolUser)
	if !ok {
		return nil
	}
	sqlDB, err := db.DB()
	if err != nil || sqlDB == nil {
		return nil
	}
	if keys.UsesPool(sqlDB) {
		return fmt.Errorf("%w (plugin %s): this deadlocks when key-store misses wait for connections held by GORM statements; "+
			"open a second *sql.DB with the same DSN for keystore.New", ErrSharedPool, p.Name())
	}
	return nil
}
