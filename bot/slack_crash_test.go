package bot

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
)

// kill -9 right after Slack posted a card, before sitrep heard of it: on
// restart the card is posted again (Slack has no idempotency key), once and
// never more. kill -9 again once that card is stored, before anyone acks:
// after the restart a click on it updates that very message (same ts).
func TestSlackKill9BetweenPostAndAck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	var (
		mu    sync.Mutex
		srv   *child
		armed = true
	)
	fake := slacktest.New(t, slacktest.WithRateLimit(20, 50*time.Millisecond), slacktest.WithAfterPost(func(slacktest.Message) {
		mu.Lock()
		defer mu.Unlock()
		if armed {
			armed = false
			srv.kill9(t)
		}
	}))
	fake.AddChannel("C0PAY", true)
	fake.AddUser("alice")
	cfgPath := writeConfig(t, slackConfig(newDataPath(t), fake.URL()))

	mu.Lock()
	srv = startChild(t, cfgPath)
	mu.Unlock()
	id := uint64(num(srv.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "crash", "routing_key": "payments", "entity_display_name": "Checkout down"})["incident_id"]))
	require.Eventually(t, func() bool { return len(fake.Messages("C0PAY")) == 1 }, 10*time.Second, 5*time.Millisecond)
	_ = srv.cmd.Wait() // killed by the fake, Slack's answer unsent

	srv = startChild(t, cfgPath)
	require.Eventually(t, func() bool { return len(fake.Messages("C0PAY")) == 2 }, 10*time.Second, 5*time.Millisecond, "the card is posted again after the restart")
	time.Sleep(time.Second)
	require.Len(t, fake.Messages("C0PAY"), 2, "one duplicate, never more")
	card := fake.Messages("C0PAY")[1]

	srv.kill9(t)
	srv = startChild(t, cfgPath)
	fake.SetApp(srv.URL, slackSecret)
	r, err := fake.Press(context.Background(), "C0PAY", "alice", card.TS, slackadapter.ActionAck, fmt.Sprint(id))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "acknowledged", srv.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := fake.Message("C0PAY", card.TS); return m.Updates == 1 }, 10*time.Second, 5*time.Millisecond,
		"the stored card is updated in place")
	m, _ := fake.Message("C0PAY", card.TS)
	assert.Equal(t, []string{slackadapter.ActionResolve}, m.Actions())
	assert.Len(t, fake.Messages("C0PAY"), 2, "no new card")
}
