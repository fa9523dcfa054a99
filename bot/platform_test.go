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

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance/fakechat"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/timeline"
)

// A platform is one descriptor appended to the list: no other change, and
// sitrep posts cards with buttons there, threads replies under them, updates
// them in place through the outbox, and takes button presses back.
func TestAPlatformIsOneDescriptor(t *testing.T) {
	fake := fakechat.New("fakeplat", adapters.Capabilities{Edit: true, Threads: true, Buttons: true, PrivateReplies: true})
	fake.SetLimit(3, time.Second) // answers 429 beyond 3 deliveries in any second, per room; sitrep paces one per 420 ms
	tb := startBotWith(t, baseConfig(newDataPath(t), ""), append(platforms.All(), fake.Descriptor(platform.Limit{Messages: 1, Per: 400 * time.Millisecond})))
	ctx := context.Background()

	code, body := tb.do(t, http.MethodPut, "/v1/rooms/war-room", adminToken, map[string]any{"platform": "fakeplat", "id": "F1"})
	require.Equal(t, http.StatusCreated, code, "%v", body)
	code, body = tb.do(t, http.MethodPut, "/v1/routes", adminToken, map[string]any{"routes": []any{
		map[string]any{"name": "fake", "matchers": []string{`routing_key="fake"`}, "rooms": []string{"war-room", "ops"}, "message": "WAR ROOM: ${{ALERT.entity_display_name}}"},
	}})
	require.Equal(t, http.StatusOK, code, "%v", body)
	ops := tb.join(t, "ops")

	id := uint64(num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "fake-1", "routing_key": "fake", "entity_display_name": "Queue stuck"})["incident_id"]))
	var card fakechat.Message
	require.Eventually(t, func() bool {
		shown := fake.Shown("F1")
		if len(shown) == 0 {
			return false
		}
		card = shown[0]
		return true
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "WAR ROOM: Queue stuck", card.Msg.Text)
	assert.Equal(t, []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}, card.Actions)
	ops.waitFor(t, 5*time.Second, "the alert in the web room", textHas("WAR ROOM: Queue stuck"))

	// A press on the card acknowledges the incident; the answer is private.
	reply, err := fake.Press(ctx, "F1", "carol", card.ID, adapters.VerbAck)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("acknowledged #%d: Queue stuck", id), reply.Text)
	assert.True(t, reply.Private)
	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := fake.Message("F1", card.ID); return m.Updates == 1 }, 5*time.Second, 5*time.Millisecond)
	updated, _ := fake.Message("F1", card.ID)
	assert.Equal(t, timeline.StateAcknowledged, updated.Msg.State, "the card shows the new state, in place")
	assert.Equal(t, fmt.Sprintf("#%d acknowledged by carol\nWAR ROOM: Queue stuck", id), updated.Msg.Text, "says who acked, and keeps its route's text")
	assert.Equal(t, []adapters.Verb{adapters.VerbResolve}, updated.Actions, "after an ack only Resolve is offered")
	ops.waitFor(t, 5*time.Second, "the ack in the web room", textHas("acknowledged by carol"))
	for _, m := range fake.Shown("F1") {
		if m.ID != card.ID {
			assert.NotContains(t, m.Msg.Text, "acknowledged by carol", "no echo of the press into its own room (its card says it)")
		}
	}

	// Chat from the web room goes under the card, in its thread.
	ops.say(t, fmt.Sprintf("#%d draining the queue", id))
	require.Eventually(t, func() bool {
		for _, m := range fake.Shown("F1") {
			if strings.Contains(m.Msg.Text, "draining the queue") {
				return m.Parent == card.ID
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "a reply under the card")

	// A room may keep its platform's threads off: then events post in the room.
	code, body = tb.do(t, http.MethodPut, "/v1/rooms/war-room", adminToken, map[string]any{"platform": "fakeplat", "id": "F1", "threads": false})
	require.Equal(t, http.StatusOK, code, "%v", body)
	ops.say(t, fmt.Sprintf("#%d queue drained", id))
	require.Eventually(t, func() bool {
		for _, m := range fake.Shown("F1") {
			if strings.Contains(m.Msg.Text, "queue drained") {
				return m.Parent == ""
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "a post in the room, not a reply")

	// A platform retrying an inbound it already delivered: applied once.
	before := len(tb.incident(t, id)["events"].([]any))
	retry := adapters.Inbound{Platform: "fakeplat", RoomID: "F1", User: "dave", Text: fmt.Sprintf("#%d cache flushed", id), Key: "evt-42"}
	for range 3 {
		_, err := tb.inbox.Receive(ctx, retry)
		require.NoError(t, err)
	}
	assert.Len(t, tb.incident(t, id)["events"].([]any), before+1)

	// Every delivery passed the room's token bucket: the platform never had to say 429.
	for _, d := range fake.Deliveries("F1") {
		_, limited := adapters.RetryAfter(d.Err)
		assert.False(t, limited, "delivery %s %s was over the platform's limit", d.Op, d.Key)
	}
}
