package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

func cardMsg(id uint64) adapters.Message {
	return adapters.Message{
		IncidentID: id, EventID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered,
		Title: "db-1 down", Text: "#7 triggered CRITICAL: db-1 down", Color: "red",
		Fields:  map[string]string{"host": "db-1", "severity": "critical", "note": "not shown"},
		Actions: []adapters.Verb{adapters.VerbAck, adapters.VerbResolve},
	}
}

var room = adapters.Room{Name: "ops", ID: chanOps}

func TestDeliverOps(t *testing.T) {
	f := newFixture(t, nil, nil, slacktest.WithRateLimit(100, time.Millisecond))
	ctx := ctxT(t)
	ts, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: cardMsg(7)})
	require.NoError(t, err)
	m, ok := f.fake.Message(chanOps, ts)
	require.True(t, ok)
	assert.Equal(t, "#7 triggered CRITICAL: db-1 down", m.Text, "text is always set")
	assert.Equal(t, []string{slackadapter.ActionAck, slackadapter.ActionResolve}, m.Actions())
	assert.Equal(t, "7", m.ButtonValue(slackadapter.ActionAck))
	require.IsType(t, &slack.HeaderBlock{}, m.Blocks[0])
	assert.Equal(t, "db-1 down", m.Blocks[0].(*slack.HeaderBlock).Text.Text)
	var all strings.Builder
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil {
				all.WriteString(b.Text.Text + "\n")
			}
			for _, f := range b.Fields {
				all.WriteString(f.Text + "\n")
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				all.WriteString(e.(*slack.TextBlockObject).Text + "\n")
			}
		}
	}
	assert.Contains(t, all.String(), ":red_circle: *triggered*")
	assert.Contains(t, all.String(), "*severity*\ncritical")
	assert.Contains(t, all.String(), "*host*\ndb-1")
	assert.NotContains(t, all.String(), "not shown", "key fields only")
	assert.Contains(t, all.String(), "<https://sitrep.example.com/v1/incidents/7|incident #7>")

	// A thread reply, a resolve broadcast too.
	note := adapters.Message{IncidentID: 7, Kind: timeline.KindNote, State: timeline.StateTriggered, Text: "#7 note from alice: looking"}
	rts, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpReply, Ref: ts, Msg: note})
	require.NoError(t, err)
	r, _ := f.fake.Message(chanOps, rts)
	assert.Equal(t, ts, r.ThreadTS)
	assert.False(t, r.Broadcast)
	res := adapters.Message{IncidentID: 7, Kind: timeline.KindResolved, State: timeline.StateResolved, Text: "#7 resolved by alice", Color: "green"}
	bts, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpReply, Ref: ts, Msg: res})
	require.NoError(t, err)
	b, _ := f.fake.Message(chanOps, bts)
	assert.True(t, b.Broadcast, "a resolve is also sent to the channel")

	// Updates: same ts, buttons follow the state.
	ack := cardMsg(7)
	ack.State, ack.Actions = timeline.StateAcknowledged, []adapters.Verb{adapters.VerbResolve}
	uts, err := f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpUpdate, Ref: ts, Msg: ack})
	require.NoError(t, err)
	assert.Equal(t, ts, uts)
	m, _ = f.fake.Message(chanOps, ts)
	assert.Equal(t, 1, m.Updates)
	assert.Equal(t, []string{slackadapter.ActionResolve}, m.Actions())
	done := cardMsg(7)
	done.State, done.Actions = timeline.StateResolved, nil
	_, err = f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpUpdate, Ref: ts, Msg: done})
	require.NoError(t, err)
	m, _ = f.fake.Message(chanOps, ts)
	assert.Empty(t, m.Actions())
	assert.Len(t, f.fake.Messages(chanOps), 3, "no new message for an update")

	// A digest is one message.
	before := len(f.fake.Messages(chanOps))
	dg := adapters.Message{Kind: adapters.KindDigest, Title: "3 alerts", Text: "3 alerts: 3 triggered\n#1\n#2\n#3", Digest: []adapters.Message{cardMsg(1), cardMsg(2), cardMsg(3)}}
	_, err = f.client.Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: dg})
	require.NoError(t, err)
	assert.Len(t, f.fake.Messages(chanOps), before+1)
}

