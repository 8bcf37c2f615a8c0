// Package lint holds tests that check the source tree like a linter:
// rules about which package may use what, which the compiler cannot
// enforce and a review would miss. It has no code of its own.
//
// TestIntegrationsUseHandles: gormplugin, sqltypes and migrate seal and
// open only through the column handle (fieldcore.Handle) and the engine
// behind field.Encryptor. None of them names codec's Cipher or Nonces
// types, builds one, or calls the methods that hand them out
// (ActiveCipher, VersionCipher, Cipher.SealNonces), so a rule about keys
// — zeroing, destruction, a new key version, row binding — is taught to
// internal/fieldcore alone.
package lint
