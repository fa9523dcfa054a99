package routing

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var knownRooms = map[string]bool{"ops": true, "payments": true, "db": true, "sre": true, "hooks": true}

func opts() Options {
	return Options{RoomExists: func(n string) bool { return knownRooms[n] }, DefaultRooms: []string{"ops"}}
}

func mustCompile(t testing.TB, rules []Rule) *Router {
	t.Helper()
	r, err := Compile(rules, opts())
	require.NoError(t, err)
	return r
}

func ruleErrors(err error) []*RuleError {
	var out []*RuleError
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var re *RuleError
		if errors.As(e, &re) {
			out = append(out, re)
		}
	}
	return out
}

func TestCompileErrors(t *testing.T) {
	ok := Rule{Name: "ok", Matchers: []string{`a="b"`}, Rooms: []string{"ops"}}
	type want struct {
		index       int
		rule, field string
		contains    string
	}
	tests := []struct {
		name  string
		rules []Rule
		opts  Options
		want  []want
	}{
		{"no name", []Rule{ok, {Rooms: []string{"ops"}}}, opts(), []want{{1, "", "name", "needs a name"}}},
		{"duplicate name", []Rule{ok, ok}, opts(), []want{{1, "ok", "name", "already used by routes[0]"}}},
		{"bad matcher", []Rule{{Name: "x", Matchers: []string{`a="b"`, `a=~"("`}, Rooms: []string{"ops"}}}, opts(), []want{{0, "x", "matchers[1]", "("}}},
		{"bad label name", []Rule{{Name: "x", Matchers: []string{`9a="b"`}, Rooms: []string{"ops"}}}, opts(), []want{{0, "x", "matchers[0]", "field name"}}},
		{"no rooms no set", []Rule{{Name: "x", Matchers: []string{`a="b"`}}}, opts(), []want{{0, "x", "rooms", "must deliver to rooms, publish on a status page or set fields"}}},
		{"message without rooms", []Rule{{Name: "x", Set: map[string]string{"a": "b"}, Message: "hi"}}, opts(), []want{{0, "x", "message", "needs rooms"}}},
		{"unknown room", []Rule{{Name: "x", Rooms: []string{"ops", "nowhere"}}}, opts(), []want{{0, "x", "rooms[1]", `unknown room "nowhere"`}}},
		{"duplicate room", []Rule{{Name: "x", Rooms: []string{"ops", "ops"}}}, opts(), []want{{0, "x", "rooms[1]", "already listed"}}},
		{"empty room", []Rule{{Name: "x", Rooms: []string{""}}}, opts(), []want{{0, "x", "rooms[0]", "empty room"}}},
		{"bad set template", []Rule{{Name: "x", Set: map[string]string{"room_id": "${{ALERT.team"}}}, opts(), []want{{0, "x", "set.room_id", "unclosed"}}},
		{"bad set key", []Rule{{Name: "x", Set: map[string]string{"room id": "a"}}}, opts(), []want{{0, "x", "set.room id", "not a field name"}}},
		{"bad message", []Rule{{Name: "x", Rooms: []string{"ops"}, Message: "${{ALERT.}}"}}, opts(), []want{{0, "x", "message", "empty field name"}}},
		{"bad scope", []Rule{{Name: "x", Rooms: []string{"ops"}, Message: "${{EVENT.a}}"}}, opts(), []want{{0, "x", "message", "unknown scope"}}},
		{"unknown default room", []Rule{ok}, Options{RoomExists: opts().RoomExists, DefaultRooms: []string{"gone"}}, []want{{-1, "default", "default_room", `unknown room "gone"`}}},
		{"all problems reported", []Rule{
			{Name: "a", Matchers: []string{`x=~"["`}, Rooms: []string{"nope"}},
			ok,
			{Name: "ok", Set: map[string]string{"k": "${{NOPE.x}}"}},
		}, opts(), []want{
			{0, "a", "matchers[0]", ""}, {0, "a", "rooms[0]", "nope"},
			{2, "ok", "name", "already used"}, {2, "ok", "set.k", "unknown scope"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Compile(tt.rules, tt.opts)
			require.Error(t, err)
			assert.Nil(t, r)
			var first *RuleError
			require.True(t, errors.As(err, &first), "errors.As finds a *RuleError")
			res := ruleErrors(err)
			require.Len(t, res, len(tt.want), "%v", err)
			for i, w := range tt.want {
				assert.Equal(t, w.index, res[i].Index)
				assert.Equal(t, w.rule, res[i].Rule)
				assert.Equal(t, w.field, res[i].Field)
				assert.Contains(t, res[i].Error(), w.contains)
			}
		})
	}
}

func TestCompileAcceptsAnyRoomWithoutRoomExists(t *testing.T) {
	r, err := Compile([]Rule{{Name: "x", Rooms: []string{"anything"}}}, Options{DefaultRooms: []string{"", "fallback"}})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Len())
	d := r.Route(map[string]string{}, nil)
	assert.Equal(t, []Destination{{Room: "anything", Rule: "x"}}, d.Destinations)
}

