package bot

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
)

// Against the real binary: a schedule put through the API whose handoffs
// are seconds away (an override) is announced exactly once per handoff in
// each team room, web rooms and HipChat, though the process is killed -9
// between the two handoffs.
func TestKill9BetweenHandoffs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	hc := hipchattest.New(t)
	hc.AddRoom("101", payToken)
	cfgPath := writeConfig(t, teamConfig(newDataPath(t), hc.URL(), ""))
	srv := startChild(t, cfgPath)

	now := time.Now()
	from, until := now.Add(4*time.Second).Truncate(time.Second), now.Add(14*time.Second).Truncate(time.Second)
	code, out := srv.do(t, http.MethodPut, "/v1/schedules/payments", adminToken, map[string]any{
		"rotations": []any{map[string]any{"name": "primary", "type": "weekly", "shift_length": 1,
			"start": now.Add(-time.Hour).Format(time.RFC3339), "participants": []string{"alice", "bob"}}},
		"overrides": []any{map[string]any{"user": "dave", "start": from.Format(time.RFC3339), "end": until.Format(time.RFC3339)}},
	})
	require.Equal(t, http.StatusOK, code, "%v", out)

	require.Eventually(t, func() bool { return hcCount(hc, "alice → dave") == 1 }, 15*time.Second, 20*time.Millisecond, "the first handoff")
	time.Sleep(300 * time.Millisecond) // let the outbox record the delivery
	require.True(t, time.Now().Before(until), "the machine was too slow to kill between the handoffs")
	srv.kill9(t)

	srv = startChild(t, cfgPath)
	require.Eventually(t, func() bool { return hcCount(hc, "dave → alice") == 1 }, 30*time.Second, 20*time.Millisecond, "the second handoff")
	for _, room := range []string{"payments", "pay-2"} {
		c := srv.join(t, room)
		c.waitFor(t, 5*time.Second, "the second handoff in "+room, textHas("dave → alice"))
		time.Sleep(200 * time.Millisecond)
		assert.Equal(t, 1, c.countText("alice → dave"), room)
		assert.Equal(t, 1, c.countText("dave → alice"), room)
	}
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, 1, hcCount(hc, "alice → dave"))
	assert.Equal(t, 1, hcCount(hc, "dave → alice"))
}
