package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
)

// recorder is a Handler that keeps what it got and answers with reply.
type recorder struct {
	mu    sync.Mutex
	got   []adapters.Inbound
	reply adapters.Reply
	delay time.Duration
}

func (r *recorder) handle(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, in)
	return r.reply, nil
}

func (r *recorder) inbounds() []adapters.Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]adapters.Inbound(nil), r.got...)
}

func form(v url.Values) []byte { return []byte(v.Encode()) }

func interactionBody(t *testing.T, actionID, value, channel string) []byte {
	t.Helper()
	p := map[string]any{
		"type": "block_actions", "trigger_id": "tr-" + actionID + value + channel, "response_url": "",
		"user": map[string]any{"id": slacktest.UserID("alice"), "name": "alice"}, "channel": map[string]any{"id": channel},
		"container": map[string]any{"type": "message", "message_ts": "1.000001", "channel_id": channel},
		"actions":   []any{map[string]any{"action_id": actionID, "block_id": "b", "type": "button", "value": value, "action_ts": "2.000001"}},
	}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return form(url.Values{"payload": {string(raw)}})
}

func TestInboundRefusals(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, rec.handle, func(o *slackadapter.Options) {
		o.Known = func(id string) bool { return id == chanOps }
	})
	ctx := ctxT(t)
	now := time.Now()
	command := form(url.Values{"command": {"/sitrep"}, "text": {"ack 1"}, "channel_id": {chanOps}, "user_id": {slacktest.UserID("alice")}, "trigger_id": {"t1"}})
	event, _ := f.fake.Event(slacktest.MessageEvent{Type: "message", Channel: chanOps, User: slacktest.UserID("alice"), Text: "hi", TS: "5.000001"})
	reaction, _ := f.fake.Event(map[string]any{"type": "reaction_added", "user": "U1", "reaction": "eyes"})
	for _, tc := range []struct {
		name   string
		path   string
		body   []byte
		secret string
		at     time.Time
		header http.Header
		status int
		reason string
	}{
		{"wrong signature", slackadapter.CommandsPath, command, "not-the-secret", now, nil, 401, "does not match"},
		{"no signature", slackadapter.CommandsPath, command, "", now, http.Header{"X-Slack-Signature": {""}}, 401, "x-slack-signature"},
		{"stale timestamp", slackadapter.CommandsPath, command, secret, now.Add(-6 * time.Minute), nil, 401, "stale"},
		{"future timestamp", slackadapter.EventsPath, event, secret, now.Add(6 * time.Minute), nil, 401, "stale"},
		{"no timestamp", slackadapter.EventsPath, event, secret, now, http.Header{"X-Slack-Request-Timestamp": {""}}, 401, "timestamp"},
		{"body over 1 MiB", slackadapter.EventsPath, []byte(`{"type":"event_callback","x":"` + strings.Repeat("a", slackadapter.MaxBody) + `"}`), secret, now, nil, 413, "larger"},
		{"malformed event", slackadapter.EventsPath, []byte(`{"type":`), secret, now, nil, 400, "not an Events API event"},
		{"unused event type", slackadapter.EventsPath, reaction, secret, now, nil, 400, "subscribes"},
		{"unused outer type", slackadapter.EventsPath, []byte(`{"type":"app_uninstalled_team"}`), secret, now, nil, 400, "not one sitrep uses"},
		{"malformed interaction", slackadapter.InteractionsPath, form(url.Values{"payload": {"{nope"}}), secret, now, nil, 400, "payload"},
		{"interaction with no payload", slackadapter.InteractionsPath, form(url.Values{}), secret, now, nil, 400, "payload"},
		{"unknown action_id", slackadapter.InteractionsPath, interactionBody(t, "delete_everything", "1", chanOps), secret, now, nil, 400, "unknown action_id"},
		{"action with no incident", slackadapter.InteractionsPath, interactionBody(t, slackadapter.ActionAck, "x", chanOps), secret, now, nil, 400, "incident ID"},
		{"action from an unknown channel", slackadapter.InteractionsPath, interactionBody(t, slackadapter.ActionAck, "1", "C0ELSE"), secret, now, nil, 403, "not a sitrep room"},
		{"another app's command", slackadapter.CommandsPath, form(url.Values{"command": {"/other"}, "channel_id": {chanOps}, "user_id": {"U1"}}), secret, now, nil, 400, "not sitrep's command"},
		{"command with no channel", slackadapter.CommandsPath, form(url.Values{"command": {"/sitrep"}, "user_id": {"U1"}}), secret, now, nil, 400, "channel_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := slacktest.Post(ctx, f.srv.URL+tc.path, "application/x-www-form-urlencoded", tc.secret, tc.at, tc.body, tc.header)
			require.NoError(t, err)
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			assert.Contains(t, string(r.Body), tc.reason)
		})
	}
	assert.Empty(t, rec.inbounds(), "nothing refused reached sitrep")

	// A command from a channel that is no sitrep room: a private answer, nothing handled.
	r, err := slacktest.Post(ctx, f.srv.URL+slackadapter.CommandsPath, "application/x-www-form-urlencoded", secret, now,
		form(url.Values{"command": {"/sitrep"}, "text": {"ack 1"}, "channel_id": {"C0ELSE"}, "user_id": {"U1"}}), nil)
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status)
	assert.Contains(t, string(r.Body), `"response_type":"ephemeral"`)
	assert.Contains(t, string(r.Body), "not a sitrep room")
	assert.Empty(t, rec.inbounds())

	// A good request is taken once; the same request again is a replay.
	r, err = slacktest.Post(ctx, f.srv.URL+slackadapter.CommandsPath, "application/x-www-form-urlencoded", secret, now, command, nil)
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status, "%s", r.Body)
	r, err = slacktest.Post(ctx, f.srv.URL+slackadapter.CommandsPath, "application/x-www-form-urlencoded", secret, now, command, nil)
	require.NoError(t, err)
	assert.Equal(t, 401, r.Status)
	assert.Contains(t, string(r.Body), "replayed")
	require.Len(t, rec.inbounds(), 1)
	assert.Equal(t, adapters.Inbound{Platform: "slack", RoomID: chanOps, User: "alice", UserID: "U616C696365", Command: "ack", Text: "1", Key: "command:t1"}, withoutTime(rec.inbounds()[0]))

	// url_verification answers the challenge.
	r, err = slacktest.Post(ctx, f.srv.URL+slackadapter.EventsPath, "application/json", secret, now, []byte(`{"type":"url_verification","challenge":"abc123","token":"x"}`), nil)
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status)
	assert.JSONEq(t, `{"challenge":"abc123"}`, string(r.Body))
}