func TestRenderLimits(t *testing.T) {
	long := strings.Repeat("é", 5000)
	for _, tc := range []struct {
		name string
		msg  adapters.Message
	}{
		{"long title and text", adapters.Message{IncidentID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: long, Text: long}},
		{"long fields", adapters.Message{IncidentID: 1, Kind: timeline.KindTriggered, Text: "x", Fields: map[string]string{"host": long, "severity": long}}},
		{"long digest", adapters.Message{Kind: adapters.KindDigest, Title: long, Text: long}},
		{"empty", adapters.Message{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, text := slackadapter.Render(tc.msg, "https://x/v1/incidents/1")
			require.NoError(t, slacktest.CheckBlocks(blocks))
			assert.NotEmpty(t, text)
			assert.LessOrEqual(t, utf8.RuneCountInString(text), slackadapter.MaxText)
			assert.LessOrEqual(t, len(blocks), slackadapter.MaxBlocks)
			if utf8.RuneCountInString(tc.msg.Text) > slackadapter.MaxText {
				assert.True(t, strings.HasSuffix(text, "…"), "cut with …")
			}
			if h, ok := blocks[0].(*slack.HeaderBlock); ok && utf8.RuneCountInString(tc.msg.Title) > slackadapter.MaxHeader {
				assert.Equal(t, slackadapter.MaxHeader, utf8.RuneCountInString(h.Text.Text))
				assert.True(t, strings.HasSuffix(h.Text.Text, "…"))
			}
		})
	}
}

func TestDeliverErrors(t *testing.T) {
	f := newFixture(t, nil, nil, slacktest.WithRateLimit(1, time.Hour))
	ctx := ctxT(t)
	for _, tc := range []struct {
		name      string
		d         adapters.Delivery
		permanent bool
		retry     bool
		code      string
	}{
		{"not in channel", adapters.Delivery{Room: adapters.Room{Name: "out", ID: chanOut}, Msg: cardMsg(1)}, true, false, "not_in_channel"},
		{"unknown channel", adapters.Delivery{Room: adapters.Room{Name: "gone", ID: "C0GONE"}, Msg: cardMsg(1)}, true, false, "channel_not_found"},
		{"update of a message never posted", adapters.Delivery{Room: room, Op: adapters.OpUpdate, Ref: "1.000001", Msg: cardMsg(1)}, true, false, "message_not_found"},
		{"first post", adapters.Delivery{Room: room, Msg: cardMsg(1)}, false, false, ""},
		{"rate limited", adapters.Delivery{Room: room, Msg: cardMsg(2)}, false, true, "rate limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.Deliver(ctx, tc.d)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.code)
			assert.Equal(t, tc.permanent, adapters.IsPermanent(err), "%v", err)
			after, ok := adapters.RetryAfter(err)
			assert.Equal(t, tc.retry, ok)
			if ok {
				assert.Equal(t, time.Hour, after.Round(time.Minute), "Slack's Retry-After, exactly")
			}
		})
	}
	bad := slackadapter.New(slackadapter.Options{Token: "xoxb-wrong", APIURL: f.fake.URL()})
	_, err := bad.Deliver(ctx, adapters.Delivery{Room: room, Msg: cardMsg(1)})
	require.Error(t, err)
	assert.True(t, adapters.IsPermanent(err))
	assert.Contains(t, err.Error(), "invalid_auth")

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.client.Deliver(cctx, adapters.Delivery{Room: room, Msg: cardMsg(1)})
	assert.ErrorIs(t, err, context.Canceled)
}

