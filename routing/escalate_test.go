package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEscalateBlock(t *testing.T) {
	exists := func(r string) bool { return r == "ops" || r == "leads" }
	rule := func(steps ...Escalation) []Rule {
		return []Rule{{Name: "pay", Matchers: []string{`routing_key="payments"`}, Rooms: []string{"ops"}, Escalate: steps}}
	}
	r, err := Compile(rule(Escalation{After: 5 * time.Minute, Rooms: []string{"leads"}, MentionOncall: true}), Options{RoomExists: exists})
	require.NoError(t, err)
	d := r.Route(map[string]string{"routing_key": "payments"}, nil)
	assert.Equal(t, []EscalationTarget{{Rule: "pay", Step: 0, Escalation: Escalation{After: 5 * time.Minute, Rooms: []string{"leads"}, MentionOncall: true}}}, d.Escalations)
	assert.Empty(t, r.Route(map[string]string{"routing_key": "search"}, nil).Escalations)

	for _, tc := range []struct {
		name  string
		step  Escalation
		field string
	}{
		{"no after", Escalation{Rooms: []string{"leads"}}, "escalate[0].after"},
		{"negative after", Escalation{After: -time.Second, Rooms: []string{"leads"}}, "escalate[0].after"},
		{"no rooms", Escalation{After: time.Minute}, "escalate[0].rooms"},
		{"unknown room", Escalation{After: time.Minute, Rooms: []string{"nope"}}, "escalate[0].rooms[0]"},
		{"duplicate room", Escalation{After: time.Minute, Rooms: []string{"leads", "leads"}}, "escalate[0].rooms[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(rule(tc.step), Options{RoomExists: exists})
			res := RuleErrors(err)
			require.Len(t, res, 1, "%v", err)
			assert.Equal(t, tc.field, res[0].Field)
		})
	}
}
