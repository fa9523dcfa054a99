package bot

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
)

const (
	payToken = "pay-room-token-0101"
	dbToken  = "db-room-token-0202"
)

// hipchatConfig routes two routing keys to two HipChat rooms with their own
// tokens, database hosts to the database room as well, and runbook links to ops.
func hipchatConfig(data, hipchatURL string) string {
	return baseConfig(data, fmt.Sprintf(`  - {name: pay-hc, platform: hipchat, id: '101', token: %s}
  - {name: db-hc, platform: hipchat, id: '202', token: %s}
hipchat:
  base_url: %s
routes:
  - name: payments
    matchers: ['routing_key="payments"']
    rooms: [pay-hc]
    continue: true
  - name: database
    matchers: ['routing_key="database"']
    rooms: [db-hc]
  - name: db-hosts
    matchers: ['host_name=~"db-.*"']
    rooms: [db-hc]
    continue: true
  - name: runbook
    matchers: ['routing_key!=""']
    rooms: [ops]
    message: 'Runbook for ${{ALERT.entity_display_name}}: ${{ALERT.runbook_url}}'
`, payToken, dbToken, hipchatURL))
}

// newHipChat is a fake HipChat with rooms 101 and 202, with HipChat's limits
// unless opts say otherwise.
func newHipChat(t *testing.T, opts ...hipchattest.Option) *hipchattest.Server {
	hc := hipchattest.New(t, opts...)
	hc.AddRoom("101", payToken)
	hc.AddRoom("202", dbToken)
	return hc
}

func texts(ns []hipchattest.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Message
	}
	return out
}

func waitMessages(t *testing.T, hc *hipchattest.Server, room string, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(hc.Messages(room)) >= n }, 10*time.Second, 10*time.Millisecond,
		"room %s: want %d messages, have %v", room, n, texts(hc.Messages(room)))
	return texts(hc.Messages(room))
}

func TestRoutingToHipChatRoomsWithTheirOwnTokens(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL()))
	ops := tb.join(t, "ops")

	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "checkout", "routing_key": "payments", "entity_display_name": "Checkout 500s"})
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "replica", "routing_key": "database", "entity_display_name": "Replica lag"})

	pay := waitMessages(t, hc, "101", 1)
	db := waitMessages(t, hc, "202", 1)
	assert.Contains(t, pay[0], "Checkout 500s")
	assert.Contains(t, db[0], "Replica lag")
	assert.Equal(t, payToken, hc.Messages("101")[0].Token)
	assert.Equal(t, dbToken, hc.Messages("202")[0].Token)

	// One alert matching two rules reaches both rooms.
	both := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "pay-db", "routing_key": "payments", "host_name": "db-7", "entity_display_name": "Payments DB down",
		"runbook_url": "https://wiki/pay-db"})["incident_id"])
	assert.Contains(t, waitMessages(t, hc, "101", 2)[1], "Payments DB down")
	assert.Contains(t, waitMessages(t, hc, "202", 2)[1], "Payments DB down")
	// ... and the runbook rule, whose template it fills, posts its own message to ops.
	ops.waitFor(t, 5*time.Second, "the runbook message", textHas("Runbook for Payments DB down: https://wiki/pay-db"))

	// The first two alerts had no runbook_url: the runbook rule's action did not fire for them.
	for _, f := range ops.drain(300 * time.Millisecond) {
		assert.NotContains(t, f["text"], "Checkout 500s", "an unset template field stops that action")
		assert.NotContains(t, f["text"], "Replica lag")
	}
	// An ack typed in the web room reaches both HipChat rooms once, as its own
	// message; HipChat cannot edit, so no "update:" copies are posted.
	ops.say(t, fmt.Sprintf("/ack %d", both))
	assert.Contains(t, waitMessages(t, hc, "101", 3)[2], "acknowledged by alice")
	assert.Contains(t, waitMessages(t, hc, "202", 3)[2], "acknowledged by alice")
	time.Sleep(200 * time.Millisecond)
	for _, room := range []string{"101", "202"} {
		assert.Len(t, hc.Messages(room), 3, "room %s: %v", room, texts(hc.Messages(room)))
	}
	assert.Zero(t, hc.Count429())
}

func TestRouteTestExplains(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL()))
	code, out := tb.do(t, http.MethodPost, "/v1/routes/test", adminToken, map[string]string{"routing_key": "payments", "host_name": "db-7", "entity_display_name": "Payments DB"})
	require.Equal(t, http.StatusOK, code, "%v", out)
	raw, _ := json.Marshal(out)
	s := string(raw)
	for _, want := range []string{"pay-hc", "db-hc", "runbook_url"} {
		assert.Contains(t, s, want)
	}
	code, _ = tb.do(t, http.MethodPost, "/v1/routes/test", "", map[string]string{"routing_key": "payments"})
	assert.Equal(t, http.StatusUnauthorized, code)
}

