package routing

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRender(t *testing.T) {
	alert := map[string]string{"team": "payments", "host": "db-7", "empty": ""}
	incident := map[string]string{"id": "42", "url": "https://sitrep/i/42"}
	tests := []struct {
		name, tmpl string
		want       string
		missing    []string
	}{
		{"plain", "no placeholders", "no placeholders", nil},
		{"empty", "", "", nil},
		{"alert field", "team ${{ALERT.team}} on ${{ALERT.host}}", "team payments on db-7", nil},
		{"incident field", "see ${{INCIDENT.url}} (#${{INCIDENT.id}})", "see https://sitrep/i/42 (#42)", nil},
		{"spaces inside braces", "${{ ALERT.team }}", "payments", nil},
		{"no escaping", "${{ALERT.team}}<b>&", "payments<b>&", nil},
		{"unset field", "${{ALERT.team}}/${{ALERT.nope}}", "payments/", []string{"ALERT.nope"}},
		{"empty field is unset", "${{ALERT.empty}}", "", []string{"ALERT.empty"}},
		{"unset incident field", "${{INCIDENT.nope}}", "", []string{"INCIDENT.nope"}},
		{"malformed kept literally", "a ${{FOO.x}} b ${{ALERT.team}}", "a ${{FOO.x}} b payments", nil},
		{"unclosed kept literally", "a ${{ALERT.team", "a ${{ALERT.team", nil},
		{"lone dollar and braces", "$ {{x}} $team", "$ {{x}} $team", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := Render(tt.tmpl, alert, incident)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.missing, missing)
		})
	}
	t.Run("nil incident", func(t *testing.T) {
		got, missing := Render("${{INCIDENT.id}}", alert, nil)
		assert.Equal(t, "", got)
		assert.Equal(t, []string{"INCIDENT.id"}, missing)
	})
}

func TestCheckTemplate(t *testing.T) {
	tests := []struct {
		tmpl    string
		wantErr string
	}{
		{"plain text", ""},
		{"${{ALERT.a}}${{INCIDENT.b}}", ""},
		{"${{ALERT.a", `unclosed "${{"`},
		{"x ${{ALERT.a}} ${{", `unclosed "${{"`},
		{"${{alert.a}}", "unknown scope"},
		{"${{EVENT.a}}", "unknown scope"},
		{"${{a}}", "no scope"},
		{"${{ALERT.}}", "empty field name"},
		{"${{INCIDENT.}}", "empty field name"},
		{"${{ALERT.a b}}", "space"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			err := CheckTemplate(tt.tmpl)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.wantErr)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"", "x", "${{ALERT.team}}", "${{INCIDENT.id}} ${{ALERT.a", "${{${{ALERT.a}}}}", "${{FOO.x}}", "}}${{", "${{ALERT.}}"} {
		f.Add(s, "team", "payments")
	}
	f.Fuzz(func(t *testing.T, tmpl, key, val string) {
		alert := map[string]string{key: val}
		out, missing := Render(tmpl, alert, nil)
		if CheckTemplate(tmpl) != nil {
			return
		}
		// A valid template's unset fields are exactly those it names that
		// are unset; with none unset, rendering twice agrees.
		for _, m := range missing {
			if m == "ALERT."+key && val != "" {
				t.Fatalf("%q reported set field %s as unset", tmpl, m)
			}
		}
		if again, _ := Render(tmpl, alert, nil); again != out {
			t.Fatalf("render is not deterministic: %q vs %q", out, again)
		}
	})
}
