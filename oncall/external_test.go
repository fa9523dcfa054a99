package oncall

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeExternal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		want  ExternalChange
		field string
	}{
		{"Splunk On-Call fields", `{"ONCALL.TEAM_NAME":"payments","ONCALL.USER_ID":"bob","ONCALL.STATE":"ON-CALL","ALERT.x":"y"}`, ExternalChange{Team: "payments", User: "bob", State: StateOnCall}, ""},
		{"short names", `{"team":"payments","user":"bob","state":"off-call"}`, ExternalChange{Team: "payments", User: "bob", State: StateOffCall}, ""},
		{"both, agreeing", `{"team":"payments","ONCALL.TEAM_NAME":"payments","user":"bob","state":"oncall"}`, ExternalChange{Team: "payments", User: "bob", State: StateOnCall}, ""},
		{"off_call spelled so", `{"team":"payments","user":"bob","state":"Off_Call"}`, ExternalChange{Team: "payments", User: "bob", State: StateOffCall}, ""},
		{"both, disagreeing", `{"team":"payments","ONCALL.TEAM_NAME":"search","user":"bob","state":"on-call"}`, ExternalChange{}, "team"},
		{"no team", `{"user":"bob","state":"on-call"}`, ExternalChange{}, "ONCALL.TEAM_NAME"},
		{"empty user", `{"team":"payments","user":" ","state":"on-call"}`, ExternalChange{}, "ONCALL.USER_ID"},
		{"unknown state", `{"team":"payments","user":"bob","state":"napping"}`, ExternalChange{}, "state"},
		{"number for a string", `{"team":"payments","ONCALL.USER_ID":7,"state":"on-call"}`, ExternalChange{}, "ONCALL.USER_ID"},
		{"a user that mentions", `{"team":"payments","user":"<!channel>","state":"on-call"}`, ExternalChange{}, "user"},
		{"not an object", `["team"]`, ExternalChange{}, ""},
		{"two values", `{} {}`, ExternalChange{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeExternal([]byte(tc.body))
			if tc.want != (ExternalChange{}) {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.NotEmpty(t, fe.Msg)
		})
	}
}

func FuzzDecodeExternal(f *testing.F) {
	f.Add([]byte(`{"ONCALL.TEAM_NAME":"payments","ONCALL.USER_ID":"bob","ONCALL.STATE":"on-call"}`))
	f.Add([]byte(`{"team":"payments","user":"bob","state":"off-call"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeExternal(body)
		if err != nil {
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			return
		}
		require.True(t, nameRE.MatchString(c.Team))
		require.True(t, personRE.MatchString(c.User))
		require.Contains(t, []string{StateOnCall, StateOffCall}, c.State)
	})
}

// An external change for a team with no schedule is announced in its rooms
// once, and an unknown team is refused.
func TestExternalChange(t *testing.T) {
	f := newFixture(t, "2026-12-08T10:00:00+01:00")
	ctx := context.Background()
	_, err := f.svc.External(ctx, ExternalChange{Team: "billing", User: "bob", State: StateOnCall})
	var ut *UnknownTeamError
	require.ErrorAs(t, err, &ut)
	assert.Equal(t, `unknown team "billing"; known teams: payments, search`, err.Error())

	changed, err := f.svc.External(ctx, ExternalChange{Team: "search", User: "bob", State: StateOnCall})
	require.NoError(t, err)
	assert.True(t, changed)
	changed, err = f.svc.External(ctx, ExternalChange{Team: "search", User: "bob", State: StateOnCall})
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, []string{"search: bob is now on call (reported by the team's on-call tool)"}, f.posts("search"))
	assert.Equal(t, "on call: bob", f.svc.Line("search", f.clock.Now()))
	assert.Equal(t, []Change{{Team: "search", User: "bob", State: StateOnCall, Time: f.clock.Now(), External: true}}, f.changes)

	// A restart keeps the record.
	f.restart()
	assert.Equal(t, []string{"bob"}, f.svc.OnCall("search", f.clock.Now()))
	_, err = f.svc.External(ctx, ExternalChange{Team: "search", User: "bob", State: StateOffCall})
	require.NoError(t, err)
	assert.Empty(t, f.svc.OnCall("search", f.clock.Now()))
	assert.Len(t, f.posts("search"), 2)
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s", 61 * time.Second: "1m1s"} {
		assert.Equal(t, want, shortDuration(d))
	}
}