func TestRoutesAPIRejectsBadRulesAndKeepsTheRunningOnes(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL()))
	_, before := tb.do(t, http.MethodGet, "/v1/routes", adminToken, nil)

	bad := []struct {
		name  string
		rule  map[string]any
		field string
	}{
		{"unknown room", map[string]any{"name": "x", "matchers": []string{`a="b"`}, "rooms": []string{"nowhere"}}, "rooms[0]"},
		{"bad regex", map[string]any{"name": "x", "matchers": []string{`a=~"("`}, "rooms": []string{"ops"}}, "matchers[0]"},
		{"bad template", map[string]any{"name": "x", "matchers": []string{`a="b"`}, "rooms": []string{"ops"}, "message": "${{ALERT.a"}, "message"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPut, "/v1/routes", adminToken, map[string]any{"routes": []any{tt.rule}})
			assert.Equal(t, http.StatusBadRequest, code, "%v", out)
			raw, _ := json.Marshal(out)
			assert.Contains(t, string(raw), tt.field)
			assert.Contains(t, string(raw), `x`)
			_, after := tb.do(t, http.MethodGet, "/v1/routes", adminToken, nil)
			assert.Equal(t, before, after, "the running routes stay as they were")
		})
	}

	// Every problem is listed, each naming its rule and field.
	code, out := tb.do(t, http.MethodPut, "/v1/routes", adminToken, map[string]any{"routes": []any{
		map[string]any{"name": "a", "matchers": []string{`x=~"("`}, "rooms": []string{"ops"}},
		map[string]any{"name": "b", "matchers": []string{`x="1"`}, "rooms": []string{"nowhere"}},
	}})
	require.Equal(t, http.StatusBadRequest, code)
	var fields []any
	for _, e := range out["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"])
	}
	assert.ElementsMatch(t, []any{"routes[0].matchers[0]", "routes[1].rooms[0]"}, fields)

	good := map[string]any{"routes": []any{map[string]any{"name": "all-db", "matchers": []string{`routing_key="payments"`}, "rooms": []string{"db-hc"}}}}
	code, out = tb.do(t, http.MethodPut, "/v1/routes", adminToken, good)
	require.Equal(t, http.StatusOK, code, "%v", out)
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "moved", "routing_key": "payments", "entity_display_name": "Now to db"})
	assert.Contains(t, waitMessages(t, hc, "202", 1)[0], "Now to db")
	assert.Empty(t, hc.Messages("101"))
}

func TestRoomTokensAreWriteOnly(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL()))
	code, out := tb.do(t, http.MethodGet, "/v1/rooms/pay-hc", adminToken, nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "****0101", out["token"])

	code, out = tb.do(t, http.MethodPut, "/v1/rooms/ops-eu", adminToken, map[string]any{"platform": "hipchat", "id": "303", "token": "eu-room-token-0303", "team": "payments", "display_name": "Payments EU"})
	require.Contains(t, []int{200, 201}, code, "%v", out)
	assert.Equal(t, "****0303", out["token"])

	code, out = tb.do(t, http.MethodPut, "/v1/rooms/bad", adminToken, map[string]any{"platform": "webroom", "token": "no-tokens-on-web-rooms"})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "token", out["field"])

	for _, p := range []string{"/v1/rooms", "/v1/routes", "/v1/incidents"} {
		_, out := tb.do(t, http.MethodGet, p, adminToken, nil)
		raw, _ := json.Marshal(out)
		for _, tok := range []string{payToken, dbToken, "eu-room-token-0303"} {
			assert.NotContains(t, string(raw), tok, p)
		}
	}
	for _, tok := range []string{payToken, dbToken, "eu-room-token-0303", ingestToken, adminToken} {
		assert.NotContains(t, tb.logs.String(), tok, "tokens never reach the log")
	}
}

