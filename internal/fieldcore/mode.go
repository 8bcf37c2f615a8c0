package fieldcore

// Mode is how a column's values are encrypted.
type Mode uint8

const (
	// Randomized is AES-256-GCM with a random nonce: equal plaintexts give
	// unrelated values. The default.
	Randomized Mode = iota
	// Deterministic is AES-SIV: equal plaintexts in one tenant, column and
	// key version give equal values, so the column can be matched with SQL
	// equality. It leaks which rows are equal.
	Deterministic
)

func (m Mode) String() string {
	if m == Deterministic {
		return "deterministic"
	}
	return "randomized"
}
