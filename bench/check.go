package main

import (
	"bytes"
	"context"
	"fmt"
)

// checkContender seals plaintext for the first and last tenant with one
// phase of c and opens the results, proving the contender encrypts (the
// output neither is nor contains the plaintext) and that what it produces
// decrypts to the input.
func checkContender(ctx context.Context, c *contender, plaintext []byte, tenants int) error {
	ph, err := c.next(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	defer ph.done()
	for _, t := range []int{0, tenants - 1} {
		ct, err := ph.s.seal(ctx, t, plaintext)
		if err != nil {
			return fmt.Errorf("%s: seal: %w", c.name, err)
		}
		if len(ct) <= len(plaintext) || bytes.Contains(ct, plaintext) {
			return fmt.Errorf("%s: a %d-byte value sealed to %d bytes that hold the plaintext or no tag", c.name, len(plaintext), len(ct))
		}
		pt, err := c.open(ctx, t, ct)
		if err != nil {
			return fmt.Errorf("%s: open: %w", c.name, err)
		}
		if !bytes.Equal(pt, plaintext) {
			return fmt.Errorf("%s: open(seal(x)) != x", c.name)
		}
		if tenants > 1 {
			other := (t + 1) % tenants
			if _, err := c.open(ctx, other, ct); err == nil {
				return fmt.Errorf("%s: a value of tenant %d opened as tenant %d's", c.name, t, other)
			}
		}
	}
	return ctx.Err()
}
