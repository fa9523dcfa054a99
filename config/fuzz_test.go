package config_test

import (
	"errors"
	. "github.com/sitrep/sitrep/config"
	"os"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that it always
// returns either a valid config or at least one problem, never both.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../config.example.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		base,
		"",
		"---\n...\n",
		"- a\n- b\n",
		"a: &a [*a]\n",
		"rooms: &r [{<<: *r}]\n",
		"x: &x {<<: *x}\nweb: *x\n",
		"web: {<<: [{history: 1}, {history: 2}], key: k}\n",
		"routes: [{name: r, matchers: ['a=~\"(\"'], rooms: [x], set: {room_id: y}}]\n",
		"rate_limits: {slack: {messages: 99999999999999999999, per: 1h}}\n",
		"outbox: {max_age: 9999999999h}\n",
		"? [a]\n: b\n",
		"web: !!binary aGVsbG8=\n",
		"listen: [\n",
		"rooms:\n- name: a\n  name: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", nil, all()...)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse accepted a config Validate rejects: %v", err)
			}
			_ = c.Redacted()
			return
		}
		if c != nil {
			t.Fatal("a config and an error")
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(*errs) == 0 {
			t.Fatalf("error is not a non-empty *Errors: %v", err)
		}
		for _, e := range *errs {
			if e == nil || e.Msg == "" {
				t.Fatalf("empty problem in %v", err)
			}
			if e.Line < 0 || e.Line > LineCount(data) {
				t.Fatalf("line %d outside the input: %v", e.Line, e)
			}
		}
	})
}
