package awskms

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The forms of a KMS key identifier that Encrypt and Decrypt accept
// (https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#KMS-Encrypt-request-KeyId).
// They are checked here so that a typo fails at Open with the forms
// spelled out, not at the first Wrap with NotFoundException.
var (
	bareKeyIDRE = regexp.MustCompile(`^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$`)
	aliasRE     = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	// arn:PARTITION:kms:REGION:ACCOUNT:key/ID or …:alias/NAME
	arnRE    = regexp.MustCompile(`^arn:(aws[a-z-]*):kms:([a-z0-9-]+):([0-9]{12}):(key/[^/:]+|alias/[^:]+)$`)
	regionRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
)

const keyForms = "want a key id, alias/NAME, arn:aws:kms:REGION:ACCOUNT:key/ID or arn:aws:kms:REGION:ACCOUNT:alias/NAME"

// keyID is a parsed KMS key identifier.
type keyID struct {
	id     string // as given; what is sent as KeyId
	region string // the ARN's region; "" for an alias or a key id
	keyARN string // id, when it is a key ARN
	bareID string // id, when it is a key id
}

// isARN reports whether the key names its own region and account.
func (k keyID) isARN() bool { return k.region != "" }

func parseKeyID(s string) (keyID, error) {
	switch {
	case bareKeyIDRE.MatchString(s):
		return keyID{id: s, bareID: s}, nil
	case aliasRE.MatchString(s):
		return keyID{id: s}, nil
	}
	notKey := fmt.Errorf("awskms: %s is not a KMS key identifier: %s", quote(s), keyForms)
	if len(s) > 2048 {
		return keyID{}, notKey
	}
	m := arnRE.FindStringSubmatch(s)
	if m == nil {
		return keyID{}, notKey
	}
	k := keyID{id: s, region: m[2]}
	res := m[4]
	if id, ok := strings.CutPrefix(res, "key/"); ok && bareKeyIDRE.MatchString(id) {
		k.keyARN = s
	} else if !aliasRE.MatchString(res) {
		return keyID{}, notKey
	}
	return k, nil
}

// quote quotes s for an error message, cut short: it is user input.
func quote(s string) string {
	if len(s) > 100 {
		return strconv.Quote(s[:100]) + "…"
	}
	return strconv.Quote(s)
}