func TestKill9DuringDeliveryLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// The bot is told HipChat takes 1000 a second (rate_limits below), so the
	// fake must too: at HipChat's real 30 a minute the 60 alerts a room would
	// be paced and digested, and the test is about the kill, not the limit.
	hc := newHipChat(t, hipchattest.WithFloodControl(1000, time.Second))
	// A slow HipChat: every notification takes 15 ms, so the kill lands mid-delivery.
	target, err := url.Parse(hc.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(15 * time.Millisecond)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)

	cfg := hipchatConfig(newDataPath(t), slow.URL) + "rate_limits:\n  hipchat: {messages: 1000, per: 1s}\n"
	cfgPath := writeConfig(t, cfg)
	srv := startChild(t, cfgPath)

	const n = 60
	ids := make([]uint64, n)
	for i := range n {
		code, out, err := srv.request("POST", "/v1/alerts", ingestToken, map[string]any{"message_type": "CRITICAL", "entity_id": fmt.Sprintf("k%d", i),
			"routing_key": "payments", "host_name": "db-1", "entity_display_name": fmt.Sprintf("alert-%03d", i)})
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code)
		ids[i] = num(out["incident_id"])
	}
	require.Eventually(t, func() bool { return len(hc.Messages("101")) >= 10 }, 20*time.Second, time.Millisecond)
	srv.kill9(t)
	t.Logf("killed after %d+%d deliveries", len(hc.Messages("101")), len(hc.Messages("202")))

	startChild(t, cfgPath)
	for _, room := range []string{"101", "202"} {
		// After the restart the backlog has waited past DigestAfter, so it
		// may arrive as digests: each counts the alerts it holds.
		require.Eventually(t, func() bool { return shownAlerts(hc.Messages(room)) >= n }, 30*time.Second, 10*time.Millisecond, "room %s", room)
		time.Sleep(100 * time.Millisecond)
		msgs := hc.Messages(room)
		shown := shownAlerts(msgs)
		assert.LessOrEqual(t, shown, n+1, "room %s: at most the one in-flight message is sent twice", room)
		assert.Contains(t, msgs[len(msgs)-1].Message, fmt.Sprintf("alert-%03d", n-1), "room %s: the newest alert is shown last", room)
		t.Logf("room %s: %d messages showing %d alerts for %d sent", room, len(msgs), shown, n)
	}
}

// shownAlerts counts the alerts the messages show: one each, or a digest's count.
func shownAlerts(ns []hipchattest.Notification) int {
	total := 0
	for _, m := range ns {
		var k int
		if _, err := fmt.Sscanf(m.Message, "%d alerts:", &k); err == nil {
			total += k
		} else if strings.Contains(m.Message, "alert-") {
			total++
		}
	}
	return total
}

func TestDeleteRoomInUseIsRefused(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL()))
	code, out := tb.do(t, http.MethodDelete, "/v1/rooms/pay-hc", adminToken, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out["error"], `route "payments"`)
	code, out = tb.do(t, http.MethodDelete, "/v1/rooms/ops", adminToken, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, out["error"], "default room")

	code, _ = tb.do(t, http.MethodPut, "/v1/rooms/spare", adminToken, map[string]any{"platform": "webroom"})
	require.Equal(t, http.StatusCreated, code)
	code, _ = tb.do(t, http.MethodDelete, "/v1/rooms/spare", adminToken, nil)
	assert.Equal(t, http.StatusNoContent, code)
	code, _ = tb.do(t, http.MethodGet, "/v1/rooms/spare", adminToken, nil)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestAdminRoundTripKeepsSecrets(t *testing.T) {
	hc := newHipChat(t)
	tb := startBot(t, hipchatConfig(newDataPath(t), hc.URL())+`  - name: hc-token
    matchers: ['routing_key="tok"', 'auth_token!="matcher-secret-5678"']
    set: {auth_token: route-secret-token-4242}
    rooms: [ops]
`)
	// GET a room and PUT it back as shown: the stored token stays.
	_, room := tb.do(t, http.MethodGet, "/v1/rooms/pay-hc", adminToken, nil)
	delete(room, "name")
	code, out := tb.do(t, http.MethodPut, "/v1/rooms/pay-hc", adminToken, room)
	require.Equal(t, http.StatusOK, code, "%v", out)
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "rt", "routing_key": "payments", "entity_display_name": "Round trip"})
	waitMessages(t, hc, "101", 1)
	assert.Equal(t, payToken, hc.Messages("101")[0].Token, "the room still delivers with its real token")

	// A redacted value that matches nothing stored is refused, naming the field.
	room["token"] = "****0000"
	code, out = tb.do(t, http.MethodPut, "/v1/rooms/pay-hc", adminToken, room)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "token", out["field"])

	// The same for routes: GET, then PUT the list back unchanged.
	_, routes := tb.do(t, http.MethodGet, "/v1/routes", adminToken, nil)
	raw, _ := json.Marshal(routes)
	require.NotContains(t, string(raw), "route-secret-token-4242")
	require.NotContains(t, string(raw), "matcher-secret-5678")
	require.Contains(t, string(raw), `auth_token!=\"****5678\"`)
	code, out = tb.do(t, http.MethodPut, "/v1/routes", adminToken, routes)
	require.Equal(t, http.StatusOK, code, "%v", out)
	running := tb.Bot.router.Load().Rules()
	assert.Equal(t, "route-secret-token-4242", running[len(running)-1].Set["auth_token"], "the running rule keeps its real secret")
	assert.Equal(t, `auth_token!="matcher-secret-5678"`, running[len(running)-1].Matchers[1], "and its real matcher")

	list := routes["routes"].([]any)
	last := list[len(list)-1].(map[string]any)
	last["set"] = map[string]any{"auth_token": "****9999"}
	code, out = tb.do(t, http.MethodPut, "/v1/routes", adminToken, routes)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, fmt.Sprintf("routes[%d].set.auth_token", len(list)-1), out["field"])
}