func rooms(d Decision) []string {
	out := []string{}
	for _, t := range d.Destinations {
		out = append(out, t.Room)
	}
	return out
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name     string
		rules    []Rule
		alert    map[string]string
		incident map[string]string
		targets  []Destination
		fields   map[string]string // fields expected in the decision (subset)
		dflt     bool
	}{
		{
			name:    "first match stops",
			rules:   []Rule{{Name: "pay", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"payments"}}, {Name: "all", Rooms: []string{"sre"}}},
			alert:   map[string]string{"routing_key": "payments"},
			targets: []Destination{{Room: "payments", Rule: "pay"}},
		},
		{
			name: "continue reaches later rules",
			rules: []Rule{
				{Name: "pay", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"payments"}, Continue: true},
				{Name: "all", Rooms: []string{"sre"}},
			},
			alert:   map[string]string{"routing_key": "payments"},
			targets: []Destination{{Room: "payments", Rule: "pay"}, {Room: "sre", Rule: "all"}},
		},
		{
			name: "one alert matching two rules reaches both rooms, each room once",
			rules: []Rule{
				{Name: "pay", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"payments", "ops"}, Continue: true},
				{Name: "db", Matchers: []string{`host_name=~"db-.*"`}, Rooms: []string{"db", "payments"}, Message: "db ${{ALERT.host_name}}"},
			},
			alert:   map[string]string{"routing_key": "payments", "host_name": "db-7"},
			targets: []Destination{{Room: "payments", Rule: "pay"}, {Room: "ops", Rule: "pay"}, {Room: "db", Rule: "db", Message: "db db-7"}},
		},
		{
			name: "set then a later rule sees the field",
			rules: []Rule{
				{Name: "tag", Matchers: []string{`host_name=~"db-.*"`}, Set: map[string]string{"owner": "database", "room_id": "${{ALERT.owner}}-room"}, Continue: true},
				{Name: "db-team", Matchers: []string{`owner="database"`}, Rooms: []string{"db"}, Message: "to ${{ALERT.room_id}}"},
			},
			alert:   map[string]string{"host_name": "db-7"},
			targets: []Destination{{Room: "db", Rule: "db-team", Message: "to database-room"}},
			fields:  map[string]string{"owner": "database", "room_id": "database-room", "host_name": "db-7"},
		},
		{
			name: "set actions run in key order, each seeing the ones before",
			rules: []Rule{
				{Name: "tag", Set: map[string]string{"b": "${{ALERT.a}}+${{ALERT.c}}", "a": "A", "c": "C"}},
			},
			alert:   map[string]string{},
			targets: []Destination{{Room: "ops", Rule: "default"}},
			fields:  map[string]string{"a": "A", "c": "C", "b": ""},
			dflt:    true,
		},
		{
			name: "set changes an indexed field away from a later rule",
			rules: []Rule{
				{Name: "rekey", Matchers: []string{`routing_key="old"`}, Set: map[string]string{"routing_key": "new"}, Continue: true},
				{Name: "old", Matchers: []string{`routing_key="old"`}, Rooms: []string{"sre"}},
				{Name: "new", Matchers: []string{`routing_key="new"`}, Rooms: []string{"payments"}},
			},
			alert:   map[string]string{"routing_key": "old"},
			targets: []Destination{{Room: "payments", Rule: "new"}},
		},
		{
			name: "unset template field stops only that action",
			rules: []Rule{
				{Name: "r", Set: map[string]string{"a": "${{ALERT.missing}}", "b": "ok"}, Rooms: []string{"ops"}, Message: "${{ALERT.missing}}", Continue: true},
				{Name: "s", Rooms: []string{"sre"}, Message: "b=${{ALERT.b}}"},
			},
			alert:   map[string]string{},
			targets: []Destination{{Room: "sre", Rule: "s", Message: "b=ok"}},
			fields:  map[string]string{"b": "ok"},
		},
		{
			name:     "incident templates",
			rules:    []Rule{{Name: "r", Rooms: []string{"ops"}, Set: map[string]string{"link": "${{INCIDENT.url}}"}, Message: "#${{INCIDENT.id}} ${{ALERT.link}}"}},
			alert:    map[string]string{},
			incident: map[string]string{"id": "7", "url": "https://s/7"},
			targets:  []Destination{{Room: "ops", Rule: "r", Message: "#7 https://s/7"}},
		},
		{
			name:    "default route",
			rules:   []Rule{{Name: "pay", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"payments"}}},
			alert:   map[string]string{"routing_key": "other"},
			targets: []Destination{{Room: "ops", Rule: "default"}},
			dflt:    true,
		},
		{
			name:    "a matched rule that only sets fields still leads to the default route",
			rules:   []Rule{{Name: "tag", Set: map[string]string{"team": "x"}}},
			alert:   map[string]string{},
			targets: []Destination{{Room: "ops", Rule: "default"}},
			fields:  map[string]string{"team": "x"},
			dflt:    true,
		},
		{
			name:    "a rule whose message cannot render leads to the default route",
			rules:   []Rule{{Name: "r", Rooms: []string{"payments"}, Message: "${{INCIDENT.id}}"}},
			alert:   map[string]string{},
			targets: []Destination{{Room: "ops", Rule: "default"}},
			dflt:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, tt.rules)
			before := map[string]string{}
			for k, v := range tt.alert {
				before[k] = v
			}
			d := r.Route(tt.alert, tt.incident)
			assert.Equal(t, tt.targets, d.Destinations)
			assert.Equal(t, tt.dflt, d.Default)
			for k, v := range tt.fields {
				assert.Equal(t, v, d.Fields[k], k)
			}
			assert.Equal(t, before, tt.alert, "the alert is not mutated")
			ex := r.Explain(tt.alert, tt.incident)
			assert.Equal(t, tt.targets, ex.Destinations, "Explain agrees with Route")
			assert.Equal(t, tt.dflt, ex.Default)
		})
	}
}

