package bot

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

func isType(typ string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == typ }
}

func TestAlertReachesRoomAndAckComesBack(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	ops := tb.join(t, "ops")

	out := tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "disk/db-1", "entity_display_name": "Disk full on db-1", "state_message": "97% used"})
	id := num(out["incident_id"])
	require.NotZero(t, id)

	f := ops.waitFor(t, 5*time.Second, "the alert", textHas("Disk full on db-1"))
	assert.Equal(t, "message", f["type"])
	assert.Equal(t, float64(id), f["incident_id"])
	assert.Equal(t, "triggered", f["state"])
	assert.Contains(t, f["text"], "97% used")
	assert.Equal(t, map[string]any{"entity_id": "disk/db-1"}, f["fields"], "the frame lists the fields its text does not already say")
	msgID := f["id"]

	ops.say(t, fmt.Sprintf("/ack %d", id))
	// The reply to the sender and the in-place update of the alert's message
	// come in either order.
	var reply, upd map[string]any
	ops.waitFor(t, 5*time.Second, "the ack reply and the in-place update", func(f map[string]any) bool {
		switch f["type"] {
		case "reply":
			reply = f
		case "update":
			upd = f
		}
		return reply != nil && upd != nil
	})
	assert.Contains(t, reply["text"], "acknowledged")

	inc := tb.incident(t, id)
	assert.Equal(t, "acknowledged", inc["state"])
	assert.Equal(t, "disk/db-1", inc["entity_id"])
	events := inc["events"].([]any)
	require.Len(t, events, 2)
	ack := events[1].(map[string]any)
	assert.Equal(t, "acknowledged", ack["kind"])
	origin := ack["origin"].(map[string]any)
	assert.Equal(t, "webroom", origin["adapter"])
	assert.Equal(t, "ops", origin["room"])
	assert.Equal(t, "alice (unverified)", origin["user"], "a web room name nobody vouched for says so")
	assert.Equal(t, true, origin["unverified"])

	// The alert's message in the room now shows the new state and who, in place.
	assert.Equal(t, msgID, upd["id"])
	assert.Equal(t, "acknowledged", upd["state"])
	assert.Equal(t, fmt.Sprintf("#%d acknowledged by alice (unverified)\nCRITICAL: Disk full on db-1 — 97%% used", id), upd["text"])
	assert.Equal(t, "alice (unverified)", upd["user"])

	// A chat line naming the incident lands on its timeline.
	ops.say(t, fmt.Sprintf("#%d restarting the db", id))
	require.Eventually(t, func() bool {
		return len(tb.incident(t, id)["events"].([]any)) == 3
	}, 5*time.Second, 20*time.Millisecond)
	chat := tb.incident(t, id)["events"].([]any)[2].(map[string]any)
	assert.Equal(t, "chat", chat["kind"])
	assert.Equal(t, "restarting the db", chat["text"])
	confirm := ops.waitFor(t, 5*time.Second, "the quiet confirmation", isType("reply"))
	assert.Equal(t, fmt.Sprintf("on #%d's timeline", id), confirm["text"])

	// Acking twice says so and changes nothing.
	ops.say(t, fmt.Sprintf("/ack %d", id))
	again := ops.waitFor(t, 5*time.Second, "the second ack reply", isType("reply"))
	assert.Contains(t, again["text"], "already acknowledged")
	// Bad commands get a usage line, not an event.
	ops.say(t, "/ack banana")
	usage := ops.waitFor(t, 5*time.Second, "a usage line", isType("reply"))
	assert.Contains(t, usage["text"], "usage")
	assert.Len(t, tb.incident(t, id)["events"], 3)
}

