package gormplugin

import "strings"

// condLeaf is one operand of the AND, OR and NOT of a condition's text:
// the tokens [from, to), and whether a NOT stands above it.
type condLeaf struct {
	from, to int
	negated  bool
}

// maxCondDepth bounds the nesting of parentheses condLeaves follows; a
// deeper text is not rewritten (and refused if it names an encrypted
// column).
const maxCondDepth = 64

// condLeaves splits the tokens of a condition's text into the operands of
// its AND, OR and NOT. These three bind more loosely than any comparison
// in Postgres, MySQL/MariaDB and SQLite, so each operand is a whole
// comparison whatever its operators: a rewrite may replace one operand
// without changing what the rest of the text means.
//
// ok is false when the text cannot be read so with certainty: an empty
// operand, unbalanced parentheses, a parenthesised group followed by
// anything but AND, OR or a closing parenthesis (a row value or an
// expression), or BETWEEN or CASE anywhere, whose AND does not join
// conditions.
func condLeaves(toks []sqlToken) (leaves []condLeaf, ok bool) {
	for _, t := range toks {
		if keyword(t, "between") || keyword(t, "case") {
			return nil, false
		}
	}
	p := condParser{toks: toks}
	if !p.or(false, 0) || p.i != len(toks) {
		return nil, false
	}
	return p.leaves, true
}

type condParser struct {
	toks   []sqlToken
	i      int
	leaves []condLeaf
}

func (p *condParser) or(negated bool, depth int) bool {
	for {
		if !p.and(negated, depth) {
			return false
		}
		if p.i < len(p.toks) && keyword(p.toks[p.i], "or") {
			p.i++
			continue
		}
		return true
	}
}

func (p *condParser) and(negated bool, depth int) bool {
	for {
		if !p.operand(negated, depth) {
			return false
		}
		if p.i < len(p.toks) && keyword(p.toks[p.i], "and") {
			p.i++
			continue
		}
		return true
	}
}

func (p *condParser) operand(negated bool, depth int) bool {
	if p.i >= len(p.toks) || depth > maxCondDepth {
		return false
	}
	switch t := p.toks[p.i]; {
	case keyword(t, "not"):
		p.i++
		return p.operand(!negated, depth+1)
	case op(t, "("):
		p.i++
		if !p.or(negated, depth+1) || p.i >= len(p.toks) || !op(p.toks[p.i], ")") {
			return false
		}
		p.i++
		return p.i == len(p.toks) || p.endsOperand(p.toks[p.i])
	}
	from, nest := p.i, 0
	for ; p.i < len(p.toks); p.i++ {
		t := p.toks[p.i]
		if nest == 0 && p.endsOperand(t) {
			break
		}
		switch {
		case op(t, "("):
			nest++
		case op(t, ")"):
			nest--
		}
	}
	if nest != 0 || p.i == from {
		return false
	}
	p.leaves = append(p.leaves, condLeaf{from: from, to: p.i, negated: negated})
	return true
}

func (p *condParser) endsOperand(t sqlToken) bool {
	return keyword(t, "and") || keyword(t, "or") || op(t, ")")
}

// keyword reports whether t is the unquoted word w, in any case.
func keyword(t sqlToken, w string) bool {
	return t.kind == tokIdent && !t.quoted && strings.EqualFold(t.text, w)
}

func op(t sqlToken, s string) bool { return t.kind == tokOp && t.text == s }
