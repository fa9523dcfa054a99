package routing

import (
	"errors"
	"fmt"

	"github.com/sitrep/sitrep/secret"
)

// Rule is one ordered routing rule, as written in config (YAML) and in the
// admin API (JSON). All matchers must hold for the rule to match.
type Rule struct {
	Name     string            `json:"name" yaml:"name"`
	Matchers []string          `json:"matchers,omitempty" yaml:"matchers,omitempty"`
	Rooms    []string          `json:"rooms,omitempty" yaml:"rooms,omitempty"`
	Set      map[string]string `json:"set,omitempty" yaml:"set,omitempty"`
	Message  string            `json:"message,omitempty" yaml:"message,omitempty"`
	Continue bool              `json:"continue,omitempty" yaml:"continue,omitempty"`
	// StatusPage, if set, publishes the alerts the rule matches on a status page.
	StatusPage *StatusPage `json:"status_page,omitempty" yaml:"status_page,omitempty"`
	// Escalate, if set, escalates the incidents the rule routes that stay
	// unacknowledged.
	Escalate []Escalation `json:"escalate,omitempty" yaml:"escalate,omitempty"`
}

// RuleError names the rule (by position and name) and the field that is wrong.
type RuleError struct {
	Index int    // position in the list, from 0
	Rule  string // the rule's name
	Field string // "matchers[1]", "rooms[0]", "set.room_id", "message", "name"
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("routes[%d] (%s): %s: %v", e.Index, e.Rule, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// Redacted is the rule as every output shows it: secret-looking set values,
// and the values of matchers on secret-looking fields, cut to their last four
// characters.
func (r Rule) Redacted() Rule {
	out := r
	out.Set = secret.RedactFields(r.Set)
	if r.Matchers != nil {
		out.Matchers = make([]string, len(r.Matchers))
		for i, m := range r.Matchers {
			out.Matchers[i] = RedactMatcher(m)
		}
	}
	if r.Rooms != nil {
		out.Rooms = append([]string(nil), r.Rooms...)
	}
	if r.StatusPage != nil {
		sp := *r.StatusPage
		sp.Services = append([]string(nil), sp.Services...)
		out.StatusPage = &sp
	}
	if r.Escalate != nil {
		out.Escalate = make([]Escalation, len(r.Escalate))
		for i, e := range r.Escalate {
			out.Escalate[i] = Escalation{After: e.After, Rooms: append([]string(nil), e.Rooms...), MentionOncall: e.MentionOncall}
		}
	}
	return out
}

// RedactMatcher returns matcher s with its value redacted when its field
// looks secret; any other matcher, or one that does not parse, as it is.
func RedactMatcher(s string) string {
	m, err := parseMatcher(s)
	if err != nil || !secret.LooksSecret(m.name) {
		return s
	}
	return m.shown()
}

// IsRedactedMatcher reports whether s is a matcher on a secret-looking field
// whose value is in redacted form ("****" and up to four characters), as
// outputs show it: such a matcher cannot be meant literally.
func IsRedactedMatcher(s string) bool {
	m, err := parseMatcher(s)
	return err == nil && secret.LooksSecret(m.name) && secret.IsRedacted(m.value)
}

// RuleErrors returns each *RuleError in err, which Compile builds with
// errors.Join; nil if there is none.
func RuleErrors(err error) []*RuleError {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*RuleError
	for _, e := range errs {
		var re *RuleError
		if errors.As(e, &re) {
			out = append(out, re)
		}
	}
	return out
}