func TestWebUserKeyNamesItsHolder(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), "web:\n  users:\n    alice: {key: alice-key-0123456789}\n"))
	alice, anon := tb.joinWith(t, "ops", "key=alice-key-0123456789"), tb.join(t, "ops")
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "db-2", "entity_display_name": "db-2 down"})["incident_id"])
	anon.waitFor(t, 5*time.Second, "the alert", textHas("db-2 down"))

	alice.say(t, fmt.Sprintf("/ack %d", id))
	upd := anon.waitFor(t, 5*time.Second, "the card update", isType("update"))
	assert.Equal(t, fmt.Sprintf("#%d acknowledged by alice\nCRITICAL: db-2 down", id), upd["text"], "alice's key vouches for her name")
	events := tb.incident(t, id)["events"].([]any)
	origin := events[len(events)-1].(map[string]any)["origin"].(map[string]any)
	assert.Equal(t, "alice", origin["user"])
	assert.Nil(t, origin["unverified"])
	require.Eventually(t, func() bool { // the room's list of open incidents says who acked, live
		anon.mu.Lock()
		defer anon.mu.Unlock()
		for _, f := range anon.incidents {
			if inc, _ := f["incident"].(map[string]any); inc != nil && inc["state"] == "acknowledged" && inc["by"] == "alice" {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)

	anon.say(t, fmt.Sprintf("#%d me too", id)) // say names itself alice, without her key
	line := alice.waitFor(t, 5*time.Second, "the other line", textHas("me too"))
	assert.Equal(t, "alice (unverified)", line["user"])
}

func TestLateJoinerSeesHistory(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	first := tb.join(t, "ops")
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "a", "entity_display_name": "First alert"})
	first.waitFor(t, 5*time.Second, "the alert", textHas("First alert"))

	late := tb.join(t, "ops")
	late.waitFor(t, 5*time.Second, "history", textHas("First alert"))
}

func TestAckInOneRoomMirrorsToTheOthersOnly(t *testing.T) {
	routes := `routes:
  - name: payments-everywhere
    matchers: ['routing_key="payments"']
    rooms: [payments, ops]
`
	tb := startBot(t, baseConfig(newDataPath(t), routes))
	ops, pay := tb.join(t, "ops"), tb.join(t, "payments")

	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "checkout", "routing_key": "payments", "entity_display_name": "Checkout errors"})["incident_id"])
	ops.waitFor(t, 5*time.Second, "the alert in ops", textHas("Checkout errors"))
	pay.waitFor(t, 5*time.Second, "the alert in payments", textHas("Checkout errors"))

	pay.say(t, fmt.Sprintf("/ack %d", id))
	f := ops.waitFor(t, 5*time.Second, "the ack in ops", func(f map[string]any) bool { return f["type"] == "message" && f["kind"] == "acknowledged" })
	assert.Contains(t, f["text"], "acknowledged by alice")

	pay.say(t, fmt.Sprintf("#%d rolling back", id))
	ops.waitFor(t, 5*time.Second, "the chat line in ops", textHas("rolling back"))

	// Give any echo time to arrive, then check none did.
	for _, fr := range pay.drain(500 * time.Millisecond) {
		if fr["type"] == "message" {
			assert.NotEqual(t, "acknowledged", fr["kind"], "the ack must not echo back into the room it came from: %v", fr)
			assert.NotContains(t, fr["text"], fmt.Sprintf("#%d alice: rolling back", id), "chat must not echo: %v", fr)
		}
	}
	inc := tb.incident(t, id)
	assert.ElementsMatch(t, []any{"payments", "ops"}, inc["rooms"])
}

func TestResolveFromAlertClosesIncidentAndNewCriticalOpensAnother(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	ops := tb.join(t, "ops")
	first := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api"})["incident_id"])
	out := tb.alert(t, map[string]any{"message_type": "RECOVERY", "entity_id": "api"})
	assert.Equal(t, "resolved", out["state"])
	assert.Equal(t, float64(first), out["incident_id"])
	ops.waitFor(t, 5*time.Second, "the resolve", func(f map[string]any) bool { return f["kind"] == "resolved" })

	second := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api"})["incident_id"])
	assert.NotEqual(t, first, second)

	code, list := tb.do(t, http.MethodGet, "/v1/incidents?state=triggered", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	incs := list["incidents"].([]any)
	require.Len(t, incs, 1)
	assert.Equal(t, float64(second), incs[0].(map[string]any)["id"])
}

func TestAdminAPINeedsToken(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	for _, path := range []string{"/v1/incidents", "/v1/incidents/1", "/v1/rooms", "/v1/routes", "/v1/outbox?state=dead", "/v1/backup"} {
		for _, tok := range []string{"", "wrong", ingestToken} {
			code, body := tb.do(t, http.MethodGet, path, tok, nil)
			assert.Equal(t, http.StatusUnauthorized, code, "%s with %q", path, tok)
			assert.NotEmpty(t, body["error"])
		}
	}
	code, _ := tb.do(t, http.MethodGet, "/v1/incidents/999", adminToken, nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, body := tb.do(t, http.MethodGet, "/v1/incidents?state=sleeping", adminToken, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "state", body["field"])
}

func TestHealthAndMetrics(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "m"})
	for _, p := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(tb.URL + p)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, p)
	}
	res, err := http.Get(tb.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	for _, m := range []string{"sitrep_ingest_requests_total", "sitrep_ingest_duration_seconds", "sitrep_events_total", "sitrep_outbox_delivered_total"} {
		assert.Contains(t, string(raw), m)
	}
}

