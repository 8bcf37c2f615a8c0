package cipher

import (
	"encoding/binary"

	"github.com/colcrypt/colcrypt/codec"
)

// Sizes of the parts of a v1 value after its header (docs/FORMAT.md).
const (
	nonceSize = 12 // AES-GCM standard nonce
	tagSize   = 16 // AES-GCM tag
	sivSize   = 16 // the synthetic IV that leads an AES-SIV ciphertext
)

const (
	// DEKSize is the size in bytes of a tenant data key.
	DEKSize = 32
	// MaxPlaintextSize is the largest plaintext a Cipher seals: 64 bytes
	// below codec.MaxValueSize covers the largest overhead (35), so every
	// value sealed is one codec.Parse accepts.
	MaxPlaintextSize = codec.MaxValueSize - 64
)

// appendHeader appends the header of a value of alg under version: the
// magic byte, the algorithm and the minimal uvarint of the version, the
// bytes codec.Parse reads back.
func appendHeader(dst []byte, alg codec.Algorithm, version uint32) []byte {
	dst = append(dst, codec.Magic, byte(alg))
	return binary.AppendUvarint(dst, uint64(version))
}

// headerLen is the length of a v1 header for version.
func headerLen(version uint32) int {
	var b [2 + binary.MaxVarintLen32]byte
	return len(appendHeader(b[:0], 0, version))
}
