package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxSuggestDistance is how far (in edits) a typo may be from a name and
// still be suggested: "encrpyt" and "--tabel" are two, "--colum" one.
const maxSuggestDistance = 2

// unknownSubcommand is the error text for "colcrypt migrate encrpyt":
// cobra suggests names only for the root's subcommands, so the groups
// below it do the same here.
func unknownSubcommand(group *cobra.Command, name string) string {
	var names []string
	for _, s := range group.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
			names = append(names, s.Aliases...)
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", name, group.CommandPath())
	if s := suggest(name, names); len(s) > 0 {
		return msg + "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return msg + "; commands: " + strings.Join(names, ", ")
}

// withFlagSuggestion adds "did you mean --table?" to pflag's "unknown
// flag: --tabel". Only the command's own and inherited flags are offered:
// a flag of another command would be refused there too.
func withFlagSuggestion(cmd *cobra.Command, err error) string {
	msg := err.Error()
	const prefix = "unknown flag: --"
	if !strings.HasPrefix(msg, prefix) {
		return msg
	}
	name := strings.TrimPrefix(msg, prefix)
	var names []string
	add := func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	s := suggest(name, names)
	if len(s) == 0 {
		return msg
	}
	for i := range s {
		s[i] = "--" + s[i]
	}
	return msg + "; did you mean " + strings.Join(s, " or ") + "?"
}

// suggest returns the names closest to typed, at most maxSuggestDistance
// edits away or starting with it, best first.
func suggest(typed string, names []string) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	lt := strings.ToLower(typed)
	for _, n := range names {
		if seen[n] || n == typed {
			continue
		}
		seen[n] = true
		d := editDistance(lt, strings.ToLower(n))
		if d <= maxSuggestDistance || (len(typed) >= 3 && strings.HasPrefix(n, typed)) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.name)
		if len(out) == 2 {
			break
		}
	}
	return out
}

// editDistance is the Damerau (optimal string alignment) distance: a
// swapped pair of letters, the commonest typo, counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
