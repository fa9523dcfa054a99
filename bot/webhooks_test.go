package bot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/webhook/webhooktest"
)

const (
	hubKey     = "statushub-key-0123456789abcd"
	hookSecret = "whsec-bot-test-0123456789"
)

// seed000Config is seed 000's setup: a rule gives Cloudwatch alerts the
// StatusHub key, and an Any-Incident webhook's URL ends in it. Retries are
// quick, for the receiver that answers 503 once.
func seed000Config(data, receiver string) string {
	return baseConfig(data, fmt.Sprintf(`routes:
  - name: statushub-key
    matchers: ['monitoring_tool="Cloudwatch"']
    set: {StatusHubfield: %s}
    continue: true
outbox: {base_backoff: 10ms, max_backoff: 50ms}
webhooks:
  - name: statushub
    event: Any-Incident
    method: POST
    url: %s/hooks/generic_v2?token=${{ALERT.StatusHubfield}}
    signing_secret: %s
`, hubKey, receiver, hookSecret))
}

func waitAccepted(t *testing.T, rcv *webhooktest.Server, n int) []webhooktest.Request {
	t.Helper()
	require.Eventually(t, func() bool { return len(rcv.Accepted()) >= n }, 10*time.Second, 10*time.Millisecond,
		"want %d webhook requests, have %d (refused: %v)", n, len(rcv.Accepted()), rcv.Refused())
	return rcv.Accepted()
}

func TestSeed000CloudwatchAlertsReachStatusHubOthersDoNot(t *testing.T) {
	rcv := webhooktest.New(t, webhooktest.WithSecret(hookSecret))
	rcv.Then(webhooktest.Answer{Status: http.StatusServiceUnavailable, Body: "busy"}) // the first try fails; the outbox retries
	tb := startBot(t, seed000Config(newDataPath(t), rcv.URL()))

	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api-latency", "monitoring_tool": "Cloudwatch",
		"entity_display_name": `API "p99" latency`, "state_message": "p99 over 2s"})
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "disk", "monitoring_tool": "Nagios", "entity_display_name": "Disk full"})
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "disk", "monitoring_tool": "Nagios"})
	// A further alert that says something new replaces the incident's fields; the rule's key holds for it too.
	tb.alert(t, map[string]any{"message_type": "WARNING", "entity_id": "api-latency", "monitoring_tool": "Cloudwatch", "state_message": "p99 over 1s"})
	// A re-fire (the same alert again, as Alertmanager sends it) keeps the key too.
	tb.alert(t, map[string]any{"message_type": "WARNING", "entity_id": "api-latency", "monitoring_tool": "Cloudwatch", "state_message": "p99 over 1s"})
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "api-latency", "monitoring_tool": "Cloudwatch"})

	// The webhook's requests arrive in order; the Nagios incident's would
	// have come between the Cloudwatch trigger and its resolve.
	got := waitAccepted(t, rcv, 2)
	assert.Empty(t, rcv.Refused(), "every request is signed as the README says")
	assert.Equal(t, 3, rcv.Seen(), "the 503 was retried, the Nagios alerts sent nothing")
	for _, r := range got {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/hooks/generic_v2", r.Path)
		assert.Equal(t, "token="+hubKey, r.Query)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}
	assert.Equal(t, "Any-Incident", got[0].Header.Get("X-Sitrep-Event"))
	var trig, res map[string]string
	require.NoError(t, json.Unmarshal(got[0].Body, &trig))
	require.NoError(t, json.Unmarshal(got[1].Body, &res))
	// An empty payload is the alert's fields: StatusHub takes entity_display_name and state_message.
	assert.Equal(t, `API "p99" latency`, trig["entity_display_name"])
	assert.Equal(t, "p99 over 2s", trig["state_message"])
	assert.Equal(t, "api-latency", res["entity_id"])
	assert.NotContains(t, tb.logs.String(), hubKey, "the key in the URL is never logged")

	// route test says which webhooks a new incident would fire, token redacted.
	code, out := tb.do(t, http.MethodPost, "/v1/routes/test", adminToken, map[string]string{"monitoring_tool": "Cloudwatch", "entity_id": "x"})
	require.Equal(t, http.StatusOK, code)
	raw, _ := json.Marshal(out["webhooks"])
	assert.Contains(t, string(raw), `"fires":true`)
	assert.Contains(t, string(raw), "token=****abcd")
	all, _ := json.Marshal(out)
	assert.NotContains(t, string(all), hubKey, "nor does the rule's set value, once a webhook's URL carries it")
	_, out = tb.do(t, http.MethodPost, "/v1/routes/test", adminToken, map[string]string{"monitoring_tool": "Nagios", "entity_id": "x"})
	raw, _ = json.Marshal(out["webhooks"])
	assert.Contains(t, string(raw), "unset field ALERT.StatusHubfield")
	// ... and so does /route test typed in a room.
	ops := tb.join(t, "ops")
	ops.say(t, "/route test monitoring_tool=Cloudwatch entity_id=x")
	answer := ops.waitFor(t, 5*time.Second, "the route test answer", textHas("⇒ webhook statushub (Any-Incident): POST "+rcv.URL()+"/hooks/generic_v2?token=****abcd"))
	assert.NotContains(t, answer["text"], hubKey)
}

