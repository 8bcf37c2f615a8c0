package keystore

import "database/sql"

// UsesPool reports whether the Store reads and writes its key table
// through db.
//
// It exists so that an integration can refuse a set-up that deadlocks: a
// GORM statement holds a connection of its pool (a transaction, open
// result rows) while it asks the Store for a key, and on a cache miss the
// Store needs a connection too. When both come from one pool with a
// connection limit, as many concurrent misses as the limit wait for each
// other until their deadlines. gormplugin calls UsesPool with GORM's
// *sql.DB and refuses to install itself when it answers true.
//
// It compares handles only: the Store's *sql.DB itself is not handed
// out, so no caller can run statements on it behind the Store's back.
func (s *Store) UsesPool(db *sql.DB) bool {
	return db != nil && s.db == db
}
