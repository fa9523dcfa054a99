package routing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatcher(t *testing.T) {
	fields := map[string]string{"routing_key": "payments", "host_name": "db-12a", "empty": "", "multi": "db-1\nx"}
	tests := []struct {
		name, matcher string
		want          bool
	}{
		{"equal", `routing_key="payments"`, true},
		{"equal differs", `routing_key="pay"`, false},
		{"not equal", `routing_key!="ops"`, true},
		{"not equal same", `routing_key!="payments"`, false},
		{"unquoted", `routing_key=payments`, true},
		{"spaces around", ` routing_key = "payments" `, true},
		{"escape in value", `routing_key="pay\x6dents"`, true},
		{"regex anchored whole", `host_name=~"db-12.*"`, true},
		{"regex anchored start", `host_name=~"12.*"`, false},
		{"regex anchored end", `host_name=~"db-12"`, false},
		{"regex alternation anchored", `routing_key=~"pay|payments"`, true},
		{"regex alternation no partial", `routing_key=~"paym|ops"`, false},
		{"regex general", `host_name=~"db-[0-9]+a"`, true},
		{"regex case fold", `routing_key=~"(?i)PAYMENTS"`, true},
		{"regex dot no newline", `multi=~"db-.*"`, false},
		{"regex dot s flag", `multi=~"(?s)db-.*"`, true},
		{"not regex", `host_name!~"web-.*"`, true},
		{"not regex matching", `host_name!~"db-.*"`, false},
		{"missing equals empty", `team=""`, true},
		{"missing not set", `team!=""`, false},
		{"set not empty", `routing_key!=""`, true},
		{"empty field is unset", `empty=""`, true},
		{"missing regex empty", `team=~".*"`, true},
		{"missing regex plus", `team=~".+"`, false},
		{"dotted name", `a.b-c="x"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseMatcher(tt.matcher)
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.matches(fields[m.name]))
			// The canonical form parses back to the same matcher.
			m2, err := parseMatcher(m.String())
			require.NoError(t, err)
			assert.Equal(t, m.String(), m2.String())
		})
	}
}

func TestMatcherErrors(t *testing.T) {
	for _, s := range []string{
		``, `routing_key`, `="x"`, `1abc="x"`, `a=="x"`, `a<"x"`, `a="x`, `a="x"y`, `a=x y`, `a='x'`,
		`a=~"("`, `a!~"[a-"`, `a=~"x{2,1}"`, `a="x",b="y"`, `{a="x"}`,
	} {
		t.Run(s, func(t *testing.T) {
			_, err := parseMatcher(s)
			assert.Error(t, err)
		})
	}
}

func TestRegexFastPathsAgreeWithRegexp(t *testing.T) {
	values := []string{"", "db", "db-", "db-12", "db-123", "db-12\n", "xdb-12", "DB-12", "db-12\nx", "é", "db-1é"}
	for _, re := range []string{"db-12.*", "db-12", "db-1.", "(?i)db-12.*", "(?s)db-12.*", "db-12.+", ".*", "db-(12|13).*", "(db-12).*", "db-12.*x"} {
		m, err := parseMatcher(`f=~` + `"` + re + `"`)
		require.NoError(t, err)
		for _, v := range values {
			assert.Equal(t, m.re.MatchString(v), m.matches(v), "%s vs %q", re, v)
		}
	}
}

func FuzzMatcher(f *testing.F) {
	for _, s := range []string{`routing_key="payments"`, `a!="b"`, `host=~"db-12.*"`, `x!~"(?i)a|b"`, `a=b`, `a="\u00e9\n"`, `a=~"(?s)x.*"`, `a=~""`} {
		f.Add(s, "db-123")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		m, err := parseMatcher(s)
		if err != nil {
			return
		}
		got := m.matches(v)
		if m.re != nil {
			want := m.re.MatchString(v)
			if m.op == opNotRegex {
				want = !want
			}
			if got != want {
				t.Fatalf("%s on %q: fast path %v, regexp %v", s, v, got, want)
			}
		}
		m2, err := parseMatcher(m.String())
		if err != nil {
			t.Fatalf("canonical %s of %s does not parse: %v", m.String(), s, err)
		}
		if m2.matches(v) != got {
			t.Fatalf("canonical %s disagrees with %s on %q", m.String(), s, v)
		}
	})
}