func TestWebhookRejectedByTheReceiverIsDeadLetteredWithItsReason(t *testing.T) {
	rcv := webhooktest.New(t)
	rcv.Then(webhooktest.Answer{Status: http.StatusUnprocessableEntity, Body: "unknown service key"})
	tb := startBot(t, seed000Config(newDataPath(t), rcv.URL()))
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "cw", "monitoring_tool": "Cloudwatch"})
	var dead []any
	require.Eventually(t, func() bool {
		_, out := tb.do(t, http.MethodGet, "/v1/outbox?state=dead", adminToken, nil)
		dead, _ = out["dead"].([]any)
		return len(dead) == 1
	}, 10*time.Second, 10*time.Millisecond)
	raw, _ := json.Marshal(dead)
	assert.Contains(t, string(raw), "unknown service key")
	assert.Contains(t, string(raw), "webhook:statushub")
	assert.NotContains(t, string(raw), hubKey, "the dead letter's URL is redacted")
	assert.Equal(t, 1, rcv.Seen(), "a 4xx is not retried")
}

func TestWebhooksAPI(t *testing.T) {
	rcv := webhooktest.New(t)
	tb := startBot(t, seed000Config(newDataPath(t), rcv.URL()))
	code, out := tb.do(t, http.MethodGet, "/v1/webhooks", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	hooks := out["webhooks"].([]any)
	require.Len(t, hooks, 1)
	h := hooks[0].(map[string]any)
	assert.Equal(t, "****6789", h["signing_secret"])
	assert.Equal(t, rcv.URL()+"/hooks/generic_v2?token=${{ALERT.StatusHubfield}}", h["url"])

	code, _ = tb.do(t, http.MethodGet, "/v1/webhooks", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)

	bad := []struct {
		name  string
		hook  map[string]any
		field string
	}{
		{"not http", map[string]any{"name": "x", "event": "Any-Incident", "url": "ftp://example.com/x"}, "webhooks[0].url"},
		{"bad template", map[string]any{"name": "x", "event": "Any-Incident", "url": "https://example.com/x", "payload": "${{ALERT.x"}, "webhooks[0].payload"},
		{"unknown event", map[string]any{"name": "x", "event": "Incident-Closed", "url": "https://example.com/x"}, "webhooks[0].event"},
		{"unknown method", map[string]any{"name": "x", "event": "Any-Incident", "method": "SEND", "url": "https://example.com/x"}, "webhooks[0].method"},
		{"unknown JSON field", map[string]any{"name": "x", "event": "Any-Incident", "url": "https://example.com/x", "to": "https://example.com"}, "to"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPut, "/v1/webhooks", adminToken, map[string]any{"webhooks": []any{tt.hook}})
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, tt.field, out["field"], "%v", out)
			_, now := tb.do(t, http.MethodGet, "/v1/webhooks", adminToken, nil)
			assert.Len(t, now["webhooks"], 1, "nothing stored")
		})
	}

	// GET then PUT with a change keeps the secret; the change is audited.
	h["event"] = "Incident-Resolved"
	code, out = tb.do(t, http.MethodPut, "/v1/webhooks", adminToken, map[string]any{"webhooks": []any{h}})
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, "****6789", out["webhooks"].([]any)[0].(map[string]any)["signing_secret"])
	secret, ok := tb.hooks.Load().Secret("statushub")
	assert.True(t, ok)
	assert.Equal(t, hookSecret, secret)
	assert.Contains(t, tb.logs.String(), "webhooks.put")
	assert.NotContains(t, tb.logs.String(), hookSecret)
}

func TestAllChatsHearsIncidentAndTeamChat(t *testing.T) {
	rcv := webhooktest.New(t)
	tb := startBot(t, baseConfig(newDataPath(t), fmt.Sprintf(`webhooks:
  - name: chats
    event: All-Chats
    url: %s/chat
    payload: '{"user": "${{CHAT.USER_ID}}", "text": "${{CHAT.TEXT}}", "room": "${{CHAT.ROOM}}"}'
  - name: incident-chats
    event: Incident-Chats
    url: %s/incident-chat/${{INCIDENT.id}}
`, rcv.URL(), rcv.URL())))
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "db", "entity_display_name": "DB down"})["incident_id"])
	pay := tb.join(t, "payments")
	pay.say(t, "deploying the fix now") // team chat: names no incident
	waitAccepted(t, rcv, 1)
	ops := tb.join(t, "ops")
	ops.say(t, fmt.Sprintf("#%d restarting the primary", id))
	got := waitAccepted(t, rcv, 3)

	var team map[string]string
	require.NoError(t, json.Unmarshal(got[0].Body, &team))
	assert.Equal(t, "/chat", got[0].Path)
	assert.Equal(t, "deploying the fix now", team["text"])
	assert.Equal(t, "payments", team["room"])
	assert.NotEmpty(t, team["user"])
	paths := []string{got[1].Path, got[2].Path}
	assert.ElementsMatch(t, []string{"/chat", fmt.Sprintf("/incident-chat/%d", id)}, paths)
	for _, r := range got[1:] {
		assert.Contains(t, string(r.Body), "restarting the primary")
	}
}
