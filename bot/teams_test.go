package bot

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
)

// teamConfig links two web rooms and a HipChat room as team payments.
func teamConfig(data, hipchatURL, extra string) string {
	return baseConfig(data, fmt.Sprintf(`  - {name: pay-2, platform: webroom, team: payments}
  - {name: pay-hc, platform: hipchat, id: '101', token: %s, team: payments}
hipchat:
  base_url: %s
  webhook_token: hook-token-0123456789
%s`, payToken, hipchatURL, extra))
}

// hipchatSays posts a room_message webhook for a line bob typed in HipChat room 101.
func hipchatSays(t *testing.T, tb *testBot, id, text string) {
	t.Helper()
	body := map[string]any{"event": "room_message", "oauth_client_id": "c", "webhook_id": 1, "item": map[string]any{
		"message": map[string]any{"id": id, "date": "2026-12-01T09:00:00+00:00", "message": text,
			"from": map[string]any{"id": 7, "mention_name": "bob", "name": "Bob"}},
		"room": map[string]any{"id": 101, "name": "Payments"}}}
	code, _ := tb.do(t, http.MethodPost, "/hooks/hipchat?token=hook-token-0123456789", "", body)
	require.Equal(t, http.StatusNoContent, code)
}

func count(msgs []hipchattest.Notification, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.Message, sub) {
			n++
		}
	}
	return n
}

func TestTeamChatIsBridgedToTheTeamsOtherRoomsOnce(t *testing.T) {
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	tb := startBot(t, teamConfig(newDataPath(t), hc.URL(), ""))
	pay, pay2, ops := tb.join(t, "payments"), tb.join(t, "pay-2"), tb.join(t, "ops")

	// A line typed in a web room of the team.
	pay.say(t, "deploying the fix to checkout")
	pay2.waitFor(t, 5*time.Second, "the line in the team's other web room", textHas("alice (unverified) (webroom #payments): deploying the fix to checkout"))
	require.Eventually(t, func() bool { return count(hc.Messages("101"), "deploying the fix") == 1 }, 5*time.Second, 10*time.Millisecond)
	// A line typed in the HipChat room.
	hipchatSays(t, tb, "hc-1", "rollback done")
	pay.waitFor(t, 5*time.Second, "the HipChat line in a web room", textHas("bob (hipchat #pay-hc): rollback done"))
	pay2.waitFor(t, 5*time.Second, "the HipChat line in the other web room", textHas("bob (hipchat #pay-hc): rollback done"))

	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, count(hc.Messages("101"), "deploying the fix"), "exactly once")
	assert.Zero(t, count(hc.Messages("101"), "rollback done"), "never back to its origin")
	for _, c := range []*roomClient{pay, pay2} {
		assert.Equal(t, 1, c.countText("rollback done"), "exactly once")
	}
	assert.Equal(t, 1, pay.countText("deploying the fix"), "the origin shows the line once: as typed, not echoed")
	assert.Zero(t, ops.countText("rollback done"), "a room of no team hears nothing")

	// The team's timeline has both lines, newest first, and pages.
	code, body := tb.do(t, http.MethodGet, "/v1/teams/payments/timeline?limit=1", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	entries := body["entries"].([]any)
	require.Len(t, entries, 1)
	newest := entries[0].(map[string]any)
	assert.Equal(t, "rollback done", newest["text"])
	assert.Equal(t, "pay-hc", newest["origin"].(map[string]any)["room"])
	code, body = tb.do(t, http.MethodGet, fmt.Sprintf("/v1/teams/payments/timeline?before=%v", body["next_before"]), adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	older := body["entries"].([]any)
	require.Len(t, older, 1)
	assert.Equal(t, "deploying the fix to checkout", older[0].(map[string]any)["text"])

	// An incident in no team's room adds nothing to the team's timeline.
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "team-1", "entity_display_name": "Checkout down", "routing_key": "x"})
	code, body = tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, body["entries"], 2, "the incident went to ops, which is in no team: no line")
	code, _ = tb.do(t, http.MethodGet, "/v1/teams/payments/timeline?limit=0", adminToken, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", "", nil)
	assert.Equal(t, http.StatusUnauthorized, code)
}

func TestIncidentsInATeamsRoomsAreOnItsTimeline(t *testing.T) {
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	tb := startBot(t, teamConfig(newDataPath(t), hc.URL(), `routes:
  - name: payments
    matchers: ['routing_key="payments"']
    rooms: [payments, pay-hc]
`))
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "team-2", "entity_display_name": "Checkout down", "routing_key": "payments"})["incident_id"])
	tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "team-2"})
	code, body := tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	var kinds []string
	for _, e := range body["entries"].([]any) {
		m := e.(map[string]any)
		kinds = append(kinds, m["kind"].(string))
		assert.Equal(t, float64(id), m["incident_id"])
	}
	assert.Equal(t, []string{"resolved", "opened"}, kinds, "one line each, newest first, though the incident is in two of the team's rooms")
}

func TestBridgeChatOff(t *testing.T) {
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	tb := startBot(t, teamConfig(newDataPath(t), hc.URL(), "teams:\n  - {name: payments, bridge_chat: false, time_zone: Europe/Berlin}\n"))
	pay, pay2 := tb.join(t, "payments"), tb.join(t, "pay-2")
	pay.say(t, "quiet please")
	require.Eventually(t, func() bool {
		_, body := tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
		return len(body["entries"].([]any)) == 1
	}, 5*time.Second, 10*time.Millisecond, "the line is on the team's timeline")
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, pay2.countText("quiet please"), "but not mirrored")
	assert.False(t, slices.ContainsFunc(hc.Messages("101"), func(m hipchattest.Notification) bool { return strings.Contains(m.Message, "quiet") }))
}

