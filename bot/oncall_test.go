package bot

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/adapters/webhook/webhooktest"
	"github.com/sitrep/sitrep/platforms"
)

// onCallClock is the time a bot under test sees; tests move it by hand.
type onCallClock struct {
	mu sync.Mutex
	t  time.Time
}

func newOnCallClock(ts string) *onCallClock {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	return &onCallClock{t: t}
}

func (c *onCallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *onCallClock) set(ts string) {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// startBotAt is startBot on the clock c.
func startBotAt(t *testing.T, yaml string, c *onCallClock) *testBot {
	t.Helper()
	return startBotClock(t, yaml, platforms.All(), c.Now)
}

// moveTo sets the clock and wakes the announcer and the escalations.
func (tb *testBot) moveTo(c *onCallClock, ts string) {
	c.set(ts)
	tb.oncall.Wake()
	tb.escalator.Wake()
}

const paymentsSchedule = `teams:
  - {name: payments, time_zone: Europe/Berlin}
users:
  bob: {slack: U0BOB}
schedules:
  - team: payments
    rotations:
      - name: primary
        type: weekly
        shift_length: 1
        start: 2026-11-30T09:00:00+01:00
        participants: [alice, bob, carol]
`

const (
	aliceToBob = "payments: alice → bob is now on call (primary), until Mon 14 Dec 09:00 CET"
	bobToCarol = "payments: bob → carol is now on call (primary), until Mon 21 Dec 09:00 CET"
)

// hcCount counts the HipChat room's notifications holding sub.
func hcCount(hc *hipchattest.Server, sub string) int { return count(hc.Messages("101"), sub) }

// With a fake clock moved across a handoff each of the team's rooms (two
// web rooms and a HipChat room) gets exactly one announcement, also across
// a restart; /oncall payments answers correctly before and after.
func TestHandoffAnnouncedInEachTeamRoomOnce(t *testing.T) {
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	clock := newOnCallClock("2026-12-01T10:00:00+01:00")
	data := newDataPath(t)
	yaml := teamConfig(data, hc.URL(), paymentsSchedule)
	tb := startBotAt(t, yaml, clock)
	pay, pay2, ops := tb.join(t, "payments"), tb.join(t, "pay-2"), tb.join(t, "ops")

	ops.say(t, "/oncall payments")
	before := ops.waitFor(t, 5*time.Second, "the /oncall answer", isType("reply"))
	assert.Equal(t, "payments on call (times in Europe/Berlin):\nprimary: alice until Mon 7 Dec 09:00 CET; next bob until Mon 14 Dec 09:00 CET", before["text"])

	tb.moveTo(clock, "2026-12-07T09:00:00+01:00")
	pay.waitFor(t, 5*time.Second, "the handoff", textHas(aliceToBob))
	pay2.waitFor(t, 5*time.Second, "the handoff in the other web room", textHas(aliceToBob))
	require.Eventually(t, func() bool { return hcCount(hc, "alice → bob") == 1 }, 5*time.Second, 10*time.Millisecond)
	tb.moveTo(clock, "2026-12-07T09:00:30+01:00")

	pay.say(t, "/oncall")
	after := pay.waitFor(t, 5*time.Second, "the /oncall answer for the room's team", isType("reply"))
	assert.Equal(t, "payments on call (times in Europe/Berlin):\nprimary: bob until Mon 14 Dec 09:00 CET; next carol until Mon 21 Dec 09:00 CET", after["text"])
	ops.say(t, "/oncall billing")
	unknown := ops.waitFor(t, 5*time.Second, "the answer for an unknown team", isType("reply"))
	assert.Equal(t, `unknown team "billing"; known teams: payments`, unknown["text"])

	// The handoff is on the team's timeline.
	_, body := tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
	entries := body["entries"].([]any)
	require.NotEmpty(t, entries)
	assert.Equal(t, "oncall", entries[0].(map[string]any)["kind"])
	assert.Equal(t, aliceToBob, entries[0].(map[string]any)["text"])

	// Restart after the handoff: not announced again. Stopped before the
	// next one and started after it: announced once, late.
	tb.stop()
	tb = startBotAt(t, yaml, clock)
	tb.moveTo(clock, "2026-12-14T08:59:00+01:00")
	tb.stop()
	clock.set("2026-12-14T09:10:00+01:00")
	tb = startBotAt(t, yaml, clock)
	late := bobToCarol + " (late: the handoff was at Mon 14 Dec 09:00 CET, while sitrep was down)"
	require.Eventually(t, func() bool { return hcCount(hc, "bob → carol") == 1 }, 5*time.Second, 10*time.Millisecond)
	pay = tb.join(t, "payments")
	pay.waitFor(t, 5*time.Second, "the late handoff", textHas(late))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, pay.countText("alice → bob"), "history holds each handoff once")
	assert.Equal(t, 1, pay.countText("bob → carol"))
	assert.Equal(t, 1, hcCount(hc, "alice → bob"))
	assert.Zero(t, ops.countText("is now on call"), "a room of no team hears nothing")
}

