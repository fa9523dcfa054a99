package routing

import "fmt"

// Rule is one ordered routing rule, as written in config (YAML) and in the
// admin API (JSON). All matchers must hold for the rule to match.
type Rule struct {
	Name     string            `json:"name" yaml:"name"`
	Matchers []string          `json:"matchers,omitempty" yaml:"matchers,omitempty"`
	Rooms    []string          `json:"rooms,omitempty" yaml:"rooms,omitempty"`
	Set      map[string]string `json:"set,omitempty" yaml:"set,omitempty"`
	Message  string            `json:"message,omitempty" yaml:"message,omitempty"`
	Continue bool              `json:"continue,omitempty" yaml:"continue,omitempty"`
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