// Every message sitrep posts about an incident is remembered, channel and
// ts to incident, in the same storage as the rest of sitrep.
func TestPostsAreRemembered(t *testing.T) {
	f := newFixture(t, nil, nil)
	ts, err := f.client.Deliver(ctxT(t), adapters.Delivery{Room: room, Msg: cardMsg(9)})
	require.NoError(t, err)
	var got uint64
	require.NoError(t, f.db.View(func(tx *bolt.Tx) error {
		got = storage.ParseU64(tx.Bucket(storage.BucketSlackMessages).Get(append([]byte(chanOps+"\x00"), ts...)))
		return nil
	}))
	assert.Equal(t, uint64(9), got)
}

// brokenEntity reports whether s has an "&" that does not start one of the
// three escapes Slack knows.
func brokenEntity(s string) bool {
	for i := range len(s) {
		if s[i] == '&' && !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
			return true
		}
	}
	return false
}

// Text is cut before it is escaped, so no cut falls inside "&amp;"; the
// top-level text is escaped too, so an alert's "<!channel>" is no mention.
func TestRenderEscapes(t *testing.T) {
	for pad := range 8 {
		text := strings.Repeat("x", slackadapter.MaxSectionText-20+pad) + strings.Repeat("&", 40)
		msg := adapters.Message{IncidentID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Text: text,
			Fields: map[string]string{"host": strings.Repeat("y", slackadapter.MaxFieldText-20+pad) + strings.Repeat("<", 40)}}
		blocks, top := slackadapter.Render(msg, "")
		require.NoError(t, slacktest.CheckBlocks(blocks))
		body := blocks[0].(*slack.SectionBlock).Text.Text
		assert.LessOrEqual(t, utf8.RuneCountInString(body), slackadapter.MaxSectionText)
		assert.True(t, strings.HasSuffix(body, "…"))
		assert.False(t, brokenEntity(body), "pad %d: the cut falls inside an escape: %q", pad, body[len(body)-12:])
		field := blocks[1].(*slack.SectionBlock).Fields[0].Text
		assert.LessOrEqual(t, utf8.RuneCountInString(field), slackadapter.MaxFieldText)
		assert.False(t, brokenEntity(field), "pad %d: field cut inside an escape: %q", pad, field[len(field)-12:])
		assert.LessOrEqual(t, utf8.RuneCountInString(top), slackadapter.MaxText)
		assert.False(t, brokenEntity(top), "pad %d: top-level text cut inside an escape", pad)
	}

	_, top := slackadapter.Render(adapters.Message{IncidentID: 1, Kind: timeline.KindTriggered, Text: "<!channel> db & cache > 90%"}, "")
	assert.Equal(t, "&lt;!channel&gt; db &amp; cache &gt; 90%", top, "the notification text carries no live mention")
}

// Answers to typed lines and slash commands are escaped: a reply quoting
// "<!channel>" mentions no one.
func TestAnswersAreEscaped(t *testing.T) {
	rec := &recorder{reply: adapters.Reply{Text: "noted: <!channel> & <@U1>"}}
	f := newFixture(t, rec.handle, nil)
	ctx := ctxT(t)
	_, _, err := f.fake.Say(ctx, chanOps, "alice", "hello", "")
	require.NoError(t, err)
	const want = "noted: &lt;!channel&gt; &amp; &lt;@U1&gt;"
	require.Eventually(t, func() bool {
		for _, m := range f.fake.Messages(chanOps) {
			if m.Bot && m.Text == want {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the channel answer is escaped: %v", f.fake.Messages(chanOps))

	r, err := f.fake.Command(ctx, chanOps, "alice", "/sitrep", "help")
	require.NoError(t, err)
	assert.JSONEq(t, `{"response_type":"in_channel","text":"`+want+`"}`, string(r.Body))
}

// A message's Mentions become Slack mentions of those people; the rest of
// the text stays escaped.
func TestRenderMentions(t *testing.T) {
	msg := adapters.Message{Kind: "oncall", Text: "payments: alice → bob is now on call <!channel>", Mentions: map[string]string{"bob": "U123"}}
	blocks, top := slackadapter.Render(msg, "")
	assert.Equal(t, "payments: alice → <@U123> is now on call &lt;!channel&gt;", top)
	assert.Contains(t, blocks[0].(*slack.SectionBlock).Text.Text, "<@U123> is now on call &lt;!channel&gt;")
}
