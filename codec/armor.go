package codec

import (
	"bytes"
	"encoding/base64"
)

// ArmorPrefix starts every text-armored value. Text armor lets a value live
// in an existing text/varchar column (an in-place migration without a
// schema change); the bytes after the prefix are the binary value in
// unpadded standard base64.
const ArmorPrefix = "$cc1$"

var armorEncoding = base64.RawStdEncoding.Strict()

// maxArmoredSize bounds Dearmor's input before any decoding work.
var maxArmoredSize = len(ArmorPrefix) + armorEncoding.EncodedLen(MaxValueSize)

// Armor appends the text armor of a binary value to dst.
func Armor(dst, value []byte) []byte {
	dst = append(dst, ArmorPrefix...)
	return armorEncoding.AppendEncode(dst, value)
}

// IsArmored reports whether s starts with the armor prefix. Like IsValue it
// is a cheap check, not a proof that s decodes.
func IsArmored(s []byte) bool { return bytes.HasPrefix(s, []byte(ArmorPrefix)) }

// Dearmor decodes a text-armored value. It is strict: the prefix, the
// base64 alphabet, no padding, no white space, canonical trailing bits,
// a bounded size, and a result that starts with the magic byte.
func Dearmor(s []byte) ([]byte, error) {
	// encoding/base64 skips CR and LF even in Strict mode; reject them so
	// one value has exactly one armored form.
	if !IsArmored(s) || len(s) > maxArmoredSize || bytes.ContainsAny(s, "\r\n") {
		return nil, ErrMalformed
	}
	out, err := armorEncoding.AppendDecode(nil, s[len(ArmorPrefix):])
	if err != nil || !IsValue(out) {
		return nil, ErrMalformed
	}
	return out, nil
}
