package testhelpers

import "testing"

// postgresContainer starts Postgres with testcontainers-go and returns its URL.
// TODO(testcontainers): implemented with the CI image recipe.
func postgresContainer(t testing.TB) string {
	t.Helper()
	unavailable(t, "%s is not set and the testcontainers path is not built yet", EnvDatabaseURL)
	return ""
}
