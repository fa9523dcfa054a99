package discord

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/inbox"
)

// slowInbox stores slowly, then fails or succeeds, and records what happened.
type slowInbox struct {
	delay time.Duration
	err   error

	mu      sync.Mutex
	stored  time.Time // when Store returned
	handled []adapters.Inbound
}

func (s *slowInbox) Store(context.Context, adapters.Inbound) (inbox.Ticket, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = time.Now()
	return 1, s.err
}

func (s *slowInbox) Handle(_ context.Context, _ inbox.Ticket, in adapters.Inbound) (adapters.Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled = append(s.handled, in)
	return adapters.Reply{Text: "acknowledged #42", Private: true}, nil
}

func TestNothingAnsweredBeforeStored(t *testing.T) {
	t.Run("store fails", func(t *testing.T) {
		ib := &slowInbox{delay: answerWithin + 300*time.Millisecond, err: errors.New("disk full")}
		f := newFixture(t, nil, func(o *Options) { o.Inbox = ib })
		ch := f.fake.AddChannel()
		code, _ := f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbAck, 42)), true)
		assert.Equal(t, http.StatusInternalServerError, code, "a failure, not a deferred ack of nothing")
		ib.mu.Lock()
		defer ib.mu.Unlock()
		assert.Empty(t, ib.handled)
	})
	t.Run("store slow", func(t *testing.T) {
		ib := &slowInbox{delay: answerWithin + 300*time.Millisecond}
		f := newFixture(t, nil, func(o *Options) { o.Inbox = ib })
		ch := f.fake.AddChannel()
		code, _ := f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbAck, 42)), true)
		answered := time.Now()
		require.Equal(t, http.StatusOK, code)
		ib.mu.Lock()
		defer ib.mu.Unlock()
		require.False(t, ib.stored.IsZero())
		assert.True(t, ib.stored.Before(answered), "stored before Discord was answered")
	})
}

func TestInteractionStoredInTheInbox(t *testing.T) {
	got := make(chan adapters.Inbound, 10)
	var ib *inbox.Inbox
	f := newFixture(t, nil, func(o *Options) {
		ib = inbox.New(o.Cards.db, answering(got), inbox.Options{})
		o.Inbox = ib
	})
	ch := f.fake.AddChannel()
	// Discord retrying the same interaction (a new signature each time) is
	// taken once.
	for _, tc := range []struct {
		body  []byte
		again func(map[string]any)
	}{
		{press(ch, "555", "alice", CustomID(adapters.VerbAck, 42)), func(body map[string]any) {
			assert.Equal(t, float64(6), body["type"], "an empty deferred update")
		}},
		{command(ch, "alice", CommandName, "list"), func(body map[string]any) {
			assert.Equal(t, float64(4), body["type"])
			data := body["data"].(map[string]any)
			assert.Equal(t, float64(64), data["flags"], "ephemeral")
			assert.Contains(t, data["content"], "already received")
		}},
	} {
		code, _ := f.post(t, tc.body, true)
		require.Equal(t, http.StatusOK, code)
		<-got
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(tc.body))
		require.NoError(t, err)
		f.sign(req, tc.body, time.Now().Add(time.Second))
		code, body := do(t, req)
		require.Equal(t, http.StatusOK, code)
		tc.again(body)
	}
	select {
	case in := <-got:
		t.Fatalf("a retry was handled again: %+v", in)
	default:
	}
	n, err := ib.Replay(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "handled and cleared")
}