func withoutTime(in adapters.Inbound) adapters.Inbound {
	in.Time = time.Time{}
	return in
}

// Slash commands: quick answers in the response, ephemeral when private;
// slow ones through response_url.
func TestSlashCommandAnswers(t *testing.T) {
	rec := &recorder{reply: adapters.Reply{Text: "incidents: none", Private: true}}
	f := newFixture(t, rec.handle, func(o *slackadapter.Options) { o.AckWithin = 200 * time.Millisecond })
	ctx := ctxT(t)
	r, err := f.fake.Command(ctx, chanOps, "alice", "/sitrep", "incidents")
	require.NoError(t, err)
	assert.JSONEq(t, `{"response_type":"ephemeral","text":"incidents: none"}`, string(r.Body))
	in := rec.inbounds()[0]
	assert.Equal(t, "incidents", in.Command)
	assert.Equal(t, "alice", in.User)

	rec.mu.Lock()
	rec.reply, rec.delay = adapters.Reply{Text: "acknowledged #1: db down"}, time.Second
	rec.mu.Unlock()
	start := time.Now()
	r, err = f.fake.Command(ctx, chanOps, "alice", "/sitrep", "ack 1")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "answered before the handler is done")
	assert.Empty(t, r.Body)
	require.Eventually(t, func() bool {
		for _, x := range f.fake.Responses() {
			if x.Text == "acknowledged #1: db down" {
				return x.ResponseType == "in_channel"
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the slow answer follows through response_url")
}

// Events: Slack's retries are applied once (the inbox dedupes by event_id,
// durably); bots, sitrep's own posts, edits and deletes never come back; a
// reply in a card's thread is chat on its incident.
func TestEvents(t *testing.T) {
	rec := &recorder{}
	var ib *inbox.Inbox
	f := newFixture(t, func(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) { return ib.Receive(ctx, in) }, nil)
	ib = inbox.New(f.db, rec.handle, inbox.Options{})
	ctx := ctxT(t)
	card, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Msg: cardMsg(7)})
	require.NoError(t, err)

	alice := slacktest.UserID("alice")
	body, _ := f.fake.Event(slacktest.MessageEvent{Type: "message", Channel: chanOps, User: alice, Text: "restarting it", TS: "9.000001", ThreadTS: card})
	for i := range 3 {
		h := http.Header{}
		if i > 0 {
			h.Set("X-Slack-Retry-Num", "1")
			h.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		time.Sleep(1100 * time.Millisecond * time.Duration(min(i, 1))) // a retry is signed anew, at a later second
		r, err := f.fake.SendEvent(ctx, body, h)
		require.NoError(t, err)
		assert.Equal(t, 200, r.Status, "%s", r.Body)
	}
	got := rec.inbounds()
	require.Len(t, got, 1, "Slack's retries are applied once")
	assert.Equal(t, "#7 restarting it", got[0].Text, "a thread reply is chat on the card's incident")
	assert.Equal(t, "alice", got[0].User)

	for _, ev := range []slacktest.MessageEvent{
		{Type: "message", Channel: chanOps, BotID: "B0OTHER", Text: "a bot", TS: "10.000001"},
		{Type: "message", Subtype: "bot_message", Channel: chanOps, Text: "a bot", TS: "10.000002"},
		{Type: "message", Channel: chanOps, User: slacktest.BotUser, Text: "#7 triggered CRITICAL: db-1 down", TS: card},
		{Type: "message", Subtype: "message_changed", Channel: chanOps, Text: "", TS: "10.000003"},
		{Type: "message", Subtype: "message_deleted", Channel: chanOps, TS: "10.000004"},
		{Type: "message", Channel: "C0ELSE", User: alice, Text: "elsewhere", TS: "10.000005"},
	} {
		b, _ := f.fake.Event(ev)
		r, err := f.fake.SendEvent(ctx, b, nil)
		require.NoError(t, err)
		assert.Equal(t, 200, r.Status, "%s", r.Body)
	}
	assert.Len(t, rec.inbounds(), 1, "none of those is taken")

	_, _, err = f.fake.Say(ctx, chanOps, "bob", "anyone around?", "")
	require.NoError(t, err)
	got = rec.inbounds()
	require.Len(t, got, 2)
	assert.Equal(t, "anyone around?", got[1].Text, "other chat goes through as typed")
	assert.Equal(t, "bob", got[1].User)
}

// Button presses are as the Slack user's display name (users.info, cached),
// answered privately through response_url.
func TestPressAnswers(t *testing.T) {
	rec := &recorder{reply: adapters.Reply{Text: "#7 is already resolved", Private: true}}
	f := newFixture(t, rec.handle, nil)
	ctx := ctxT(t)
	card, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Msg: cardMsg(7)})
	require.NoError(t, err)
	for range 2 {
		r, err := f.fake.Press(ctx, chanOps, "alice", card, slackadapter.ActionAck, "7")
		require.NoError(t, err)
		assert.Equal(t, 200, r.Status, "%s", r.Body)
	}
	got := rec.inbounds()
	require.Len(t, got, 2)
	assert.Equal(t, &adapters.Action{Verb: adapters.VerbAck, IncidentID: 7}, got[0].Action)
	assert.Equal(t, card, got[0].MessageID)
	assert.Equal(t, "alice", got[0].User)
	assert.Equal(t, 1, f.fake.UsersInfoCalls(), "display names are cached")
	require.Eventually(t, func() bool {
		rs := f.fake.Responses()
		return len(rs) == 2 && rs[0].ResponseType == "ephemeral" && rs[0].User == slacktest.UserID("alice")
	}, 5*time.Second, 10*time.Millisecond)
}

