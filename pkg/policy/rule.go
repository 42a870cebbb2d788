package policy

import (
	"errors"
	"fmt"
	"strings"
)

// expr is a parsed oslo.policy rule.
type expr interface {
	eval(c *evalCtx) bool
	String() string
}

// evalCtx carries what a check may look at.
type evalCtx struct {
	rules  map[string]expr
	creds  Credentials
	target map[string]string
	depth  int // guards rule:X cycles introduced by override files
}

const maxDepth = 32

type (
	constExpr bool
	notExpr   struct{ x expr }
	andExpr   []expr
	orExpr    []expr
	// checkExpr is kind:match. kind "role" and "rule" are special; any other kind is oslo's GenericCheck:
	// the credential attribute named kind compared, as a string, with match after %(key)s substitution.
	checkExpr struct{ kind, match string }
)

func (b constExpr) eval(*evalCtx) bool { return bool(b) }
func (b constExpr) String() string {
	if b {
		return "@"
	}
	return "!"
}

func (n notExpr) eval(c *evalCtx) bool { return !n.x.eval(c) }
func (n notExpr) String() string       { return "not " + n.x.String() }

func (a andExpr) eval(c *evalCtx) bool {
	for _, x := range a {
		if !x.eval(c) {
			return false
		}
	}
	return true
}
func (a andExpr) String() string { return join(a, " and ") }

func (o orExpr) eval(c *evalCtx) bool {
	for _, x := range o {
		if x.eval(c) {
			return true
		}
	}
	return false
}
func (o orExpr) String() string { return join(o, " or ") }

func join(xs []expr, sep string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return "(" + strings.Join(parts, sep) + ")"
}

func (k checkExpr) String() string { return k.kind + ":" + k.match }

func (k checkExpr) eval(c *evalCtx) bool {
	if k.kind == "rule" {
		r, ok := c.rules[k.match]
		if !ok || c.depth >= maxDepth {
			return false // oslo: a reference to an undefined rule is false
		}
		c.depth++
		defer func() { c.depth-- }()
		return r.eval(c)
	}
	match, ok := substitute(k.match, c.target)
	if !ok {
		return false // oslo: a %(key)s missing from the target makes the check false
	}
	switch k.kind {
	case "role":
		for _, r := range c.creds.Roles {
			if strings.EqualFold(r, match) {
				return true
			}
		}
		return false
	case "roles":
		for _, r := range c.creds.Roles {
			if r == match {
				return true
			}
		}
		return false
	case "project_id", "tenant", "tenant_id":
		return match == c.creds.ProjectID
	case "user_id":
		return match == c.creds.UserID
	case "is_admin":
		return match == pyBool(c.creds.IsAdmin)
	}
	return false
}

// pyBool is Python's str(bool): oslo compares "True" with str(creds["is_admin"]).
func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// substitute expands Python %-style "%(key)s" references from target ("%%" is a literal %).
func substitute(s string, target map[string]string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '%':
			b.WriteByte('%')
			i++
		case '(':
			end := strings.Index(s[i:], ")s")
			if end < 0 {
				return "", false
			}
			v, ok := target[s[i+2:i+end]]
			if !ok {
				return "", false
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// ErrSyntax is wrapped by every rule parse error.
var ErrSyntax = errors.New("policy rule syntax error")

// parse reads oslo.policy's rule language: checks (kind:match, "@", "!"), "and", "or", "not" (case-insensitive)
// and parentheses; the empty rule always passes. Precedence as in oslo: not > and > or.
func parse(rule string) (expr, error) {
	toks := tokenize(rule)
	if len(toks) == 0 {
		return constExpr(true), nil
	}
	p := &parser{toks: toks}
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q in %q", ErrSyntax, p.toks[p.pos], rule)
	}
	return x, nil
}

// tokenize splits on whitespace and peels leading "(" and trailing ")" off each word, as oslo does.
func tokenize(rule string) []string {
	var out []string
	for _, w := range strings.Fields(rule) {
		for strings.HasPrefix(w, "(") {
			out = append(out, "(")
			w = w[1:]
		}
		trail := 0
		for strings.HasSuffix(w, ")") {
			trail++
			w = w[:len(w)-1]
		}
		if w != "" {
			out = append(out, w)
		}
		for ; trail > 0; trail-- {
			out = append(out, ")")
		}
	}
	return out
}

type parser struct {
	toks []string
	pos  int
}

func (p *parser) peekKeyword(kw string) bool {
	return p.pos < len(p.toks) && strings.EqualFold(p.toks[p.pos], kw)
}

func (p *parser) or() (expr, error) {
	return p.chain("or", p.and, func(xs []expr) expr { return orExpr(xs) })
}

func (p *parser) and() (expr, error) {
	return p.chain("and", p.not, func(xs []expr) expr { return andExpr(xs) })
}

// chain parses operand (keyword operand)* and combines two or more operands with build.
func (p *parser) chain(keyword string, operand func() (expr, error), build func([]expr) expr) (expr, error) {
	x, err := operand()
	if err != nil {
		return nil, err
	}
	xs := []expr{x}
	for p.peekKeyword(keyword) {
		p.pos++
		y, err := operand()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return build(xs), nil
}

func (p *parser) not() (expr, error) {
	if p.peekKeyword("not") {
		p.pos++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	}
	return p.atom()
}

func (p *parser) atom() (expr, error) {
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("%w: rule ends too early", ErrSyntax)
	}
	t := p.toks[p.pos]
	p.pos++
	switch {
	case t == "(":
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos] != ")" {
			return nil, fmt.Errorf("%w: missing )", ErrSyntax)
		}
		p.pos++
		return x, nil
	case t == ")" || strings.EqualFold(t, "and") || strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, t)
	case t == "@":
		return constExpr(true), nil
	case t == "!":
		return constExpr(false), nil
	}
	kind, match, ok := strings.Cut(t, ":")
	if !ok || kind == "" {
		return nil, fmt.Errorf("%w: %q is not a check (kind:match, @ or !)", ErrSyntax, t)
	}
	switch kind {
	case "http", "https":
		return nil, fmt.Errorf("%w: %s checks are not supported", ErrSyntax, kind)
	}
	return checkExpr{kind: kind, match: match}, nil
}
