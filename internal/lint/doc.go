// Package lint holds tests that check the source tree like a linter:
// rules about which package may use what, which the compiler cannot
// enforce and a review would miss. It has no code of its own.
//
// TestIntegrationsUseHandles: gormplugin, sqltypes and migrate seal and
// open only through field.Handle and field.Encryptor. None of them
// imports internal/cipher (the Cipher and Nonces types, NewCipher), or
// calls the methods that hand a cipher out or use one
// (Encryptor.ActiveCipher, Encryptor.VersionCipher, Cipher.SealNonces,
// ...), so a rule about keys — zeroing, destruction, a new
// key version, row binding — is taught to field alone.
package lint
