package codec

// Scope is where a value lives: the tenant that owns it and the table and
// column that hold it. Its canonical encoding (each part length-prefixed,
// docs/FORMAT.md) is part of every value's associated data, so a value
// opens only in the scope it was sealed for. The tenant is the row's,
// never one read out of a value.
type Scope struct {
	Tenant string
	Table  string
	Column string
}