// The schedules API: a bad schedule is a 400 naming the field and stores
// nothing; a good one replaces the team's mid-shift and says who took over.
func TestSchedulesAPI(t *testing.T) {
	clock := newOnCallClock("2026-12-08T10:00:00+01:00")
	tb := startBotAt(t, baseConfig(newDataPath(t), "teams:\n  - {name: payments, time_zone: Europe/Berlin}\n"), clock)
	pay := tb.join(t, "payments")
	sched := func(participants ...string) map[string]any {
		return map[string]any{"rotations": []any{map[string]any{"name": "primary", "type": "weekly", "shift_length": 1,
			"start": "2026-11-30T09:00:00+01:00", "participants": participants}}}
	}
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"empty participants", sched(), "rotations[0].participants"},
		{"unknown time zone", map[string]any{"time_zone": "Mars/Base", "rotations": sched("a")["rotations"]}, "time_zone"},
		{"shift_length below 1", map[string]any{"rotations": []any{map[string]any{"name": "p", "type": "daily", "shift_length": 0, "start": "2026-11-30T09:00:00+01:00", "participants": []string{"a"}}}}, "rotations[0].shift_length"},
		{"override ending before it starts", map[string]any{"rotations": sched("a")["rotations"], "overrides": []any{map[string]any{"user": "d", "start": "2026-12-24T00:00:00+01:00", "end": "2026-12-23T00:00:00+01:00"}}}, "overrides[0].end"},
		{"unknown field", map[string]any{"rotation": []any{}}, "rotation"},
		{"not a time", map[string]any{"rotations": []any{map[string]any{"name": "p", "type": "daily", "shift_length": 1, "start": "monday 9am", "participants": []string{"a"}}}}, "rotations[0].start"},
		{"another team's name", map[string]any{"team": "search", "rotations": sched("a")["rotations"]}, "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPut, "/v1/schedules/payments", adminToken, tc.body)
			assert.Equal(t, http.StatusBadRequest, code, "%v", out)
			assert.Equal(t, tc.field, out["field"], "%v", out)
			code, _ = tb.do(t, http.MethodGet, "/v1/schedules/payments", adminToken, nil)
			assert.Equal(t, http.StatusNotFound, code, "nothing stored")
		})
	}
	code, _ := tb.do(t, http.MethodPut, "/v1/schedules/payments", "", sched("alice", "bob"))
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = tb.do(t, http.MethodPut, "/v1/schedules/payments", ingestToken, sched("alice", "bob"))
	assert.Equal(t, http.StatusUnauthorized, code, "the ingest token is no admin token")

	code, out := tb.do(t, http.MethodPut, "/v1/schedules/payments", adminToken, sched("alice", "bob", "carol"))
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, true, out["changed"])
	assert.Equal(t, "bob", out["on_call"].([]any)[0].(map[string]any)["user"])

	// Replaced mid-shift: dave takes bob's place at once.
	code, _ = tb.do(t, http.MethodPut, "/v1/schedules/payments", adminToken, sched("alice", "dave", "carol"))
	require.Equal(t, http.StatusOK, code)
	pay.waitFor(t, 5*time.Second, "the change", textHas("payments: bob → dave is now on call (primary), until Mon 14 Dec 09:00 CET (schedule changed)"))
	tb.moveTo(clock, "2026-12-14T09:00:00+01:00")
	pay.waitFor(t, 5*time.Second, "the next handoff, by the new schedule", textHas("payments: dave → carol is now on call"))

	code, _ = tb.do(t, http.MethodDelete, "/v1/schedules/payments", adminToken, nil)
	assert.Equal(t, http.StatusNoContent, code)
	code, _ = tb.do(t, http.MethodDelete, "/v1/schedules/payments", adminToken, nil)
	assert.Equal(t, http.StatusNotFound, code)
}

