package cipher

// This file is a second, test-only implementation of the v1 value format,
// written from docs/FORMAT.md with the standard library alone. It must not
// call codec's own helpers (appendHeader, AppendCanonical, deriveSubkey,
// ...): the point is that codec and this file agree only if both follow the
// spec. The AES-SIV half is the RFC 5297 reference in rfc5297_test.go.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// specUvarint is unsigned LEB128: seven bits per byte, least significant
// group first, the high bit set on every byte but the last.
func specUvarint(dst []byte, x uint64) []byte {
	for x >= 0x80 {
		dst = append(dst, byte(x)|0x80)
		x >>= 7
	}
	return append(dst, byte(x))
}

// specCanonical is the length-prefixed encoding of parts.
func specCanonical(parts ...string) []byte {
	var out []byte
	for _, p := range parts {
		out = specUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

func specHeader(alg byte, version uint32) []byte {
	return specUvarint([]byte{0xC0, alg}, uint64(version))
}

// specAAD is header ‖ canonical(tenant, table, column).
func specAAD(alg byte, version uint32, tenant, table, column string) []byte {
	return append(specHeader(alg, version), specCanonical(tenant, table, column)...)
}

// specInfo is the HKDF info of one subkey: the label, then canonical(table,
// column). The label is not length-prefixed; the labels are fixed and none
// is a prefix of another.
func specInfo(label, table, column string) []byte {
	return append([]byte(label), specCanonical(table, column)...)
}

// specSubkeys derives the three subkeys with HKDF-SHA256 and an empty salt.
type specSubkeys struct{ gcm, siv, bidx []byte }

func specDerive(dek []byte, table, column string) specSubkeys {
	derive := func(label string, n int) []byte {
		k, err := hkdf.Key(sha256.New, dek, nil, string(specInfo(label, table, column)), n)
		if err != nil {
			panic(err)
		}
		return k
	}
	return specSubkeys{
		gcm:  derive("colcrypt/v1/gcm", 32),
		siv:  derive("colcrypt/v1/siv", 64),
		bidx: derive("colcrypt/v1/bidx", 32),
	}
}

// specSealSIV builds a SIV value: header ‖ AES-SIV(siv subkey, AD = [aad],
// plaintext), AES-SIV being the RFC 5297 reference.
func specSealSIV(dek []byte, version uint32, tenant, table, column string, plaintext []byte) []byte {
	keys := specDerive(dek, table, column)
	ad := specAAD(2, version, tenant, table, column)
	return append(specHeader(2, version), refSIVSeal(keys.siv, plaintext, ad)...)
}

func specBlindIndex(dek []byte, table, column string, normalized []byte, length int) []byte {
	m := hmac.New(sha256.New, specDerive(dek, table, column).bidx)
	m.Write(normalized)
	return m.Sum(nil)[:length]
}

func specArmor(value []byte) string {
	return "$cc1$" + base64.RawStdEncoding.EncodeToString(value)
}

// specKMSContext is the associated data a DEK is wrapped under.
func specKMSContext(tenant string, version uint32) []byte {
	return specCanonical("colcrypt/dek/v1", tenant, strconv.FormatUint(uint64(version), 10))
}

// specRowPart is the row part a bound value appends to its associated
// data: canonical("colcrypt/v1/row", row).
func specRowPart(row string) []byte {
	return specCanonical("colcrypt/v1/row", row)
}

// specAADRow is specAAD for a value bound to row (nil: unbound).
func specAADRow(alg byte, version uint32, tenant, table, column string, row *string) []byte {
	aad := specAAD(alg, version, tenant, table, column)
	if row != nil {
		aad = append(aad, specRowPart(*row)...)
	}
	return aad
}

// specSealGCMRow builds a GCM value with a caller-chosen nonce: header ‖
// nonce ‖ AES-256-GCM(key, nonce, plaintext, aad = header ‖ canonical
// scope [‖ row part, for a value bound to row; nil: unbound]).
func specSealGCMRow(dek []byte, version uint32, tenant, table, column string, row *string, nonce, plaintext []byte) []byte {
	keys := specDerive(dek, table, column)
	block, err := aes.NewCipher(keys.gcm)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	out := append(specHeader(1, version), nonce...)
	return g.Seal(out, nonce, plaintext, specAADRow(1, version, tenant, table, column, row))
}

// specSealSIVRow is specSealSIV for a value bound to row (nil: unbound).
func specSealSIVRow(dek []byte, version uint32, tenant, table, column string, row *string, plaintext []byte) []byte {
	keys := specDerive(dek, table, column)
	ad := specAADRow(2, version, tenant, table, column, row)
	return append(specHeader(2, version), refSIVSeal(keys.siv, plaintext, ad)...)
}
