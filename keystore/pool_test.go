package keystore

import "testing"

// TestUsesPool: a Store answers true for the very *sql.DB it was opened
// on, and false for another pool on the same database and for nil, so
// an integration refuses exactly the pool it would share.
func TestUsesPool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK))
		if !s.UsesPool(tdb.db) {
			t.Errorf("UsesPool(its own *sql.DB) = false, want true")
		}
		if s.UsesPool(tdb.open(t)) {
			t.Errorf("UsesPool(another *sql.DB on the same database) = true, want false")
		}
		if s.UsesPool(nil) {
			t.Errorf("UsesPool(nil) = true, want false")
		}
	})
}