// POST /v1/oncall takes Splunk On-Call style changes for a team whose
// schedule lives elsewhere: announced once, recorded, and /oncall knows.
func TestExternalOnCallChanges(t *testing.T) {
	clock := newOnCallClock("2026-12-08T10:00:00+01:00")
	tb := startBotAt(t, baseConfig(newDataPath(t), "teams:\n  - {name: payments, time_zone: Europe/Berlin}\n"), clock)
	pay := tb.join(t, "payments")
	for _, tc := range []struct {
		name  string
		body  map[string]any
		code  int
		field string
	}{
		{"unknown team", map[string]any{"ONCALL.TEAM_NAME": "billing", "ONCALL.USER_ID": "bob", "ONCALL.STATE": "on-call"}, http.StatusUnprocessableEntity, "ONCALL.TEAM_NAME"},
		{"unknown team, short names", map[string]any{"team": "billing", "user": "bob", "state": "on-call"}, http.StatusUnprocessableEntity, "team"},
		{"bad state", map[string]any{"team": "payments", "user": "bob", "state": "asleep"}, http.StatusBadRequest, "state"},
		{"no user", map[string]any{"team": "payments", "state": "on-call"}, http.StatusBadRequest, "ONCALL.USER_ID"},
		{"user not a string", map[string]any{"team": "payments", "user": 7, "state": "on-call"}, http.StatusBadRequest, "user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tb.do(t, http.MethodPost, "/v1/oncall", ingestToken, tc.body)
			assert.Equal(t, tc.code, code, "%v", out)
			assert.Equal(t, tc.field, out["field"], "%v", out)
		})
	}
	code, _ := tb.do(t, http.MethodPost, "/v1/oncall", "", map[string]any{"team": "payments", "user": "bob", "state": "on-call"})
	assert.Equal(t, http.StatusUnauthorized, code)

	on := map[string]any{"ONCALL.TEAM_NAME": "payments", "ONCALL.USER_ID": "bob", "ONCALL.STATE": "ON-CALL"}
	code, out := tb.do(t, http.MethodPost, "/v1/oncall", ingestToken, on)
	require.Equal(t, http.StatusAccepted, code, "%v", out)
	assert.Equal(t, true, out["changed"])
	code, out = tb.do(t, http.MethodPost, "/v1/oncall", ingestToken, on)
	require.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, false, out["changed"], "a repeat changes nothing")
	pay.waitFor(t, 5*time.Second, "the change", textHas("payments: bob is now on call (reported by the team's on-call tool)"))

	pay.say(t, "/oncall")
	ans := pay.waitFor(t, 5*time.Second, "the /oncall answer", isType("reply"))
	assert.Equal(t, "payments on call (times in Europe/Berlin):\nreported by the team's on-call tool: bob since Tue 8 Dec 10:00 CET", ans["text"])

	// A new incident in the team's room names who is on call.
	tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "oc-1", "entity_display_name": "Checkout down", "routing_key": "payments"})

	code, _ = tb.do(t, http.MethodPost, "/v1/oncall", ingestToken, map[string]any{"team": "payments", "user": "bob", "state": "off-call"})
	require.Equal(t, http.StatusAccepted, code)
	pay.waitFor(t, 5*time.Second, "the change", textHas("payments: bob is now off call"))
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, pay.countText("bob is now on call"), "once")
	_, body := tb.do(t, http.MethodGet, "/v1/teams/payments/timeline", adminToken, nil)
	var kinds []string
	for _, e := range body["entries"].([]any) {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	assert.Equal(t, []string{"oncall", "oncall"}, kinds, "both changes are on the team's timeline (the incident went to ops)")
}

const escalationConfig = paymentsSchedule + `routes:
  - name: payments
    matchers: ['routing_key="payments"']
    rooms: [payments]
    escalate:
      - {after: 5m, rooms: [ops], mention_oncall: true}
`

