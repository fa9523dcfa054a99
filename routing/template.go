package routing

import (
	"fmt"
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// Template scopes: ${{ALERT.field}} reads the alert's current fields,
// ${{INCIDENT.field}} reads the incident's. Routes take only those two;
// outgoing webhooks also read ${{STATE.x}}, ${{CHAT.x}} and ${{ONCALL.x}}
// (see ParseTemplate).
const (
	scopeLiteral uint8 = iota
	scopeAlert
	scopeIncident
	scopeState
	scopeChat
	scopeOnCall
	numScopes
)

// scopeSet is a set of scopes, one bit each.
type scopeSet uint8

// routeScopes are the scopes a route's templates may name.
const routeScopes = scopeSet(1<<scopeAlert | 1<<scopeIncident)

func (s scopeSet) has(scope uint8) bool { return s&(1<<scope) != 0 }

// scopeName is a scope as templates spell it.
func scopeName(scope uint8) string {
	switch scope {
	case scopeAlert:
		return "ALERT"
	case scopeIncident:
		return "INCIDENT"
	case scopeState:
		return "STATE"
	case scopeChat:
		return "CHAT"
	case scopeOnCall:
		return "ONCALL"
	}
	return ""
}

// scopeNamed is the scope spelled name, or 0.
func scopeNamed(name string) uint8 {
	for s := scopeAlert; s < numScopes; s++ {
		if scopeName(s) == name {
			return s
		}
	}
	return scopeLiteral
}

// names lists the set's scopes as "ALERT or INCIDENT", "ALERT, STATE or CHAT".
func (s scopeSet) names() string {
	var out []string
	for sc := scopeAlert; sc < numScopes; sc++ {
		if s.has(sc) {
			out = append(out, scopeName(sc))
		}
	}
	if len(out) < 2 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

const (
	openDelim  = "${{"
	closeDelim = "}}"
)

// segment is a piece of a template: literal text or a field reference.
type segment struct {
	scope uint8
	text  string // the literal, or the field name
}

// template is a parsed set value or message.
type template struct {
	segs []segment
}

// refName is the qualified name of a field reference, as reported for an
// unset field: "ALERT.team".
func (s segment) refName() string { return scopeName(s.scope) + "." + s.text }

// lexTemplate splits tmpl into segments, taking placeholders of route
// scopes. Strict lexing fails on the first syntax error; lenient lexing keeps
// a malformed placeholder as literal text.
func lexTemplate(tmpl string, strict bool) (template, error) {
	return lexScoped(tmpl, strict, routeScopes)
}

// lexScoped is lexTemplate taking placeholders of the scopes in allowed.
func lexScoped(tmpl string, strict bool, allowed scopeSet) (template, error) {
	var t template
	lit := 0 // start of pending literal text
	i := 0
	for {
		j := strings.Index(tmpl[i:], openDelim)
		if j < 0 {
			break
		}
		start := i + j
		body := start + len(openDelim)
		k := strings.Index(tmpl[body:], closeDelim)
		if k < 0 {
			if strict {
				return t, fmt.Errorf("unclosed %q at offset %d", openDelim, start)
			}
			break
		}
		end := body + k + len(closeDelim)
		scope, name, err := parseRef(strings.TrimSpace(tmpl[body:body+k]), allowed)
		if err != nil {
			if strict {
				return t, fmt.Errorf("placeholder at offset %d: %w", start, err)
			}
			i = body // keep "${{" as text and look for the next placeholder after it
			continue
		}
		if start > lit {
			t.segs = append(t.segs, segment{text: tmpl[lit:start]})
		}
		t.segs = append(t.segs, segment{scope: scope, text: name})
		lit, i = end, end
	}
	if lit < len(tmpl) {
		t.segs = append(t.segs, segment{text: tmpl[lit:]})
	}
	return t, nil
}

func parseRef(ref string, allowed scopeSet) (uint8, string, error) {
	prefix, name, ok := strings.Cut(ref, ".")
	if !ok {
		want := strings.ReplaceAll(allowed.names(), " or ", ".<field> or ")
		want = strings.ReplaceAll(want, ", ", ".<field>, ")
		return 0, "", fmt.Errorf("%q names no scope; want %s.<field>", ref, want)
	}
	scope := scopeNamed(prefix)
	if scope == scopeLiteral || !allowed.has(scope) {
		return 0, "", fmt.Errorf("unknown scope %q: want %s", prefix, allowed.names())
	}
	if name == "" {
		return 0, "", fmt.Errorf("empty field name after %s", prefix+".")
	}
	if strings.ContainsAny(name, "{}$ \t\r\n") {
		return 0, "", fmt.Errorf("field name %q has a brace, dollar sign or space", name)
	}
	return scope, name, nil
}

// CheckTemplate checks a template's syntax: every "${{" must be closed by
// "}}" and name ALERT.<field> or INCIDENT.<field> with a non-empty field name.
func CheckTemplate(tmpl string) error {
	_, err := lexTemplate(tmpl, true)
	return err
}

// Render substitutes the template's ${{ALERT.field}} and ${{INCIDENT.field}}
// placeholders; it is plain text substitution, with no escaping. It also
// returns the qualified names ("ALERT.team") of the fields the template names
// that are unset (absent or empty); those render as "". A malformed
// placeholder is kept as literal text. incident may be nil.
func Render(tmpl string, alert, incident map[string]string) (string, []string) {
	t, _ := lexTemplate(tmpl, false)
	return t.render(alert, incident, nil)
}

// render fills the template from alert and incident. With a non-nil view, the
// values come from the view instead (the redacted values Explain shows), but
// which fields are unset is still decided by the real ones.
func (t *template) render(alert, incident map[string]string, v *view) (string, []string) {
	if len(t.segs) == 1 && t.segs[0].scope == scopeLiteral {
		return t.segs[0].text, nil
	}
	var b strings.Builder
	var missing []string
	for _, s := range t.segs {
		if s.scope == scopeLiteral {
			b.WriteString(s.text)
			continue
		}
		src := alert
		if s.scope == scopeIncident {
			src = incident
		}
		val := src[s.text]
		if val == "" {
			missing = append(missing, s.refName())
			continue
		}
		if v != nil {
			if s.scope == scopeIncident {
				val = secret.RedactField(s.text, val)
			} else {
				val = v.value(s.text, val)
			}
		}
		b.WriteString(val)
	}
	return b.String(), missing
}

// complete reports whether every field the template names is set.
func (t *template) complete(alert, incident map[string]string) bool {
	for _, s := range t.segs {
		switch s.scope {
		case scopeAlert:
			if alert[s.text] == "" {
				return false
			}
		case scopeIncident:
			if incident[s.text] == "" {
				return false
			}
		}
	}
	return true
}