func TestRefiresStayOffTheRoom(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	ops := tb.join(t, "ops")
	a := map[string]any{"message_type": "CRITICAL", "entity_id": "lag", "entity_display_name": "Replica lag", "state_message": "lag 30s"}
	id := num(tb.alert(t, a)["incident_id"])
	ops.waitFor(t, 5*time.Second, "the alert", textHas("lag 30s"))

	tb.alert(t, a) // Alertmanager re-sends a firing alert: same type, same message
	a["state_message"] = "lag 90s"
	tb.alert(t, a)
	ops.waitFor(t, 5*time.Second, "the update", func(f map[string]any) bool {
		text, _ := f["text"].(string) // the open-incident frames have none
		assert.NotContains(t, text, "lag 30s", "a re-fire is not posted again: %v", f)
		return strings.Contains(text, "lag 90s")
	})
	events := tb.incident(t, id)["events"].([]any)
	require.Len(t, events, 3, "the re-fire is still on the timeline")
	assert.Equal(t, "repeated", events[1].(map[string]any)["kind"])
	assert.Equal(t, "updated", events[2].(map[string]any)["kind"])
}

func TestOnlyConfiguredWebRoomsAreServed(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	for path, want := range map[string]int{"/rooms/ops": 200, "/rooms/payments": 200, "/rooms/made-up": 404, "/rooms/made-up/ws": 404} {
		res, err := http.Get(tb.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode, path)
	}
	// A room added through the API is served at once.
	code, _ := tb.do(t, http.MethodPut, "/v1/rooms/made-up", adminToken, map[string]any{"platform": "webroom"})
	require.Equal(t, http.StatusCreated, code)
	res, err := http.Get(tb.URL + "/rooms/made-up")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestActOnAnIncidentThroughTheAPI(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	ops := tb.join(t, "ops")
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "api-act", "entity_display_name": "Queue backlog"})["incident_id"])
	ops.waitFor(t, 5*time.Second, "the alert", textHas("Queue backlog"))
	path := fmt.Sprintf("/v1/incidents/%d/events", id)

	tests := []struct {
		name  string
		token string
		body  map[string]any
		code  int
		field string
	}{
		{"no token", "", map[string]any{"kind": "acknowledged"}, 401, ""},
		{"unknown kind", adminToken, map[string]any{"kind": "snooze"}, 400, "kind"},
		{"empty note", adminToken, map[string]any{"kind": "note"}, 400, "text"},
		{"unknown key", adminToken, map[string]any{"kind": "note", "txt": "x"}, 400, "txt"},
		{"ack", adminToken, map[string]any{"kind": "acknowledged", "user": "carol", "text": "on it"}, 201, ""},
		{"ack twice", adminToken, map[string]any{"kind": "acknowledged"}, 409, "kind"},
		{"note", adminToken, map[string]any{"kind": "note", "text": "failover started", "user": "carol"}, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPost, path, tt.token, tt.body)
			assert.Equal(t, tt.code, code, "%v", out)
			if tt.field != "" {
				assert.Equal(t, tt.field, out["field"])
			}
		})
	}
	code, _ := tb.do(t, http.MethodPost, "/v1/incidents/999/events", adminToken, map[string]any{"kind": "resolved"})
	assert.Equal(t, http.StatusNotFound, code)

	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	ops.waitFor(t, 5*time.Second, "the API ack in the room", textHas("acknowledged by carol: on it"))
	ops.waitFor(t, 5*time.Second, "the API note in the room", textHas("failover started"))
}