// An incident still unacknowledged after the route's after: is escalated
// once: an escalated event on its timeline, announced in the step's rooms
// and mirrored to its own; an ack one second before cancels it. A new
// incident's card names who is on call.
func TestEscalations(t *testing.T) {
	clock := newOnCallClock("2026-12-08T10:00:00+01:00")
	data := newDataPath(t)
	tb := startBotAt(t, baseConfig(data, escalationConfig), clock)
	pay, ops := tb.join(t, "payments"), tb.join(t, "ops")

	acked := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "esc-1", "entity_display_name": "Checkout slow", "routing_key": "payments"})["incident_id"])
	card := pay.waitFor(t, 5*time.Second, "the card", textHas("Checkout slow"))
	assert.Contains(t, card["text"], "\non call: bob", "the new incident's card names who is on call")
	tb.moveTo(clock, "2026-12-08T10:04:59+01:00")
	pay.say(t, fmt.Sprintf("/ack %d", acked))
	pay.waitFor(t, 5*time.Second, "the ack", isType("reply"))
	escalated := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "esc-2", "entity_display_name": "Checkout down", "routing_key": "payments"})["incident_id"])

	tb.moveTo(clock, "2026-12-08T10:05:00+01:00")
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, ops.countText("escalated"), "the acked incident is not escalated")

	tb.moveTo(clock, "2026-12-08T10:09:59+01:00")
	want := fmt.Sprintf("#%d escalated: Checkout down: unacknowledged for 5m, escalated to ops; on call: bob", escalated)
	ops.waitFor(t, 5*time.Second, "the escalation in the step's room", textHas(want))
	pay.waitFor(t, 5*time.Second, "the escalation mirrored to the incident's room", textHas(want))

	// Restart: nothing fires twice.
	tb.stop()
	tb = startBotAt(t, baseConfig(data, escalationConfig), clock)
	tb.moveTo(clock, "2026-12-08T11:00:00+01:00")
	ops = tb.join(t, "ops")
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, ops.countText("escalated"), "history holds the escalation once")
	var kinds []string
	for _, e := range tb.incident(t, escalated)["events"].([]any) {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	assert.Equal(t, []string{"triggered", "escalated"}, kinds)
	for _, e := range tb.incident(t, acked)["events"].([]any) {
		assert.NotEqual(t, "escalated", e.(map[string]any)["kind"])
	}
}

// An escalation due while sitrep was down fires once on start.
func TestEscalationDueDuringDowntime(t *testing.T) {
	clock := newOnCallClock("2026-12-08T10:00:00+01:00")
	data := newDataPath(t)
	tb := startBotAt(t, baseConfig(data, escalationConfig), clock)
	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "esc-3", "entity_display_name": "Refunds stuck", "routing_key": "payments"})["incident_id"])
	tb.stop()
	clock.set("2026-12-08T12:00:00+01:00")
	tb = startBotAt(t, baseConfig(data, escalationConfig), clock)
	require.Eventually(t, func() bool {
		evs := tb.incident(t, id)["events"].([]any)
		return len(evs) == 2 && evs[1].(map[string]any)["kind"] == "escalated"
	}, 5*time.Second, 10*time.Millisecond)
	ops := tb.join(t, "ops")
	ops.waitFor(t, 5*time.Second, "the escalation", textHas("escalated: Refunds stuck"))
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 1, ops.countText("escalated"))
	assert.True(t, strings.HasPrefix(tb.incident(t, id)["events"].([]any)[1].(map[string]any)["text"].(string), "unacknowledged for 5m"))
}

// On-Call and Off-Call outgoing webhooks fire on both kinds of change: a
// schedule's handoff and one another tool reports.
func TestOnCallChangesFireWebhooks(t *testing.T) {
	rcv := webhooktest.New(t)
	clock := newOnCallClock("2026-12-07T08:59:00+01:00")
	tb := startBotAt(t, baseConfig(newDataPath(t), paymentsSchedule+fmt.Sprintf(`webhooks:
  - name: on
    event: On-Call
    url: %[1]s/on
    payload: '{"user": "${{ONCALL.USER_ID}}", "team": "${{ONCALL.TEAM_NAME}}", "state": "${{ONCALL.STATE}}"}'
  - name: rotation
    event: Any-On-Call
    url: %[1]s/rotation
    payload: '{"group": "${{ONCALL.GROUP_ID}}"}'
  - name: off
    event: Off-Call
    url: %[1]s/off
    payload: '{"user": "${{ONCALL.USER_ID}}", "state": "${{ONCALL.STATE}}"}'
`, rcv.URL())), clock)

	tb.moveTo(clock, "2026-12-07T09:00:00+01:00")
	got := waitAccepted(t, rcv, 4)
	bodies := map[string]string{}
	for _, r := range got {
		bodies[r.Path] = string(r.Body)
	}
	assert.JSONEq(t, `{"user": "bob", "team": "payments", "state": "ON_CALL"}`, bodies["/on"])
	assert.JSONEq(t, `{"user": "alice", "state": "OFF_CALL"}`, bodies["/off"])
	assert.JSONEq(t, `{"group": "primary"}`, bodies["/rotation"], "the rotation is the group")

	code, _ := tb.do(t, http.MethodPost, "/v1/oncall", ingestToken, map[string]any{"team": "payments", "user": "erin", "state": "on-call"})
	require.Equal(t, http.StatusAccepted, code)
	got = waitAccepted(t, rcv, 5)
	assert.Equal(t, "/on", got[4].Path, "an external change has no rotation: the webhook naming it does not fire")
	assert.JSONEq(t, `{"user": "erin", "team": "payments", "state": "ON_CALL"}`, string(got[4].Body))
}
