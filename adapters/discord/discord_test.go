package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/timeline"
)

func triggered(text string) adapters.Message {
	return adapters.Message{IncidentID: 42, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "db-1 down", Text: text,
		Fields: map[string]string{"host": "db-1"}, Actions: []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}}
}

func TestNonceRetryPostsOnce(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := adapters.Room{Name: "ops", ID: f.fake.AddChannel()}
	d := adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: triggered("@everyone db down"), Key: "ops:7"}
	var made atomic.Int32
	f.fake.AfterCreate(func(discordtest.Message) { made.Add(1) })
	first, err := f.c.Deliver(context.Background(), d)
	require.NoError(t, err)
	again, err := f.c.Deliver(context.Background(), d)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a retry of the same outbox entry gets the message already posted")
	msgs := f.fake.Messages(room.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, Nonce("ops:7"), msgs[0].Nonce)
	assert.LessOrEqual(t, len(msgs[0].Nonce), MaxNonce)
	assert.Equal(t, 2, f.fake.NonceUses(msgs[0].Nonce), "both creates carried the nonce")
	assert.Equal(t, int32(1), made.Load(), "the second create made no message")
	assert.JSONEq(t, `{"parse":[],"replied_user":false}`, string(msgs[0].Mentions), "an alert saying @everyone pings no one")
	assert.Equal(t, []string{CustomID(adapters.VerbAck, 42), CustomID(adapters.VerbResolve, 42)}, msgs[0].Buttons)
	card, ok := f.c.opts.Cards.Get(first)
	require.True(t, ok, "the card is mapped to its incident")
	assert.Equal(t, Card{Incident: 42, Channel: room.ID}, card)
}

func TestEmbedLimits(t *testing.T) {
	c := &Client{opts: Options{Now: time.Now}}
	fields := map[string]string{}
	for i := range 40 {
		fields[strings.Repeat("k", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 1024)
	}
	e := c.embed(adapters.Message{IncidentID: 1, Title: strings.Repeat("t", 400), Text: strings.Repeat("d", 5000), Fields: fields})
	assert.LessOrEqual(t, len([]rune(e.Title)), MaxEmbedTitle)
	assert.LessOrEqual(t, len([]rune(e.Description)), MaxEmbedDescription)
	assert.LessOrEqual(t, len(e.Fields), MaxEmbedFields)
	assert.LessOrEqual(t, embedLen(e), MaxEmbedTotal)
	assert.True(t, strings.HasSuffix(e.Title, truncMarker))
}

func TestRateLimitsComeBackThroughTheOutbox(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := adapters.Room{Name: "ops", ID: f.fake.AddChannel()}
	post := func(key string) error {
		_, err := f.c.Deliver(context.Background(), adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: adapters.Message{Text: "hi " + key}, Key: key})
		return err
	}
	for i := range 5 {
		require.NoError(t, post("k"+string(rune('0'+i))))
	}
	err := post("k6")
	after, limited := adapters.RetryAfter(err)
	require.True(t, limited, "the bucket is empty: %v", err)
	assert.InDelta(t, (5 * time.Second).Seconds(), after.Seconds(), 0.5, "the wait the bucket's reset-after gives")
	_, served429, _ := f.fake.Counts()
	assert.Zero(t, served429, "an empty bucket is known before asking")
}