// A replay is refused however the signature's hex is spelled: Slack's
// verifier takes upper-case hex as the same signature.
func TestReplayWithUpperCaseSignature(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, rec.handle, nil)
	ctx := ctxT(t)
	now := time.Now()
	body := form(url.Values{"command": {"/sitrep"}, "text": {"ack 1"}, "channel_id": {chanOps}, "user_id": {slacktest.UserID("alice")}, "trigger_id": {"t-upper"}})
	r, err := slacktest.Post(ctx, f.srv.URL+slackadapter.CommandsPath, "application/x-www-form-urlencoded", secret, now, body, nil)
	require.NoError(t, err)
	require.Equal(t, 200, r.Status, "%s", r.Body)

	sig := slacktest.Sign(secret, now, body).Get("X-Slack-Signature")
	upper := http.Header{"X-Slack-Signature": {"v0=" + strings.ToUpper(strings.TrimPrefix(sig, "v0="))}}
	r, err = slacktest.Post(ctx, f.srv.URL+slackadapter.CommandsPath, "application/x-www-form-urlencoded", secret, now, body, upper)
	require.NoError(t, err)
	assert.Equal(t, 401, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "replayed")
	assert.Len(t, rec.inbounds(), 1, "applied once")
}

// failingInbox cannot store anything.
type failingInbox struct{}