func TestRoomsAPIRejectsRoomsThatCannotWork(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	tests := []struct {
		name  string
		room  map[string]any
		field string
		msg   string
	}{
		{"platform this build lacks", map[string]any{"platform": "telegram", "id": "C0123"}, "platform", `unknown platform "telegram"`},
		{"hipchat off", map[string]any{"platform": "hipchat", "id": "7", "token": "a-room-token-1234"}, "platform", "off on this server"},
		{"bad web room id", map[string]any{"platform": "webroom", "id": "has space/.."}, "id", "web room's id"},
		{"unknown platform", map[string]any{"platform": "irc", "id": "#ops"}, "platform", `unknown platform "irc": one of webroom, hipchat`},
		{"unknown key", map[string]any{"platform": "webroom", "colour": "red"}, "colour", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPut, "/v1/rooms/x", adminToken, tt.room)
			assert.Equal(t, http.StatusBadRequest, code, "%v", out)
			assert.Equal(t, tt.field, out["field"])
			assert.Contains(t, out["error"], tt.msg)
		})
	}
	code, out := tb.do(t, http.MethodPut, "/v1/rooms/"+strings.Repeat("n", 5000), adminToken, map[string]any{"platform": "webroom"})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Less(t, len(out["error"].(string)), 300, "a bad name is not echoed whole")
	code, _ = tb.do(t, http.MethodGet, "/v1/rooms/x", adminToken, nil)
	assert.Equal(t, http.StatusNotFound, code, "nothing was stored")
}

