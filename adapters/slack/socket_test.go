package slack_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
)

// Socket Mode: presses and slash commands come over the socket and are
// acked; after Slack drops the socket the adapter reconnects and the next
// press works.
func TestSocketMode(t *testing.T) {
	rec := &recorder{reply: adapters.Reply{Text: "acknowledged #7: db-1 down", Private: true}}
	f := newFixture(t, rec.handle, func(o *slackadapter.Options) { o.AppToken = slacktest.AppToken; o.SigningSecret = "" })
	f.fake.SetApp("", "") // no Request URLs: only the socket
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.client.RunSocket(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("RunSocket did not stop")
		}
	})
	require.Eventually(t, f.fake.SocketOpen, 5*time.Second, 10*time.Millisecond)

	card, err := f.client.Deliver(ctxT(t), adapters.Delivery{Room: room, Msg: cardMsg(7)})
	require.NoError(t, err)
	_, err = f.fake.Press(ctxT(t), chanOps, "alice", card, slackadapter.ActionAck, "7")
	require.NoError(t, err, "the press is acked")
	require.Len(t, rec.inbounds(), 1)
	assert.Equal(t, &adapters.Action{Verb: adapters.VerbAck, IncidentID: 7}, rec.inbounds()[0].Action)

	r, err := f.fake.Command(ctxT(t), chanOps, "alice", "/sitrep", "ack 7")
	require.NoError(t, err)
	assert.JSONEq(t, `{"response_type":"ephemeral","text":"acknowledged #7: db-1 down"}`, string(r.Body), "the ack carries the answer")

	opened := f.fake.ConnectionsOpened()
	f.fake.DropSockets()
	require.Eventually(t, func() bool { return f.fake.SocketOpen() && f.fake.ConnectionsOpened() > opened }, 10*time.Second, 10*time.Millisecond, "reconnected")
	_, err = f.fake.Press(ctxT(t), chanOps, "bob", card, slackadapter.ActionResolve, "7")
	require.NoError(t, err)
	require.Len(t, rec.inbounds(), 3)
	assert.Equal(t, "bob", rec.inbounds()[2].User)
	assert.Equal(t, adapters.VerbResolve, rec.inbounds()[2].Action.Verb)
}

// runSocket runs the adapter's Socket Mode until the test ends, once the
// fake sees the connection open.
func runSocket(t *testing.T, f *fixture) {
	t.Helper()
	f.fake.SetApp("", "") // no Request URLs: only the socket
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.client.RunSocket(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, f.fake.SocketOpen, 5*time.Second, 10*time.Millisecond)
}

func socketOptions(o *slackadapter.Options) { o.AppToken = slacktest.AppToken; o.SigningSecret = "" }

// A request sitrep failed to take is not acked, so Slack sends it again.
func TestSocketDoesNotAckFailedEvent(t *testing.T) {
	failing := func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{}, errors.New("inbox: store: database timeout")
	}
	f := newFixture(t, failing, socketOptions)
	runSocket(t, f)
	_, r, err := f.fake.Say(ctxT(t), chanOps, "alice", "db-1 is back", "")
	assert.Error(t, err, "a failed event must not be acked (got ack %d %s)", r.Status, r.Body)
}

// Envelopes are handled side by side: three messages at once, each taking
// 1.5 s to handle, are all acked within Slack's 3 s.
func TestSocketHandlesEnvelopesConcurrently(t *testing.T) {
	rec := &recorder{delay: 1500 * time.Millisecond}
	f := newFixture(t, rec.handle, socketOptions)
	runSocket(t, f)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			_, _, errs[i] = f.fake.Say(ctxT(t), chanOps, "alice", fmt.Sprintf("message %d", i), "")
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "message %d acked within 3 s", i)
	}
	assert.Len(t, rec.inbounds(), 3)
}