func TestRulesIsACopy(t *testing.T) {
	in := []Rule{{Name: "x", Matchers: []string{`a="b"`}, Rooms: []string{"ops"}, Set: map[string]string{"k": "v"}}}
	r := mustCompile(t, in)
	in[0].Rooms[0] = "changed"
	got := r.Rules()
	assert.Equal(t, "ops", got[0].Rooms[0])
	got[0].Set["k"] = "mutated"
	assert.Equal(t, "v", r.Rules()[0].Set["k"])
	assert.Equal(t, 1, r.Len())
}

func TestExplain(t *testing.T) {
	r := mustCompile(t, []Rule{
		{Name: "payments", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"payments"}},
		{Name: "tag", Matchers: []string{`routing_key!=""`}, Set: map[string]string{"room_id": "${{ALERT.team}}", "owner": "sre"}, Continue: true},
		{Name: "runbook", Rooms: []string{"ops"}, Message: "Runbook: ${{ALERT.runbook_url}}", Continue: true},
		{Name: "sre", Matchers: []string{`owner="sre"`}, Rooms: []string{"sre"}, Message: "for ${{ALERT.owner}}"},
		{Name: "never", Rooms: []string{"db"}},
	})
	ex := r.Explain(map[string]string{"routing_key": "ops"}, nil)
	require.Len(t, ex.Rules, 4, "rules after the stop are not tried")
	assert.Equal(t, "sre", ex.StoppedBy)

	assert.False(t, ex.Rules[0].Matched)
	assert.Equal(t, `routing_key="ops" does not match routing_key="payments"`, ex.Rules[0].Reason)

	assert.True(t, ex.Rules[1].Matched)
	assert.Equal(t, map[string]string{"owner": "sre"}, ex.Rules[1].Set)
	assert.Equal(t, []SkippedAction{{Action: "set.room_id", Reason: "template names unset field ALERT.team"}}, ex.Rules[1].Skipped)

	assert.True(t, ex.Rules[2].Matched)
	require.Len(t, ex.Rules[2].Skipped, 1)
	assert.Equal(t, "rooms", ex.Rules[2].Skipped[0].Action)
	assert.Contains(t, ex.Rules[2].Skipped[0].Reason, "unset field ALERT.runbook_url")
	assert.Empty(t, ex.Rules[2].Rooms)

	assert.Equal(t, []string{"sre"}, ex.Rules[3].Rooms)
	assert.Equal(t, "for sre", ex.Rules[3].Message)
	assert.Equal(t, []Destination{{Room: "sre", Rule: "sre", Message: "for sre"}}, ex.Destinations)

	raw, err := json.Marshal(ex)
	require.NoError(t, err)
	js := string(raw)
	for _, want := range []string{`"rules":[`, `"index":0`, `"name":"payments"`, `"matched":false`, `"skipped":[{"action":"set.room_id"`, `"fields":{`, `"targets":[{"room":"sre"`, `"default":false`} {
		assert.Contains(t, js, want)
	}

	s := ex.String()
	for _, want := range []string{
		`rule 0 payments: no match: routing_key="ops" does not match routing_key="payments"`,
		`rule 1 tag: matched`,
		`skipped set.room_id: template names unset field ALERT.team`,
		`skipped rooms: message template names unset field ALERT.runbook_url; not delivered to ops`,
		`rooms: sre`, `message: "for sre"`, `→ sre (rule sre)`, `owner="sre"`,
	} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, "never")

	t.Run("missing field and default", func(t *testing.T) {
		ex := r.Explain(map[string]string{}, nil)
		assert.Equal(t, "routing_key is unset, so routing_key=\"payments\" does not hold", ex.Rules[0].Reason)
		assert.Contains(t, ex.String(), "runbook")
	})
}