func TestRetryAfter429(t *testing.T) {
	var hits atomic.Int32
	srv := func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("global") != "" || strings.Contains(r.URL.Path, "/channels/2/") {
			w.Header().Set("X-RateLimit-Global", "true")
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"You are being rate limited.","retry_after":1.25,"global":false}`))
	}
	fake := newHTTP(t, srv)
	c, err := New(Options{Token: "x", APIURL: fake})
	require.NoError(t, err)
	_, err = c.Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: "1"}, Msg: adapters.Message{Text: "x"}, Key: "a"})
	after, ok := adapters.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 1250*time.Millisecond, after, "retry_after exactly")
	assert.Equal(t, int32(1), hits.Load(), "discordgo does not retry on its own")

	_, err = c.Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: "2"}, Msg: adapters.Message{Text: "x"}, Key: "b"})
	_, ok = adapters.RetryAfter(err)
	require.True(t, ok)
	// The global limit holds every route back, without asking.
	_, err = c.Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: "3"}, Msg: adapters.Message{Text: "x"}, Key: "c"})
	after, ok = adapters.RetryAfter(err)
	require.True(t, ok)
	assert.Greater(t, after, 2*time.Second)
	assert.Equal(t, int32(2), hits.Load())
}

func TestPermanentErrors(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := adapters.Room{Name: "ops", ID: f.fake.AddChannel()}
	ctx := context.Background()
	tests := []struct {
		name string
		d    adapters.Delivery
	}{
		{"unknown channel", adapters.Delivery{Room: adapters.Room{ID: "123"}, Msg: adapters.Message{Text: "x"}}},
		{"not a channel ID", adapters.Delivery{Room: adapters.Room{ID: "general"}, Msg: adapters.Message{Text: "x"}}},
		{"edit of a message never posted", adapters.Delivery{Room: room, Op: adapters.OpUpdate, Ref: "555", Msg: triggered("x")}},
		{"reply under a message never posted", adapters.Delivery{Room: room, Op: adapters.OpReply, Ref: "555", Msg: adapters.Message{Text: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.c.Deliver(ctx, tc.d)
			require.Error(t, err)
			assert.True(t, adapters.IsPermanent(err), "%v", err)
			assert.NotContains(t, err.Error(), testToken)
		})
	}
	bad, err := New(Options{Token: "wrong", APIURL: f.fake.URL()})
	require.NoError(t, err)
	_, err = bad.Deliver(ctx, adapters.Delivery{Room: room, Msg: adapters.Message{Text: "x"}})
	assert.True(t, adapters.IsPermanent(err), "a bad token: %v", err)
}

func TestThreadIsTheCardsID(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := adapters.Room{Name: "ops", ID: f.fake.AddChannel()}
	ctx := context.Background()
	card, err := f.c.Deliver(ctx, adapters.Delivery{Room: room, Msg: triggered("db down"), Key: "1"})
	require.NoError(t, err)
	for _, key := range []string{"2", "3"} {
		_, err := f.c.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpReply, Ref: card, Msg: adapters.Message{IncidentID: 42, Text: "note " + key}, Key: key})
		require.NoError(t, err)
	}
	assert.Equal(t, room.ID, f.fake.Parent(card))
	assert.Len(t, f.fake.Messages(card), 2)
	// A restarted sitrep does not know the thread exists: Discord says so, and the reply goes on.
	again, err := New(f.c.opts)
	require.NoError(t, err)
	_, err = again.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpReply, Ref: card, Msg: adapters.Message{IncidentID: 42, Text: "note 4"}, Key: "4"})
	require.NoError(t, err)
	assert.Len(t, f.fake.Messages(card), 3)
}

func TestChatInbound(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := f.fake.AddChannel()
	other := "111"
	f.c.opts.Known = func(id string) bool { return id == room }
	require.NoError(t, f.c.opts.Cards.Put(context.Background(), "222", room, 42))
	person := &discordgo.User{ID: "700", Username: "alice", GlobalName: "Alice"}
	tests := []struct {
		name string
		m    *discordgo.Message
		ok   bool
		room string
		text string
	}{
		{"in the room", &discordgo.Message{ID: "1", ChannelID: room, Author: person, Content: "#7 on it"}, true, room, "#7 on it"},
		{"in an alert's thread", &discordgo.Message{ID: "2", ChannelID: "222", Author: person, Content: "failing over"}, true, room, "#42 failing over"},
		{"a command in the thread", &discordgo.Message{ID: "3", ChannelID: "222", Author: person, Content: "/ack 42"}, true, room, "/ack 42"},
		{"another channel", &discordgo.Message{ID: "4", ChannelID: other, Author: person, Content: "hi"}, false, "", ""},
		{"a bot", &discordgo.Message{ID: "5", ChannelID: room, Author: &discordgo.User{ID: "8", Bot: true}, Content: "hi"}, false, "", ""},
		{"sitrep itself", &discordgo.Message{ID: "6", ChannelID: room, Author: &discordgo.User{ID: discordtest.BotID}, Content: "hi"}, false, "", ""},
		{"a webhook", &discordgo.Message{ID: "7", ChannelID: room, Author: person, WebhookID: "9", Content: "hi"}, false, "", ""},
		{"no author", &discordgo.Message{ID: "8", ChannelID: room, Content: "hi"}, false, "", ""},
		{"no content", &discordgo.Message{ID: "9", ChannelID: room, Author: person}, false, "", ""},
		{"no channel", &discordgo.Message{ID: "10", Author: person, Content: "hi"}, false, "", ""},
		{"nil", nil, false, "", ""},
	}
	f.c.selfID.Store(discordtest.BotID)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, ok := f.c.ChatInbound(tc.m)
			require.Equal(t, tc.ok, ok)
			if ok {
				assert.Equal(t, tc.room, in.RoomID)
				assert.Equal(t, tc.text, in.Text)
				assert.Equal(t, "Alice", in.User)
				assert.Equal(t, Platform, in.Platform)
				assert.NotEmpty(t, in.Key)
			}
		})
	}
}

func TestGatewayReconnects(t *testing.T) {
	got := make(chan adapters.Inbound, 10)
	f := newFixture(t, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		got <- in
		return adapters.Reply{}, nil
	}, nil)
	room := f.fake.AddChannel()
	f.runGateway(t)
	require.Len(t, f.fake.Commands("800000000000000001", ""), 1, "/sitrep registered globally")
	f.fake.Say(room, "700", "alice", "first", nil)
	assert.Equal(t, "first", (<-got).Text)
	// A message with fields missing or of the wrong type leaves the session up.
	f.fake.Dispatch("MESSAGE_CREATE", json.RawMessage(`{"id":"1","content":5}`))
	f.fake.Dispatch("MESSAGE_CREATE", json.RawMessage(`{}`))
	f.fake.Reconnect()
	require.Eventually(t, func() bool { return f.fake.Connected() == 1 }, 10*time.Second, 10*time.Millisecond, "back after a forced reconnect")
	f.fake.Say(room, "700", "alice", "second", nil)
	select {
	case in := <-got:
		assert.Equal(t, "second", in.Text)
	case <-time.After(5 * time.Second):
		t.Fatal("no message after the reconnect")
	}
	_, resumes, heartbeats := f.fake.GatewayCounts()
	assert.Equal(t, 1, resumes, "the session resumed")
	assert.Positive(t, heartbeats)
}

// An on-call announcement pings the person it names and no one else, even
// when the text says @everyone.
func TestMentionPingsOnlyThePersonNamed(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := adapters.Room{Name: "pay", ID: f.fake.AddChannel()}
	msg := adapters.Message{Kind: "oncall", Text: "payments: alice → bob is now on call @everyone", Mentions: map[string]string{"bob": "4567"}}
	_, err := f.c.Deliver(context.Background(), adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: msg, Key: "pay:1"})
	require.NoError(t, err)
	msgs := f.fake.Messages(room.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "payments: alice → <@4567> is now on call @everyone", msgs[0].Content)
	assert.JSONEq(t, `{"parse":[],"users":["4567"],"replied_user":false}`, string(msgs[0].Mentions))
}
