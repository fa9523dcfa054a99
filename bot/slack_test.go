package bot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
)

const slackSecret = "slack-signing-secret-0123456789"

func slackConfig(data, apiURL string) string {
	return baseConfig(data, fmt.Sprintf(`  - {name: pay-slack, platform: slack, id: C0PAY, team: payments}
slack:
  bot_token: %s
  signing_secret: %s
  api_url: %s
rate_limits:
  slack: {messages: 10, per: 1s}
routes:
  - name: payments
    matchers: ['routing_key="payments"']
    rooms: [pay-slack, ops]
`, slacktest.BotToken, slackSecret, apiURL))
}

func newSlack(t testing.TB) *slacktest.Server {
	fake := slacktest.New(t, slacktest.WithRateLimit(20, 50*time.Millisecond))
	fake.AddChannel("C0PAY", true)
	fake.AddUser("alice")
	fake.AddUser("bob")
	return fake
}

// Alert to Slack card with buttons; a signed Acknowledge updates that card
// in place and the incident, and reaches the web room; a reply in the card's
// thread lands on the incident's timeline and is mirrored; sitrep's own
// messages never come back.
func TestSlackBothWays(t *testing.T) {
	fake := newSlack(t)
	tb := startBot(t, slackConfig(newDataPath(t), fake.URL()))
	fake.SetApp(tb.URL, slackSecret)
	ctx := context.Background()
	ops := tb.join(t, "ops")

	id := uint64(num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "checkout", "routing_key": "payments", "entity_display_name": "Checkout down"})["incident_id"]))
	var card slacktest.Message
	require.Eventually(t, func() bool {
		ms := fake.Messages("C0PAY")
		if len(ms) == 0 {
			return false
		}
		card = ms[0]
		return true
	}, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, card.Text, "Checkout down")
	assert.Equal(t, []string{slackadapter.ActionAck, slackadapter.ActionResolve}, card.Actions())
	assert.Equal(t, fmt.Sprint(id), card.ButtonValue(slackadapter.ActionAck))

	r, err := fake.Press(ctx, "C0PAY", "alice", card.TS, slackadapter.ActionAck, fmt.Sprint(id))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := fake.Message("C0PAY", card.TS); return m.Updates >= 1 }, 5*time.Second, 5*time.Millisecond)
	updated, _ := fake.Message("C0PAY", card.TS)
	assert.Equal(t, []string{slackadapter.ActionResolve}, updated.Actions(), "after an ack only Resolve")
	ops.waitFor(t, 5*time.Second, "the ack in the web room", textHas("acknowledged by alice"))
	require.Eventually(t, func() bool {
		for _, x := range fake.Responses() {
			if strings.Contains(x.Text, "acknowledged") {
				return x.ResponseType == "ephemeral" && x.User == slacktest.UserID("alice")
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "the presser is answered privately")

	// A reply in the card's thread is chat on the incident, mirrored to the web room.
	_, r, err = fake.Say(ctx, "C0PAY", "bob", "rolling back the deploy", card.TS)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	ops.waitFor(t, 5*time.Second, "the thread reply in the web room", textHas("bob: rolling back the deploy"))
	events := tb.incident(t, id)["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	assert.Equal(t, "chat", last["kind"])
	assert.Equal(t, "bob", last["origin"].(map[string]any)["user"])
	assert.Equal(t, "slack", last["origin"].(map[string]any)["adapter"])

	// Slack echoes every message sitrep posts as an event: none is taken back.
	time.Sleep(300 * time.Millisecond)
	before := len(tb.incident(t, id)["events"].([]any))
	for _, m := range fake.Messages("C0PAY") {
		if !m.Bot {
			continue
		}
		body, _ := fake.Event(slacktest.MessageEvent{Type: "message", Channel: "C0PAY", User: slacktest.BotUser, BotID: slacktest.BotID, Text: m.Text, TS: m.TS, ThreadTS: m.ThreadTS})
		r, err := fake.SendEvent(ctx, body, nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.NotContains(t, m.Text, "rolling back", "no echo into the channel it came from")
	}
	assert.Len(t, tb.incident(t, id)["events"].([]any), before, "sitrep's own messages never come back")

	// Resolve, then a stale Acknowledge: a private answer, nothing changed.
	r, err = fake.Press(ctx, "C0PAY", "alice", card.TS, slackadapter.ActionResolve, fmt.Sprint(id))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "resolved", tb.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := fake.Message("C0PAY", card.TS); return len(m.Actions()) == 0 }, 5*time.Second, 5*time.Millisecond, "no buttons once resolved")
	n := len(tb.incident(t, id)["events"].([]any))
	_, err = fake.Press(ctx, "C0PAY", "bob", card.TS, slackadapter.ActionAck, fmt.Sprint(id))
	require.NoError(t, err)
	assert.Equal(t, "resolved", tb.incident(t, id)["state"])
	assert.Len(t, tb.incident(t, id)["events"].([]any), n)
	require.Eventually(t, func() bool {
		rs := fake.Responses()
		l := rs[len(rs)-1]
		return l.User == slacktest.UserID("bob") && l.ResponseType == "ephemeral"
	}, 5*time.Second, 5*time.Millisecond)
	// A resolve from another room is a thread reply broadcast to the channel too.
	id2 := uint64(num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "refunds", "routing_key": "payments", "entity_display_name": "Refunds slow"})["incident_id"]))
	ops.waitFor(t, 5*time.Second, "the second alert in the web room", textHas("Refunds slow"))
	ops.say(t, fmt.Sprintf("/resolve %d", id2))
	require.Eventually(t, func() bool {
		for _, m := range fake.Messages("C0PAY") {
			if m.Broadcast && m.ThreadTS != "" && strings.Contains(m.Text, "resolved") {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "a resolve reply broadcast to the channel")

	// The slash command.
	r, err = fake.Command(ctx, "C0PAY", "alice", "/sitrep", "incidents")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), `"response_type":"ephemeral"`)
}

// A channel the bot is not in: the delivery is dead-lettered with
// not_in_channel, which GET /v1/rooms/{name} shows as the room's last error.
func TestSlackNotInChannel(t *testing.T) {
	fake := newSlack(t)
	fake.AddChannel("C0OUT", false)
	cfg := strings.Replace(slackConfig(newDataPath(t), fake.URL()), "    rooms: [pay-slack, ops]", "    rooms: [out-slack]", 1)
	cfg = strings.Replace(cfg, "slack:\n  bot_token", "  - {name: out-slack, platform: slack, id: C0OUT}\nslack:\n  bot_token", 1)
	tb := startBot(t, cfg)
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "x", "routing_key": "payments"})
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "y", "routing_key": "payments"})
	require.Eventually(t, func() bool {
		code, body := tb.do(t, http.MethodGet, "/v1/rooms/out-slack", adminToken, nil)
		s, _ := body["last_error"].(string)
		return code == http.StatusOK && strings.Contains(s, "not_in_channel")
	}, 10*time.Second, 20*time.Millisecond)
	code, body := tb.do(t, http.MethodGet, "/v1/rooms/out-slack", adminToken, nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "C0OUT", body["id"], "the room's own fields are still there")
	require.Eventually(t, func() bool { return strings.Count(tb.logs.String(), "message dead-lettered") == 2 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1, strings.Count(tb.logs.String(), "slack refused a delivery"), "the adapter says why once per channel")
}
