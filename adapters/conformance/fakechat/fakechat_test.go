package fakechat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/conformance"
	"github.com/sitrep/sitrep/adapters/conformance/fakechat"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/timeline"
)

var all = adapters.Capabilities{Edit: true, Threads: true, Buttons: true, PrivateReplies: true}

// harness wires a fake to the suite, seeing exactly what the fake shows.
func harness(t *testing.T, caps adapters.Capabilities) conformance.Harness {
	c := fakechat.New("fake", caps)
	rec := conformance.NewRecorder()
	c.SetHandler(rec.Handle)
	room := adapters.Room{Name: "ops", ID: "C123"}
	return conformance.Harness{
		Chat: c,
		Room: room,
		Seen: func(context.Context) ([]conformance.Seen, error) {
			var out []conformance.Seen
			for _, m := range c.Shown(room.ID) {
				out = append(out, conformance.Seen{ID: m.ID, Text: m.Msg.Text, Parent: m.Parent, Actions: m.Actions})
			}
			return out, nil
		},
		Say: func(ctx context.Context, user, text string) error {
			_, err := c.Say(ctx, room.ID, user, text)
			return err
		},
		Press: func(ctx context.Context, user, messageID string, verb adapters.Verb) error {
			_, err := c.Press(ctx, room.ID, user, messageID, verb)
			return err
		},
		Inbound: rec.Inbound(),
		Answer:  rec.Answer,
		Replies: func(_ context.Context, user string) ([]string, error) {
			var out []string
			for _, r := range c.Replies(room.ID, user) {
				out = append(out, r.Text)
			}
			return out, nil
		},
	}
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps adapters.Capabilities
	}{
		{"every capability", all},
		{"none", adapters.Capabilities{}},
		{"edit only", adapters.Capabilities{Edit: true}},
		{"threads and buttons without edit", adapters.Capabilities{Threads: true, Buttons: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) conformance.Harness { return harness(t, tc.caps) })
		})
	}
}

var ops = adapters.Room{Name: "ops", ID: "C1"}

func deliver(t *testing.T, c *fakechat.Chat, op adapters.Op, ref, key string, msg adapters.Message) string {
	t.Helper()
	id, err := c.Deliver(context.Background(), adapters.Delivery{Room: ops, Op: op, Ref: ref, Msg: msg, Key: key})
	require.NoError(t, err)
	return id
}

func TestShownKeepsTheOpHistory(t *testing.T) {
	c := fakechat.New("fake", all)
	triggered := adapters.Message{IncidentID: 7, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Text: "#7 triggered",
		Actions: []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}}
	card := deliver(t, c, adapters.OpPost, "", "ops:1", triggered)
	note := deliver(t, c, adapters.OpReply, card, "ops:2", adapters.Message{IncidentID: 7, Kind: timeline.KindNote, Text: "#7 note"})
	acked := adapters.Message{IncidentID: 7, Kind: timeline.KindAcknowledged, State: timeline.StateAcknowledged, Text: "#7 acknowledged",
		Actions: []adapters.Verb{adapters.VerbResolve}}
	assert.Equal(t, card, deliver(t, c, adapters.OpUpdate, card, "ops:3", acked))
	resolved := adapters.Message{IncidentID: 7, Kind: timeline.KindResolved, State: timeline.StateResolved, Text: "#7 resolved"}
	assert.Equal(t, card, deliver(t, c, adapters.OpUpdate, card, "ops:4", resolved))

	shown := c.Shown(ops.ID)
	require.Len(t, shown, 2)
	assert.Equal(t, card, shown[0].ID)
	assert.Empty(t, shown[0].Parent)
	assert.Equal(t, resolved, shown[0].Msg)
	assert.Empty(t, shown[0].Actions, "the resolved card has no buttons")
	assert.Equal(t, "ops:1", shown[0].Key)
	assert.Equal(t, 2, shown[0].Updates)
	assert.Equal(t, []string{"ops:3", "ops:4"}, shown[0].UpdateKeys)
	assert.False(t, shown[0].UpdatedAt.IsZero())
	assert.Equal(t, note, shown[1].ID)
	assert.Equal(t, card, shown[1].Parent)
	assert.Equal(t, "ops:2", shown[1].Key)
	assert.Zero(t, shown[1].Updates)

	got := c.Deliveries(ops.ID)
	require.Len(t, got, 4)
	for i, op := range []adapters.Op{adapters.OpPost, adapters.OpReply, adapters.OpUpdate, adapters.OpUpdate} {
		assert.Equal(t, op, got[i].Op)
		assert.NoError(t, got[i].Err)
		assert.False(t, got[i].At.IsZero())
	}
	assert.Equal(t, 4, c.Count(ops.ID))
	assert.Empty(t, c.Shown("elsewhere"))

	// Shown is a copy.
	shown[0].Actions = append(shown[0].Actions, adapters.VerbAck)
	assert.Empty(t, c.Shown(ops.ID)[0].Actions)
}

