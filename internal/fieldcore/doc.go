// Package fieldcore is the engine behind field.Encryptor and the plumbing
// the integrations (sqltypes, gormplugin, migrate) share, kept out of
// field's public API: the column handle ([Handle]) through which they
// seal and open many values of one column, tenant resolution, the
// colcrypt struct tag ([ParseTag]), row keys ([RowKey]), the plaintext
// encoding ([EncodePlaintext]), the reading of stored values
// ([ParseStored]) and the seal and open counts (metrics.go).
//
// field.Encryptor is a defined type over [Engine], so an integration that
// is handed an Encryptor converts it, (*fieldcore.Engine)(enc), at no
// cost; field's own methods are thin wrappers over the Engine's.
package fieldcore
