package routing

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoutesTakeOnlyAlertAndIncidentScopes(t *testing.T) {
	for _, tmpl := range []string{"${{STATE.CURRENT_STATE}}", "${{CHAT.TEXT}}", "${{ONCALL.USER_ID}}"} {
		err := CheckTemplate(tmpl)
		require.Error(t, err, tmpl)
		assert.Contains(t, err.Error(), "want ALERT or INCIDENT")
	}
	_, err := Compile([]Rule{{Name: "r", Rooms: []string{"ops"}, Message: "${{STATE.ACK_MSG}}"}}, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown scope "STATE"`)
}

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		tmpl    string
		scopes  []string
		wantErr string
	}{
		{"${{ALERT.a}} ${{STATE.CURRENT_STATE}}", []string{ScopeAlert, ScopeState}, ""},
		{"${{ONCALL.USER_ID}}", []string{ScopeOnCall}, ""},
		{"${{CHAT.TEXT}}", []string{ScopeAlert, ScopeState}, `unknown scope "CHAT": want ALERT or STATE`},
		{"${{ALERT.a}}", []string{ScopeOnCall}, `unknown scope "ALERT": want ONCALL`},
		{"${{TEXT}}", []string{ScopeAlert, ScopeState, ScopeChat}, "want ALERT.<field>, STATE.<field> or CHAT.<field>"},
		{"${{STATE.}}", []string{ScopeState}, "empty field name"},
		{"x ${{STATE.A", []string{ScopeState}, "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			tp, err := ParseTemplate(tt.tmpl, tt.scopes...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.tmpl, tp.String())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	_, err := ParseTemplate("x", "EVENT")
	assert.Error(t, err, "an unknown scope name is a programming error, reported")
}

func TestTemplateRender(t *testing.T) {
	vars := &Vars{
		Alert: map[string]string{"key": "abc", "title": `say "hi"`},
		State: map[string]string{"CURRENT_STATE": "CRITICAL"},
	}
	tp, err := ParseTemplate(`{"t": "${{ALERT.title}}", "s": "${{STATE.CURRENT_STATE}}"}`, ScopeAlert, ScopeState)
	require.NoError(t, err)
	assert.True(t, tp.Complete(vars))
	out, missing := tp.Render(vars, func(_, v string) string { return strings.ReplaceAll(v, `"`, `\"`) })
	assert.Empty(t, missing)
	assert.Equal(t, `{"t": "say \"hi\"", "s": "CRITICAL"}`, out)

	tp, err = ParseTemplate("https://h/x?token=${{ALERT.key}}&other=${{ALERT.nope}}", ScopeAlert)
	require.NoError(t, err)
	assert.Equal(t, "https://h/x?token=", tp.Prefix())
	assert.Equal(t, []string{"ALERT.key", "ALERT.nope"}, tp.Refs())
	assert.False(t, tp.Complete(vars), "an unset field makes it incomplete")
	var seen []string
	out, missing = tp.Render(vars, func(rendered, v string) string { seen = append(seen, rendered); return v })
	assert.Equal(t, "https://h/x?token=abc&other=", out)
	assert.Equal(t, []string{"ALERT.nope"}, missing)
	assert.Equal(t, []string{"https://h/x?token="}, seen, "the escaper sees what was written before the value")
	assert.False(t, tp.Complete(nil))
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "x", "${{ALERT.a}}", "${{STATE.ACK_MSG}}${{CHAT.TEXT", "${{ONCALL.}}", "}}${{", "${{ ${{CHAT.x}} }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		tp, err := ParseTemplate(tmpl, ScopeAlert, ScopeState, ScopeChat, ScopeIncident, ScopeOnCall)
		if err != nil {
			return
		}
		all := map[string]string{}
		vars := &Vars{Alert: all, State: all, Chat: all, Incident: all, OnCall: all}
		out, missing := tp.Render(vars, nil)
		if len(missing) != len(tp.Refs()) {
			t.Fatalf("every ref of %q is unset, got missing %v", tmpl, missing)
		}
		if !strings.HasPrefix(out, tp.Prefix()) {
			t.Fatalf("output %q does not start with the prefix %q", out, tp.Prefix())
		}
		if tp.Complete(vars) != (len(missing) == 0) {
			t.Fatalf("Complete disagrees with Render for %q", tmpl)
		}
	})
}