// BenchmarkTeamChatBridge measures how long a chat line typed in one of a
// team's web rooms takes to show in another of its web rooms, and in its
// HipChat room (the fake, at sitrep's HipChat rate limit raised for the
// run), one line at a time: go test ./bot -run '^$' -bench TeamChatBridge -benchtime 40x
func BenchmarkTeamChatBridge(b *testing.B) {
	hc := hipchattest.New(b)
	hc.AddRoom("101", payToken)
	tb := startBot(b, teamConfig(newDataPath(b), hc.URL(), "rate_limits:\n  webroom: {messages: 1000, per: 1s}\n  hipchat: {messages: 1000, per: 1s}\n"))
	pay, pay2 := tb.join(b, "payments"), tb.join(b, "pay-2")
	var web, hip []time.Duration
	for i := range b.N {
		time.Sleep(250 * time.Millisecond) // as a person types: within the web room's flood limit (5 lines a second)
		line := fmt.Sprintf("bridge line %d", i)
		start := time.Now()
		pay.say(b, line)
		pay2.waitFor(b, 10*time.Second, line, textHas(line))
		web = append(web, time.Since(start))
		for count(hc.Messages("101"), line) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		hip = append(hip, time.Since(start))
	}
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(web, 0.50), "web-p50-ms")
	b.ReportMetric(pct(web, 0.99), "web-p99-ms")
	b.ReportMetric(pct(hip, 0.50), "hipchat-p50-ms")
	b.ReportMetric(pct(hip, 0.99), "hipchat-p99-ms")
}

// Seed 004's multi-room outgoing webhook, pointed at sitrep unchanged: its
// URL template and payload, filled in as the rules engine fills them.
const (
	seedURL     = "https://api.hipchat.com/v2/room/${{ALERT.room_id}}/notification?auth_token=${{ALERT.auth_token}}"
	seedPayload = `{"color":"red","message":"${{ALERT.entity_display_name}}","notify":true,"message_format":"text"}`
)

func TestSeed004WebhookReachesTheTeam(t *testing.T) {
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	tb := startBot(t, teamConfig(newDataPath(t), hc.URL(), `routes:
  - name: payments
    matchers: ['routing_key="payments"']
    rooms: [payments]
`)+"")
	// The payments room answers to its old HipChat number, with a token of its own.
	code, body := tb.do(t, http.MethodPut, "/v1/rooms/payments", adminToken, map[string]any{
		"platform": "webroom", "team": "payments", "hipchat_ids": []string{"1234"}, "notify_token": paymentsNotifyToken})
	require.Equal(t, http.StatusOK, code, "%v", body)
	pay, pay2 := tb.join(t, "payments"), tb.join(t, "pay-2")

	post := func(alert map[string]string) int {
		fill := func(s string) string {
			for k, v := range alert {
				s = strings.ReplaceAll(s, "${{ALERT."+k+"}}", v)
			}
			return s
		}
		u := strings.Replace(fill(seedURL), "https://api.hipchat.com", tb.URL, 1)
		res, err := http.Post(u, "application/json", strings.NewReader(fill(seedPayload)))
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusNoContent, post(map[string]string{"room_id": "1234", "auth_token": paymentsNotifyToken, "entity_display_name": "db-1 disk full"}))
	f := pay.waitFor(t, 5*time.Second, "the notice in the named room", textHas("db-1 disk full"))
	assert.Equal(t, "red", f["color"])
	pay2.waitFor(t, 5*time.Second, "the notice in the team's other web room", textHas("db-1 disk full"))
	require.Eventually(t, func() bool { return count(hc.Messages("101"), "db-1 disk full") == 1 }, 5*time.Second, 10*time.Millisecond, "and in its HipChat room")
	assert.Equal(t, http.StatusUnauthorized, post(map[string]string{"room_id": "1234", "auth_token": "wrong", "entity_display_name": "x"}))

	// A reply typed in the HipChat room is on the team's timeline and mirrored, not echoed.
	hipchatSays(t, tb, "hc-seed-1", "looking at db-1")
	pay.waitFor(t, 5*time.Second, "the reply", textHas("bob (hipchat #pay-hc): looking at db-1"))
	pay2.waitFor(t, 5*time.Second, "the reply", textHas("looking at db-1"))

	// A notice naming an incident lands on its timeline too; no room gets it twice.
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "seed-1", "entity_display_name": "Checkout down", "routing_key": "payments"})["incident_id"])
	pay.waitFor(t, 5*time.Second, "the alert", textHas("Checkout down"))
	require.Equal(t, http.StatusNoContent, post(map[string]string{"room_id": "1234", "auth_token": paymentsNotifyToken, "entity_display_name": fmt.Sprintf("#%d failover started", id)}))
	require.Eventually(t, func() bool {
		events := tb.incident(t, id)["events"].([]any)
		last := events[len(events)-1].(map[string]any)
		return last["text"] == "failover started"
	}, 5*time.Second, 10*time.Millisecond, "on the incident's timeline")
	pay2.waitFor(t, 5*time.Second, "the incident notice in the team's other room", textHas("failover started"))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, pay.countText("failover started"), "the named room gets it once")
	assert.Equal(t, 1, pay2.countText("failover started"))
	assert.Equal(t, 1, count(hc.Messages("101"), "failover started"))
	assert.Zero(t, count(hc.Messages("101"), "looking at db-1"), "nothing echoes")

	code, body = tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	var kinds []string
	for _, e := range body["entries"].([]any) {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	assert.Equal(t, []string{"notice", "opened", "chat", "notice"}, kinds)
}
