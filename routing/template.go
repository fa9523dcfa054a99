package routing

import (
	"fmt"
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// Template scopes: ${{ALERT.field}} reads the alert's current fields,
// ${{INCIDENT.field}} reads the incident's.
const (
	scopeLiteral uint8 = iota
	scopeAlert
	scopeIncident
)

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
func (s segment) refName() string {
	if s.scope == scopeIncident {
		return "INCIDENT." + s.text
	}
	return "ALERT." + s.text
}

// lexTemplate splits tmpl into segments. Strict lexing fails on the first
// syntax error; lenient lexing keeps a malformed placeholder as literal text.
func lexTemplate(tmpl string, strict bool) (template, error) {
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
		scope, name, err := parseRef(strings.TrimSpace(tmpl[body : body+k]))
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

func parseRef(ref string) (uint8, string, error) {
	scopeName, name, ok := strings.Cut(ref, ".")
	var scope uint8
	switch {
	case !ok:
		return 0, "", fmt.Errorf("%q names no scope; want ALERT.<field> or INCIDENT.<field>", ref)
	case scopeName == "ALERT":
		scope = scopeAlert
	case scopeName == "INCIDENT":
		scope = scopeIncident
	default:
		return 0, "", fmt.Errorf("unknown scope %q: want ALERT or INCIDENT", scopeName)
	}
	if name == "" {
		return 0, "", fmt.Errorf("empty field name after %s", scopeName+".")
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