func (failingInbox) Store(context.Context, adapters.Inbound) (inbox.Ticket, error) {
	return 0, errors.New("inbox: store: database timeout")
}

func (failingInbox) Handle(context.Context, inbox.Ticket, adapters.Inbound) (adapters.Reply, error) {
	return adapters.Reply{}, errors.New("nothing was stored")
}

// Slack is answered only once the Inbound is stored, however long the store
// takes (no 2 s timer races it); a store that fails is a 500, so Slack
// sends it again; a retry already stored is a 200 with nothing handled.
func TestAnsweredOnlyOnceStored(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, nil, func(o *slackadapter.Options) { o.Inbox = inbox.New(o.DB, rec.handle, inbox.Options{}) })
	go func() {
		_ = f.db.Update(context.Background(), func(*bolt.Tx) error { time.Sleep(3 * time.Second); return nil })
	}()
	time.Sleep(20 * time.Millisecond)
	body, _ := f.fake.Event(slacktest.MessageEvent{Type: "message", Channel: chanOps, User: slacktest.UserID("alice"), Text: "db-1 is back", TS: "9.000001"})
	r, err := f.fake.SendEvent(ctxT(t), body, nil)
	require.NoError(t, err)
	require.Equal(t, 200, r.Status, "%s", r.Body)
	stored := 0
	_ = f.db.View(func(tx *bolt.Tx) error { stored = tx.Bucket(storage.BucketInboxSeen).Stats().KeyN; return nil })
	assert.NotZero(t, stored, "Slack got 200 while the event was not yet in the inbox")

	time.Sleep(1100 * time.Millisecond) // a retry is signed anew, at a later second
	r, err = f.fake.SendEvent(ctxT(t), body, http.Header{"X-Slack-Retry-Num": {"1"}})
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Len(t, rec.inbounds(), 1, "the retry is not handled again")

	g := newFixture(t, nil, func(o *slackadapter.Options) { o.Inbox = failingInbox{} })
	_, r, err = g.fake.Say(ctxT(t), chanOps, "alice", "db-1 is back", "")
	require.NoError(t, err)
	assert.Equal(t, 500, r.Status, "not stored: Slack must send it again")
}

// A button whose value names another incident than the card it is on is
// refused, privately, and nothing reaches sitrep.
func TestPressOnAnotherIncidentsCard(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t, rec.handle, nil)
	ctx := ctxT(t)
	card, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Msg: cardMsg(7)})
	require.NoError(t, err)
	r, err := f.fake.Press(ctx, chanOps, "alice", card, slackadapter.ActionResolve, "8")
	require.NoError(t, err)
	assert.Equal(t, 200, r.Status, "%s", r.Body)
	require.Eventually(t, func() bool {
		rs := f.fake.Responses()
		return len(rs) == 1 && rs[0].ResponseType == "ephemeral" && rs[0].User == slacktest.UserID("alice") && strings.Contains(rs[0].Text, "#7")
	}, 5*time.Second, 10*time.Millisecond, "refused privately: %v", f.fake.Responses())
	assert.Empty(t, rec.inbounds(), "nothing was handed over")

	_, err = f.fake.Press(ctx, chanOps, "alice", card, slackadapter.ActionResolve, "7")
	require.NoError(t, err)
	assert.Len(t, rec.inbounds(), 1, "the card's own button works")
}
