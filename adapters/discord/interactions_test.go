package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
)

// answering is a handler that answers presses the way sitrep's commands do.
func answering(got chan<- adapters.Inbound) adapters.Handler {
	return func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		got <- in
		switch {
		case in.Action != nil && in.Action.IncidentID == 9:
			return adapters.Reply{Text: "incident #9 is already resolved", Private: true}, nil
		case in.Action != nil && in.Action.Verb == adapters.VerbAck:
			return adapters.Reply{Text: "acknowledged #42: db-1 down", Private: true}, nil
		case in.Command != "":
			if in.Text == "slow" {
				time.Sleep(answerWithin + 500*time.Millisecond)
			}
			return adapters.Reply{Text: "you said " + in.Text, Private: true}, nil
		}
		return adapters.Reply{}, nil
	}
}

func TestInteractions(t *testing.T) {
	got := make(chan adapters.Inbound, 10)
	f := newFixture(t, answering(got), nil)
	ch := f.fake.AddChannel()

	code, body := f.post(t, []byte(`{"type":1}`), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(1), body["type"], "PING → PONG")

	code, body = f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbAck, 42)), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(7), body["type"], "the card is updated in place")
	data := body["data"].(map[string]any)
	assert.Equal(t, float64(colorYellow), data["embeds"].([]any)[0].(map[string]any)["color"])
	rows := data["components"].([]any)
	require.Len(t, rows, 1)
	assert.Len(t, rows[0].(map[string]any)["components"].([]any), 1, "only Resolve after an ack")
	in := <-got
	assert.Equal(t, adapters.Action{Verb: adapters.VerbAck, IncidentID: 42}, *in.Action)
	assert.Equal(t, "alice", in.User)
	assert.Equal(t, "555", in.MessageID)
	assert.Equal(t, ch, in.RoomID)
	assert.NotEmpty(t, in.Key)

	code, body = f.post(t, press(ch, "555", "alice", CustomID(adapters.VerbResolve, 9)), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(4), body["type"])
	assert.Equal(t, float64(64), body["data"].(map[string]any)["flags"], "ephemeral")
	assert.Contains(t, body["data"].(map[string]any)["content"], "already resolved")
	<-got

	code, body = f.post(t, command(ch, "bob", CommandName, "list"), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "you said list", body["data"].(map[string]any)["content"])
	in = <-got
	assert.Equal(t, CommandName, in.Command)
	assert.Equal(t, "list", in.Text)

	// Slow: deferred within 3 s, then completed through the interaction's webhook.
	start := time.Now()
	code, body = f.post(t, command(ch, "bob", CommandName, "slow"), true)
	require.Equal(t, http.StatusOK, code)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, float64(5), body["type"])
	<-got
	require.Eventually(t, func() bool {
		for _, w := range f.fake.Webhooks() {
			if w.Method == http.MethodPatch && strings.HasSuffix(w.Path, "/messages/@original") && w.Body["content"] == "you said slow" {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
}

func TestInteractionsBadInput(t *testing.T) {
	got := make(chan adapters.Inbound, 10)
	f := newFixture(t, answering(got), nil)
	ch := f.fake.AddChannel()
	valid := press(ch, "555", "alice", CustomID(adapters.VerbAck, 42))
	signedAt := func(body []byte, at time.Time) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(body))
		f.sign(req, body, at)
		return req
	}
	replayed := signedAt(valid, time.Now())
	code, _ := do(t, replayed)
	require.Equal(t, http.StatusOK, code)
	<-got
	again := signedAt(valid, time.Now())
	again.Header = replayed.Header.Clone()

	tests := []struct {
		name string
		req  func() *http.Request
		code int
		priv bool // answered 200 with a private message
	}{
		{"unsigned", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(valid))
			return req
		}, http.StatusUnauthorized, false},
		{"bad signature", func() *http.Request {
			req := signedAt(valid, time.Now())
			req.Header.Set("X-Signature-Ed25519", strings.Repeat("ab", 64))
			return req
		}, http.StatusUnauthorized, false},
		{"signature of another body", func() *http.Request {
			req := signedAt([]byte(`{"type":1}`), time.Now())
			req.Body = http.NoBody
			req2, _ := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(valid))
			req2.Header = req.Header
			return req2
		}, http.StatusUnauthorized, false},
		{"stale timestamp", func() *http.Request { return signedAt(valid, time.Now().Add(-6*time.Minute)) }, http.StatusUnauthorized, false},
		{"future timestamp", func() *http.Request { return signedAt(valid, time.Now().Add(6*time.Minute)) }, http.StatusUnauthorized, false},
		{"replayed", func() *http.Request { return again }, http.StatusUnauthorized, false},
		{"malformed JSON", func() *http.Request { return signedAt([]byte(`{"type":`), time.Now()) }, http.StatusBadRequest, false},
		{"unknown type", func() *http.Request {
			return signedAt([]byte(`{"id":"1","type":99,"token":"t","channel_id":"`+ch+`","user":{"id":"1"}}`), time.Now())
		}, http.StatusBadRequest, false},
		{"body over 1 MiB", func() *http.Request { return signedAt(bytes.Repeat([]byte(" "), MaxInteractionBody+1), time.Now()) }, http.StatusRequestEntityTooLarge, false},
		{"unknown button", func() *http.Request { return signedAt(press(ch, "555", "alice", "other:thing"), time.Now()) }, http.StatusOK, true},
		{"unknown command", func() *http.Request { return signedAt(command(ch, "alice", "deploy", "x"), time.Now()) }, http.StatusOK, true},
		{"press with no message", func() *http.Request {
			return signedAt([]byte(`{"id":"1","type":3,"token":"t","channel_id":"`+ch+`","user":{"id":"1"},"data":{"custom_id":"sitrep:ack:1","component_type":2}}`), time.Now())
		}, http.StatusBadRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.req())
			assert.Equal(t, tc.code, code, "%v", body)
			if tc.priv {
				assert.Equal(t, float64(64), body["data"].(map[string]any)["flags"])
			}
		})
	}
	select {
	case in := <-got:
		t.Fatalf("bad input reached sitrep: %+v", in)
	default:
	}
}

