package routing

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// matchOp is a matcher's operator.
type matchOp uint8

const (
	opEqual matchOp = iota
	opNotEqual
	opRegex
	opNotRegex
)

func (o matchOp) String() string {
	switch o {
	case opEqual:
		return "="
	case opNotEqual:
		return "!="
	case opRegex:
		return "=~"
	default:
		return "!~"
	}
}

// regexKind says how a regex matcher can be decided without the regexp engine.
type regexKind uint8

const (
	reGeneral regexKind = iota // run the regexp, after the literal prefix check
	reLiteral                  // the whole regex is the literal prefix
	rePrefix                   // prefix followed by .* (any run of non-newlines)
)

// matcher is one parsed Alertmanager-style matcher. A missing field is "".
type matcher struct {
	name   string
	op     matchOp
	value  string
	re     *regexp.Regexp
	prefix string // literal prefix every match of re starts with
	kind   regexKind
}

// parseMatcher parses `name="value"`, `name!="value"`, `name=~"re"` or
// `name!~"re"`. The value is a Go double-quoted string or an unquoted simple
// value; regexes are anchored at both ends, as in Alertmanager.
func parseMatcher(s string) (matcher, error) {
	var m matcher
	s = strings.TrimSpace(s)
	if s == "" {
		return m, errors.New("empty matcher; want name=\"value\"")
	}
	i := 0
	for i < len(s) && isNameByte(s[i], i == 0) {
		i++
	}
	if i == 0 {
		return m, fmt.Errorf("matcher %q must start with a field name ([a-zA-Z_][a-zA-Z0-9_.-]*)", s)
	}
	m.name = s[:i]
	rest := strings.TrimLeft(s[i:], " \t")
	switch {
	case strings.HasPrefix(rest, "=~"):
		m.op, rest = opRegex, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		m.op, rest = opNotRegex, rest[2:]
	case strings.HasPrefix(rest, "!="):
		m.op, rest = opNotEqual, rest[2:]
	case strings.HasPrefix(rest, "=="):
		return m, fmt.Errorf("matcher %q: use = not ==", s)
	case strings.HasPrefix(rest, "="):
		m.op, rest = opEqual, rest[1:]
	default:
		return m, fmt.Errorf("matcher %q: want an operator (=, !=, =~, !~) after %q", s, m.name)
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, `"`):
		v, err := strconv.Unquote(rest)
		if err != nil {
			return m, fmt.Errorf("matcher %q: value %s is not a valid double-quoted string", s, rest)
		}
		m.value = v
	case strings.ContainsAny(rest, "\"'`,{} \t\r\n"):
		return m, fmt.Errorf("matcher %q: quote a value that has quotes, commas, braces or spaces", s)
	default:
		m.value = rest
	}
	if m.op == opRegex || m.op == opNotRegex {
		if err := m.compileRegex(); err != nil {
			return m, fmt.Errorf("matcher %q: %w", s, err)
		}
	}
	return m, nil
}

func (m *matcher) compileRegex() error {
	re, err := regexp.Compile("^(?:" + m.value + ")$")
	if err != nil {
		return err
	}
	m.re = re
	prefix, complete := re.LiteralPrefix()
	m.prefix = prefix
	switch {
	case complete:
		m.kind = reLiteral
	case isPrefixStar(m.value, prefix):
		m.kind = rePrefix
	default:
		m.kind = reGeneral
	}
	return nil
}

// isPrefixStar reports whether re is exactly the literal prefix followed by .*
// (without the s flag), so a value matches iff it has the prefix and no
// newline after it.
func isPrefixStar(re, prefix string) bool {
	p, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return false
	}
	p = p.Simplify()
	if p.Op != syntax.OpConcat || len(p.Sub) != 2 {
		return false
	}
	lit, star := p.Sub[0], p.Sub[1]
	if lit.Op != syntax.OpLiteral || lit.Flags&syntax.FoldCase != 0 || string(lit.Rune) != prefix {
		return false
	}
	return star.Op == syntax.OpStar && len(star.Sub) == 1 && star.Sub[0].Op == syntax.OpAnyCharNotNL
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case first:
		return false
	default:
		return '0' <= c && c <= '9' || c == '.' || c == '-'
	}
}

// validName reports whether s is a field name: [a-zA-Z_][a-zA-Z0-9_.-]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return true
}

// matches reports whether the value v (the field's value, "" when missing) holds.
func (m *matcher) matches(v string) bool {
	switch m.op {
	case opEqual:
		return v == m.value
	case opNotEqual:
		return v != m.value
	case opRegex:
		return m.regexMatch(v)
	default:
		return !m.regexMatch(v)
	}
}

func (m *matcher) regexMatch(v string) bool {
	if !strings.HasPrefix(v, m.prefix) {
		return false
	}
	switch m.kind {
	case reLiteral:
		return len(v) == len(m.prefix)
	case rePrefix:
		return strings.IndexByte(v[len(m.prefix):], '\n') < 0
	default:
		return m.re.MatchString(v)
	}
}

// String gives the matcher in canonical form, with the value quoted.
func (m *matcher) String() string {
	return m.name + m.op.String() + strconv.Quote(m.value)
}

// shown is String with the value redacted when the field looks secret.
func (m *matcher) shown() string {
	return m.name + m.op.String() + strconv.Quote(secret.RedactField(m.name, m.value))
}
