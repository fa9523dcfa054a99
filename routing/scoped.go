package routing

import (
	"fmt"
	"strings"
)

// Scope names for ParseTemplate, as templates spell them.
const (
	ScopeAlert    = "ALERT"    // the alert's fields, after the routes' set actions
	ScopeIncident = "INCIDENT" // sitrep's incident: id, state, url, ...
	ScopeState    = "STATE"    // the incident's state in Splunk On-Call's names: CURRENT_STATE, ACK_MSG, ...
	ScopeChat     = "CHAT"     // a chat line: USER_ID, TEXT, ...
	ScopeOnCall   = "ONCALL"   // an on-call change: USER_ID, TEAM_NAME, ...
)

// Vars are the values a template parsed by ParseTemplate reads, one map per
// scope. A nil map has every field unset.
type Vars struct {
	Alert, Incident, State, Chat, OnCall map[string]string
}

func (v *Vars) of(scope uint8) map[string]string {
	if v == nil {
		return nil
	}
	switch scope {
	case scopeAlert:
		return v.Alert
	case scopeIncident:
		return v.Incident
	case scopeState:
		return v.State
	case scopeChat:
		return v.Chat
	case scopeOnCall:
		return v.OnCall
	}
	return nil
}

// Template is a template over any of the scopes, parsed by ParseTemplate:
// the same lexer and the same rule as routes' templates (a placeholder naming
// an unset field, absent or empty, makes the template incomplete). It is
// immutable and safe for concurrent use.
type Template struct {
	src string
	t   template
}

// ParseTemplate parses tmpl strictly: every "${{" must be closed by "}}" and
// name SCOPE.<field> for one of scopes (ScopeAlert, ScopeState, ...).
func ParseTemplate(tmpl string, scopes ...string) (Template, error) {
	var allowed scopeSet
	for _, name := range scopes {
		s := scopeNamed(name)
		if s == scopeLiteral {
			return Template{}, fmt.Errorf("unknown scope %q", name)
		}
		allowed |= 1 << s
	}
	t, err := lexScoped(tmpl, true, allowed)
	if err != nil {
		return Template{}, err
	}
	return Template{src: tmpl, t: t}, nil
}

// String is the template as written.
func (t Template) String() string { return t.src }

// Prefix is the literal text before the template's first placeholder (all
// of it when it has none).
func (t Template) Prefix() string {
	var b strings.Builder
	for _, s := range t.t.segs {
		if s.scope != scopeLiteral {
			break
		}
		b.WriteString(s.text)
	}
	return b.String()
}

// Refs lists the qualified names ("ALERT.team") of the fields the template
// names, in order, repeats included.
func (t Template) Refs() []string {
	var out []string
	for _, s := range t.t.segs {
		if s.scope != scopeLiteral {
			out = append(out, s.refName())
		}
	}
	return out
}

// Escape turns a value a template substitutes into the text it writes;
// rendered is what the template has written before it.
type Escape func(rendered, val string) string

// Complete reports whether every field the template names is set in vars.
func (t Template) Complete(vars *Vars) bool {
	for _, s := range t.t.segs {
		if s.scope != scopeLiteral && vars.of(s.scope)[s.text] == "" {
			return false
		}
	}
	return true
}

// Render fills the template from vars, passing each value through esc (nil
// writes it as it is). It also returns the qualified names of the unset
// fields the template names; those render as "".
func (t Template) Render(vars *Vars, esc Escape) (string, []string) {
	var b strings.Builder
	var missing []string
	for _, s := range t.t.segs {
		if s.scope == scopeLiteral {
			b.WriteString(s.text)
			continue
		}
		val := vars.of(s.scope)[s.text]
		if val == "" {
			missing = append(missing, s.refName())
			continue
		}
		if esc != nil {
			val = esc(b.String(), val)
		}
		b.WriteString(val)
	}
	return b.String(), missing
}