func FuzzParseInteraction(f *testing.F) {
	f.Add([]byte(`{"type":1}`))
	f.Add(press("1", "2", "alice", "sitrep:ack:42"))
	f.Add(command("1", "alice", "sitrep", "ack 42"))
	f.Add([]byte(`{"id":"1","type":3,"token":"t","channel_id":"1","user":{"id":"1"},"message":{"id":"2"},"data":null}`))
	f.Add([]byte(`{"id":"1","type":2,"token":"t","channel_id":"1","member":{},"data":{"options":[null,{"name":"text","type":3,"value":5}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		i, err := ParseInteraction(body)
		if err != nil {
			return
		}
		_, _ = Inbound(i, "1")
		if i.Message != nil {
			_ = rerender(i.Message, 1, "acknowledged")
		}
	})
}

// A press sitrep is slow to answer is deferred (type 6) within
// Options.AnswerWithin, then completed through the interaction's webhook: an
// edit of the card when the press took effect, else a private follow-up.
func TestSlowPress(t *testing.T) {
	release := make(chan struct{})
	got := make(chan adapters.Inbound, 10)
	slow := func(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return adapters.Reply{}, ctx.Err()
		}
		return answering(got)(ctx, in)
	}
	failing := func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		<-release
		return adapters.Reply{}, errors.New("store unavailable")
	}
	for _, tc := range []struct {
		name    string
		handler adapters.Handler
		verb    adapters.Verb
		id      uint64
		check   func(t *testing.T, w discordtest.Webhook, token string)
	}{
		{"took effect: the card is edited", slow, adapters.VerbAck, 42, func(t *testing.T, w discordtest.Webhook, token string) {
			assert.Equal(t, http.MethodPatch, w.Method)
			assert.Equal(t, "/webhooks/800000000000000001/"+token+"/messages/@original", w.Path)
			embeds, _ := w.Body["embeds"].([]any)
			require.Len(t, embeds, 1, "%v", w.Body)
			assert.Equal(t, float64(colorYellow), embeds[0].(map[string]any)["color"])
			assert.Equal(t, "sitrep · acknowledged", embeds[0].(map[string]any)["footer"].(map[string]any)["text"])
			rows, _ := w.Body["components"].([]any)
			require.Len(t, rows, 1, "%v", w.Body)
			buttons := rows[0].(map[string]any)["components"].([]any)
			require.Len(t, buttons, 1, "only Resolve after an ack")
			assert.Equal(t, CustomID(adapters.VerbResolve, 42), buttons[0].(map[string]any)["custom_id"])
		}},
		{"answered: a private follow-up", slow, adapters.VerbResolve, 9, func(t *testing.T, w discordtest.Webhook, token string) {
			assert.Equal(t, http.MethodPost, w.Method)
			assert.Equal(t, "/webhooks/800000000000000001/"+token, w.Path)
			assert.Equal(t, "incident #9 is already resolved", w.Body["content"])
			assert.Equal(t, float64(discordgo.MessageFlagsEphemeral), w.Body["flags"])
		}},
		{"failed: a private follow-up", failing, adapters.VerbAck, 42, func(t *testing.T, w discordtest.Webhook, token string) {
			assert.Equal(t, http.MethodPost, w.Method)
			assert.Equal(t, "/webhooks/800000000000000001/"+token, w.Path)
			assert.Contains(t, w.Body["content"], "could not do that")
			assert.Equal(t, float64(discordgo.MessageFlagsEphemeral), w.Body["flags"])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.handler, func(o *Options) { o.AnswerWithin = 20 * time.Millisecond })
			ch := f.fake.AddChannel()
			body := press(ch, "555", "alice", CustomID(tc.verb, tc.id))
			var i struct {
				Token string `json:"token"`
			}
			require.NoError(t, json.Unmarshal(body, &i))

			code, resp := f.post(t, body, true)
			require.Equal(t, http.StatusOK, code)
			assert.Equal(t, float64(discordgo.InteractionResponseDeferredMessageUpdate), resp["type"], "deferred: %v", resp)
			assert.Nil(t, resp["data"])
			assert.Empty(t, f.fake.Webhooks(), "nothing follows before sitrep answers")

			release <- struct{}{}
			require.Eventually(t, func() bool { return len(f.fake.Webhooks()) == 1 }, 5*time.Second, 5*time.Millisecond, "the follow-up")
			tc.check(t, f.fake.Webhooks()[0], i.Token)
			time.Sleep(50 * time.Millisecond)
			assert.Len(t, f.fake.Webhooks(), 1, "one follow-up")
		})
	}
}