func TestExplainRedactsSecrets(t *testing.T) {
	const tok = "hipchat-room-token-9876"
	const alertTok = "alert-carried-password-5555"
	r := mustCompile(t, []Rule{
		{Name: "hc", Matchers: []string{`routing_key="payments"`}, Set: map[string]string{"auth_token": tok, "room_id": "101"}, Continue: true},
		{Name: "copy", Set: map[string]string{"webhook": "https://hooks/x?t=${{ALERT.auth_token}}", "webhook_copy": "${{ALERT.webhook}}"}, Continue: true},
		{Name: "tell", Matchers: []string{`auth_token!=""`}, Rooms: []string{"hooks"}, Message: "token ${{ALERT.auth_token}} ${{ALERT.webhook}} ${{ALERT.password}} ${{INCIDENT.api_key}}"},
	})
	alert := map[string]string{"routing_key": "payments", "password": alertTok}
	incident := map[string]string{"api_key": "incident-api-key-4444"}
	d := r.Route(alert, incident)
	require.Len(t, d.Destinations, 1)
	assert.Equal(t, "token ****9876 https://hooks/x?t=****9876 ****5555 ****4444", d.Destinations[0].Message, "a room never gets a secret, even copied into another field")
	assert.Equal(t, tok, d.Fields["auth_token"], "the decision's fields keep the real values")

	ex := r.Explain(alert, incident)
	raw, err := json.Marshal(ex)
	require.NoError(t, err)
	for _, out := range []string{string(raw), ex.String()} {
		for _, s := range []string{tok, alertTok, "incident-api-key-4444", "token-9876"} {
			assert.NotContains(t, out, s)
		}
		assert.Contains(t, out, "****9876")
		assert.Contains(t, out, "101")
	}
	assert.Equal(t, "****9876", ex.Fields["auth_token"])
	assert.Equal(t, "https://hooks/x?t=****9876", ex.Fields["webhook"])
	assert.Equal(t, "https://hooks/x?t=****9876", ex.Fields["webhook_copy"])

	t.Run("matcher on a secret field", func(t *testing.T) {
		r := mustCompile(t, []Rule{{Name: "m", Matchers: []string{`password="the-real-password-1234"`}, Rooms: []string{"ops"}}})
		ex := r.Explain(map[string]string{"password": "another-password-7777"}, nil)
		raw, _ := json.Marshal(ex)
		for _, out := range []string{string(raw), ex.String()} {
			assert.NotContains(t, out, "the-real-password")
			assert.NotContains(t, out, "another-password")
		}
	})
}

func TestConcurrentRoute(t *testing.T) {
	r := mustCompile(t, []Rule{
		{Name: "a", Matchers: []string{`k="x"`}, Set: map[string]string{"k": "y"}, Continue: true},
		{Name: "b", Matchers: []string{`k="y"`}, Rooms: []string{"ops"}},
	})
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				d := r.Route(map[string]string{"k": "x"}, nil)
				if len(d.Destinations) != 1 || d.Destinations[0].Rule != "b" {
					t.Error("wrong decision", d)
				}
				_ = r.Explain(map[string]string{"k": "x"}, nil).String()
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func TestRuleRedacted(t *testing.T) {
	r := Rule{Name: "r", Matchers: []string{`routing_key="pay"`, `auth_token="secret-value-1234"`, `password=~"abc.*"`, `broken`},
		Set: map[string]string{"room_id": "101", "auth_token": "another-secret-9876"}, Rooms: []string{"ops"}}
	got := r.Redacted()
	assert.Equal(t, []string{`routing_key="pay"`, `auth_token="****1234"`, `password=~"****"`, `broken`}, got.Matchers)
	assert.Equal(t, map[string]string{"room_id": "101", "auth_token": "****9876"}, got.Set)
	assert.Equal(t, `auth_token="secret-value-1234"`, r.Matchers[1], "the rule itself is untouched")
	assert.True(t, IsRedactedMatcher(`auth_token="****1234"`))
	assert.False(t, IsRedactedMatcher(`routing_key="****1234"`), "only secret-looking fields")
	assert.False(t, IsRedactedMatcher(`auth_token="real"`))
}