func TestBackupIsACompleteStore(t *testing.T) {
	tb := startBot(t, baseConfig(newDataPath(t), ""))
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "backed-up"})["incident_id"])
	req, err := http.NewRequest(http.MethodGet, tb.URL+"/v1/backup", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	n, err := io.Copy(f, res.Body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.Equal(t, res.ContentLength, n, "Content-Length tells the whole size")

	restored := startBot(t, baseConfig(path, ""))
	assert.Equal(t, "backed-up", restored.incident(t, id)["entity_id"])
}

// Chat typed in a HipChat room comes back through its webhook onto the
// incident's timeline and out to the incident's other rooms, not back to HipChat.
func TestHipChatChatReachesTheTimelineAndTheOtherRooms(t *testing.T) {
	hc := newHipChat(t)
	cfg := strings.Replace(hipchatConfig(newDataPath(t), hc.URL()), "hipchat:\n  base_url:", "hipchat:\n  webhook_token: hook-token-0123456789\n  base_url:", 1)
	tb := startBot(t, cfg)
	ops := tb.join(t, "ops")
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "both-ways", "routing_key": "payments",
		"entity_display_name": "Checkout down", "runbook_url": "https://wiki/checkout"})["incident_id"])
	waitMessages(t, hc, "101", 1)
	card := ops.waitFor(t, 5*time.Second, "the runbook message", textHas("Runbook for Checkout down"))

	var hookAs func(token, messageID, text string) int
	msgID := 0
	hook := func(token, text string) int {
		msgID++
		return hookAs(token, fmt.Sprintf("m-%d", msgID), text)
	}
	hookAs = func(token, messageID, text string) int {
		body := map[string]any{"event": "room_message", "oauth_client_id": "c", "webhook_id": 1, "item": map[string]any{
			"message": map[string]any{"id": messageID, "date": "2026-11-23T09:00:00+00:00", "message": text,
				"from": map[string]any{"id": 7, "mention_name": "bob", "name": "Bob"}},
			"room": map[string]any{"id": 101, "name": "Payments"}}}
		code, _ := tb.do(t, http.MethodPost, "/hooks/hipchat?token="+token, "", body)
		return code
	}
	assert.Equal(t, http.StatusUnauthorized, hook("wrong", fmt.Sprintf("#%d hi", id)))
	require.Equal(t, http.StatusNoContent, hook("hook-token-0123456789", fmt.Sprintf("#%d rolling back the deploy", id)), "a chat line has no reply")

	ops.waitFor(t, 5*time.Second, "the HipChat line in the web room", textHas("bob: rolling back the deploy"))
	events := tb.incident(t, id)["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	assert.Equal(t, "chat", last["kind"])
	origin := last["origin"].(map[string]any)
	assert.Equal(t, "hipchat", origin["adapter"])
	assert.Equal(t, "pay-hc", origin["room"])
	assert.Equal(t, "bob", origin["user"])

	// A command typed there acts on the incident and answers in the webhook's reply.
	require.Equal(t, http.StatusOK, hook("hook-token-0123456789", fmt.Sprintf("/ack %d", id)))
	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	ops.waitFor(t, 5*time.Second, "the ack in the web room", textHas("acknowledged by bob"))
	upd := ops.waitFor(t, 5*time.Second, "the card's in-place update", isType("update"))
	assert.Equal(t, card["id"], upd["id"], "the card itself is updated")
	assert.Contains(t, upd["text"], "Runbook for Checkout down", "a route's message: survives the ack")
	assert.Equal(t, "acknowledged", upd["state"])
	assert.Equal(t, card["event_id"], upd["event_id"], "the card still shows the alert that opened the incident")

	// HipChat retrying a webhook it got no answer to: the line is applied once.
	before := len(tb.incident(t, id)["events"].([]any))
	require.Equal(t, http.StatusNoContent, hookAs("hook-token-0123456789", "m-retried", fmt.Sprintf("#%d checking replicas", id)))
	require.Equal(t, http.StatusNoContent, hookAs("hook-token-0123456789", "m-retried", fmt.Sprintf("#%d checking replicas", id)))
	assert.Len(t, tb.incident(t, id)["events"].([]any), before+1, "a retried webhook is applied once")

	time.Sleep(200 * time.Millisecond)
	for _, m := range hc.Messages("101") {
		assert.NotContains(t, m.Message, "rolling back", "no echo into the HipChat room it came from")
		assert.NotContains(t, m.Message, "acknowledged by bob", "no echo into the HipChat room it came from")
	}
}

// A credential is hidden by what it looks like, whatever its field is called:
// a webhook URL in a route's set shows in no output, in no room, and a GET
// then PUT keeps it.
func TestSecretsByValueAreHiddenEverywhere(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
	tb := startBot(t, baseConfig(newDataPath(t), `routes:
  - name: notify
    matchers: ['routing_key="hook"']
    set: {webhook_url: '`+hook+`'}
    rooms: [ops]
`))
	ops := tb.join(t, "ops")
	_, routes := tb.do(t, http.MethodGet, "/v1/routes", adminToken, nil)
	raw, _ := json.Marshal(routes)
	require.NotContains(t, string(raw), "XXXXsecretXXXX")
	require.Contains(t, string(raw), "****XXXX")
	code, out := tb.do(t, http.MethodPut, "/v1/routes", adminToken, routes)
	require.Equal(t, http.StatusOK, code, "%v", out)
	running := tb.Bot.router.Load().Rules()
	assert.Equal(t, hook, running[0].Set["webhook_url"], "a GET then PUT keeps the real value")

	_, explained := tb.do(t, http.MethodPost, "/v1/routes/test", adminToken, map[string]any{"routing_key": "hook", "note": "see https://x.example/hooks/abcdef123"})
	raw, _ = json.Marshal(explained)
	assert.NotContains(t, string(raw), "XXXXsecretXXXX")
	assert.NotContains(t, string(raw), "abcdef123", "an alert's own secret-looking value too")

	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "hook-1", "routing_key": "hook", "entity_display_name": "Hooked"})["incident_id"])
	f := ops.waitFor(t, 5*time.Second, "the alert", textHas("Hooked"))
	raw, _ = json.Marshal(f)
	assert.NotContains(t, string(raw), "XXXXsecretXXXX", "a room never gets it")
	raw, _ = json.Marshal(tb.incident(t, id))
	assert.NotContains(t, string(raw), "XXXXsecretXXXX", "nor the incident view")
	ops.say(t, "/route test routing_key=hook")
	reply := ops.waitFor(t, 5*time.Second, "the explain reply", isType("reply"))
	assert.NotContains(t, reply["text"], "XXXXsecretXXXX", "nor /route test in a room")
}