func TestDeliverRefusesWhatThePlatformCannotDo(t *testing.T) {
	none := fakechat.New("plain", adapters.Capabilities{})
	id := deliver(t, none, adapters.OpPost, "", "k1", adapters.Message{Text: "x", Actions: []adapters.Verb{adapters.VerbAck}})
	assert.Empty(t, none.Shown(ops.ID)[0].Actions, "no buttons on a platform without them")
	full := fakechat.New("full", all)
	fullID := deliver(t, full, adapters.OpPost, "", "k1", adapters.Message{Text: "x"})
	for _, tc := range []struct {
		name string
		c    *fakechat.Chat
		d    adapters.Delivery
		want error
	}{
		{"reply without threads", none, adapters.Delivery{Room: ops, Op: adapters.OpReply, Ref: id}, nil},
		{"update without edit", none, adapters.Delivery{Room: ops, Op: adapters.OpUpdate, Ref: id}, nil},
		{"unknown ref", full, adapters.Delivery{Room: ops, Op: adapters.OpUpdate, Ref: "99"}, fakechat.ErrNotFound},
		{"ref in another room", full, adapters.Delivery{Room: adapters.Room{ID: "C2"}, Op: adapters.OpReply, Ref: fullID}, fakechat.ErrNotFound},
		{"no room id", full, adapters.Delivery{Op: adapters.OpPost}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Deliver(context.Background(), tc.d)
			require.Error(t, err)
			assert.True(t, adapters.IsPermanent(err), "%v", err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	assert.Len(t, none.Shown(ops.ID), 1)
	assert.Equal(t, 1, none.Count(ops.ID))
	assert.Len(t, none.Deliveries(ops.ID), 3, "refused deliveries are recorded")
}

func TestInjectedFailures(t *testing.T) {
	c := fakechat.New("fake", all)
	boom := errors.New("boom")
	c.RateLimitNext(2, 3*time.Second)
	c.FailNext(1, nil)
	c.FailNext(1, boom)
	for i, check := range []func(error){
		func(err error) {
			after, ok := adapters.RetryAfter(err)
			assert.True(t, ok, "%v", err)
			assert.Equal(t, 3*time.Second, after)
		},
		func(err error) {
			var ra *adapters.RetryAfterError
			assert.ErrorAs(t, err, &ra)
		},
		func(err error) {
			assert.ErrorIs(t, err, fakechat.ErrTransient)
			assert.False(t, adapters.IsPermanent(err))
		},
		func(err error) { assert.ErrorIs(t, err, boom) },
	} {
		_, err := c.Deliver(context.Background(), adapters.Delivery{Room: ops, Msg: adapters.Message{Text: "x"}})
		require.Error(t, err, i)
		check(err)
	}
	deliver(t, c, adapters.OpPost, "", "k", adapters.Message{Text: "through"})
	assert.Len(t, c.Shown(ops.ID), 1)
	assert.Equal(t, 1, c.Count(ops.ID))
	assert.Len(t, c.Deliveries(ops.ID), 5)

	_, err := c.Deliver(func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}(), adapters.Delivery{Room: ops, Msg: adapters.Message{Text: "never"}})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, c.Shown(ops.ID), 1)
}

func TestSetLimit(t *testing.T) {
	c := fakechat.New("fake", adapters.Capabilities{})
	c.SetLimit(2, time.Minute)
	deliver(t, c, adapters.OpPost, "", "1", adapters.Message{Text: "1"})
	deliver(t, c, adapters.OpPost, "", "2", adapters.Message{Text: "2"})
	_, err := c.Deliver(context.Background(), adapters.Delivery{Room: ops, Msg: adapters.Message{Text: "3"}})
	after, ok := adapters.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.InDelta(t, time.Minute.Seconds(), after.Seconds(), 1)
	_, err = c.Deliver(context.Background(), adapters.Delivery{Room: adapters.Room{ID: "C2"}, Msg: adapters.Message{Text: "other"}})
	assert.NoError(t, err, "the limit is per room")

	got := c.Deliveries(ops.ID)
	require.Len(t, got, 3)
	assert.False(t, got[2].At.Before(got[0].At))
	c.SetLimit(0, 0)
	deliver(t, c, adapters.OpPost, "", "4", adapters.Message{Text: "4"})
}

func TestInboundThroughTheHandler(t *testing.T) {
	c := fakechat.New("fake", all)
	_, err := c.Say(context.Background(), ops.ID, "alice", "hi")
	require.Error(t, err, "no handler yet")

	var got []adapters.Inbound
	c.SetHandler(func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		got = append(got, in)
		switch {
		case in.Action != nil:
			return adapters.Reply{Text: "acknowledged", Private: true}, nil
		case in.Command != "":
			return adapters.Reply{Text: "usage: /incident ack <n>"}, nil
		}
		return adapters.Reply{}, nil
	})
	card := deliver(t, c, adapters.OpPost, "", "k", adapters.Message{IncidentID: 9, Text: "#9", Actions: []adapters.Verb{adapters.VerbAck}})

	reply, err := c.Say(context.Background(), ops.ID, "alice", "looking")
	require.NoError(t, err)
	assert.True(t, reply.Empty())
	reply, err = c.Command(context.Background(), ops.ID, "bob", "incident", "help")
	require.NoError(t, err)
	assert.Equal(t, "usage: /incident ack <n>", reply.Text)
	reply, err = c.Press(context.Background(), ops.ID, "alice", card, adapters.VerbAck)
	require.NoError(t, err)
	assert.Equal(t, adapters.Reply{Text: "acknowledged", Private: true}, reply)

	require.Len(t, got, 3)
	keys := map[string]bool{}
	for _, in := range got {
		assert.Equal(t, "fake", in.Platform)
		assert.Equal(t, ops.ID, in.RoomID)
		assert.NotEmpty(t, in.Key)
		assert.NotEmpty(t, in.MessageID)
		assert.False(t, in.Time.IsZero())
		keys[in.Key] = true
	}
	assert.Len(t, keys, 3, "dedupe keys are distinct")
	assert.Equal(t, "looking", got[0].Text)
	assert.Equal(t, "incident", got[1].Command)
	assert.Equal(t, "help", got[1].Text)
	assert.Equal(t, &adapters.Action{Verb: adapters.VerbAck, IncidentID: 9}, got[2].Action)
	assert.Equal(t, card, got[2].MessageID)

	// The command's reply shows to everyone, the press's to alice only.
	alice, bob := c.Replies(ops.ID, "alice"), c.Replies(ops.ID, "bob")
	require.Len(t, alice, 2)
	require.Len(t, bob, 1)
	assert.Equal(t, "usage: /incident ack <n>", bob[0].Text)
	assert.Equal(t, "bob", bob[0].To)
	assert.Equal(t, "acknowledged", alice[1].Text)
	assert.True(t, alice[1].Private)
	assert.Equal(t, card, alice[1].InReplyTo)

	// Buttons that are not there cannot be pressed.
	for _, tc := range []struct{ name, id string }{{"unknown message", "99"}, {"no such button", card}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Press(context.Background(), ops.ID, "alice", tc.id, adapters.VerbResolve)
			assert.Error(t, err)
		})
	}
	assert.Len(t, got, 3)
}

func TestPrivateRepliesNeedTheCapability(t *testing.T) {
	c := fakechat.New("fake", adapters.Capabilities{})
	c.SetHandler(func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "noted", Private: true}, nil
	})
	_, err := c.Say(context.Background(), ops.ID, "alice", "#1 hi")
	require.NoError(t, err)
	bob := c.Replies(ops.ID, "bob")
	require.Len(t, bob, 1, "without PrivateReplies a private reply shows to the room")
	assert.False(t, bob[0].Private)
	assert.True(t, bob[0].Reply.Private, "what the Handler asked for is kept")
	_, err = c.Press(context.Background(), ops.ID, "alice", "1", adapters.VerbAck)
	assert.Error(t, err, "no buttons")
}

func TestDescriptor(t *testing.T) {
	c := fakechat.New("fake", all)
	d := c.Descriptor(platform.Limit{Messages: 3, Per: time.Second})
	assert.Equal(t, "fake", d.Name)
	assert.Equal(t, platform.Limit{Messages: 3, Per: time.Second}, d.Limit)
	built, err := d.Build(platform.Env{})
	require.NoError(t, err)
	assert.Same(t, c, built.Chat)
}
