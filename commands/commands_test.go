package commands

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

var _ adapters.Handler = (&Handler{}).Handle

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func newTimeline(t *testing.T) (*timeline.Timeline, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return timeline.New(db, timeline.Options{Now: func() time.Time { return t0 }}), db
}

// open triggers an incident for entity and returns its ID.
func open(t *testing.T, tl *timeline.Timeline, entity, title string) uint64 {
	t.Helper()
	res, err := tl.Ingest(context.Background(), []timeline.Alert{{
		MessageType: timeline.MsgCritical,
		EntityID:    entity,
		Fields:      map[string]string{timeline.FieldEntityID: entity, timeline.FieldEntityDisplayName: title},
		Origin:      timeline.Origin{Adapter: "http"},
	}})
	require.NoError(t, err)
	require.True(t, res[0].Created)
	return res[0].Incident.ID
}

func newHandler(tl *timeline.Timeline, extra map[Verb]func(context.Context, Command, adapters.Inbound) (string, error)) *Handler {
	return New(Options{
		Timeline: tl,
		RoomOf: func(platform, id string) (string, bool) {
			if platform == "slack" && id == "C123" {
				return "ops", true
			}
			return "", false
		},
		Extra: extra,
		Now:   func() time.Time { return t0.Add(time.Hour) },
	})
}

func msg(text string) adapters.Inbound {
	return adapters.Inbound{Platform: "slack", RoomID: "C123", User: "alice", Text: text, MessageID: "m-1", Time: t0.Add(time.Minute)}
}

func lastEvent(t *testing.T, tl *timeline.Timeline, id uint64) (timeline.Incident, timeline.Event, int) {
	t.Helper()
	inc, evs, err := tl.Incident(id)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	return inc, evs[len(evs)-1], len(evs)
}

func TestHandleActions(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	h := newHandler(tl, nil)
	id := open(t, tl, "db1-disk", "disk full on db1")

	reply, err := text(h, ctx, msg(fmt.Sprintf("/ack %d looking", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("acknowledged #%d: disk full on db1", id), reply)
	inc, ev, _ := lastEvent(t, tl, id)
	assert.Equal(t, timeline.StateAcknowledged, inc.State)
	assert.Equal(t, "alice", inc.AcknowledgedBy)
	assert.Equal(t, timeline.KindAcknowledged, ev.Kind)
	assert.Equal(t, "looking", ev.Text)
	assert.Equal(t, "slack", ev.Origin.Adapter)
	assert.Equal(t, "ops", ev.Origin.Room)
	assert.Equal(t, "alice", ev.Origin.User)
	assert.Equal(t, "m-1", ev.Origin.MessageID)
	assert.True(t, ev.Origin.Time.Equal(t0.Add(time.Minute)), "origin time %v", ev.Origin.Time)

	reply, err = text(h, ctx, msg(fmt.Sprintf("!acknowledge #%d", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("incident #%d is already acknowledged", id), reply)

	// A chat line from a room sitrep does not know, at no stated time.
	in := adapters.Inbound{Platform: "webroom", RoomID: "elsewhere", User: "bob (unverified)", Unverified: true, Text: fmt.Sprintf("#%d restarting  the db", id), MessageID: "w-9"}
	reply, err = text(h, ctx, in)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("on #%d's timeline", id), reply, "a quiet confirmation to the sender")
	_, ev, _ = lastEvent(t, tl, id)
	assert.Equal(t, timeline.KindChat, ev.Kind)
	assert.Equal(t, "restarting  the db", ev.Text)
	assert.Equal(t, timeline.Origin{Adapter: "webroom", MessageID: "w-9", User: "bob (unverified)", Unverified: true, Time: t0.Add(time.Hour)}, ev.Origin,
		"a self-chosen name is recorded as unverified")

	reply, err = text(h, ctx, msg(fmt.Sprintf("/note %d disk at 91%%", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("noted on #%d", id), reply)
	_, ev, _ = lastEvent(t, tl, id)
	assert.Equal(t, timeline.KindNote, ev.Kind)
	assert.Equal(t, "disk at 91%", ev.Text)

	reply, err = text(h, ctx, msg(fmt.Sprintf("/sitrep close %d fixed", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("resolved #%d: disk full on db1", id), reply)
	inc, ev, n := lastEvent(t, tl, id)
	assert.Equal(t, timeline.StateResolved, inc.State)
	assert.Equal(t, timeline.KindResolved, ev.Kind)
	assert.Equal(t, "fixed", ev.Text)

	reply, err = text(h, ctx, msg(fmt.Sprintf("/resolve %d", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("incident #%d is already resolved", id), reply)
	reply, err = text(h, ctx, msg(fmt.Sprintf("/ack %d", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("incident #%d is already resolved", id), reply)
	_, _, n2 := lastEvent(t, tl, id)
	assert.Equal(t, n, n2, "refused actions write nothing")
}

func TestHandleRepliesWithoutWriting(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	h := newHandler(tl, nil)
	id := open(t, tl, "web", "web down")

	tests := []struct {
		text, reply string
	}{
		{"/ack 999", "no incident #999"},
		{"#999 anyone?", "no incident #999"},
		{"/note 999 x", "no incident #999"},
		{"/incident 999", "no incident #999"},
		{"just chatting about #1", ""},
		{"", ""},
		{"/usr/bin is full", ""},
		{"/ack abc", `incident id must be a number like 42, not "abc". usage: /ack <id> [note]`},
		{"/ack", "incident id is missing. usage: /ack <id> [note]"},
		{"#0 hi", "incident id must be a number like 42, and 0 is no incident. usage: #<id> <message>"},
		{"/oncall", "/oncall is not available on this server"},
		{"/route test a=b", "/route is not available on this server"},
		{"/help oncall", "/oncall is not available on this server"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			reply, err := text(h, ctx, msg(tt.text))
			require.NoError(t, err)
			assert.Equal(t, tt.reply, reply)
		})
	}
	reply, err := text(h, ctx, msg("/dance"))
	require.NoError(t, err)
	assert.Contains(t, reply, "unknown command /dance")
	assert.NotContains(t, reply, "oncall", "unregistered verbs are not offered")

	_, evs, err := tl.Incident(id)
	require.NoError(t, err)
	assert.Len(t, evs, 1, "only the trigger is on the timeline")
}

func TestHandleExtra(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	var got Command
	var gotIn adapters.Inbound
	h := newHandler(tl, map[Verb]func(context.Context, Command, adapters.Inbound) (string, error){
		"route": func(_ context.Context, cmd Command, in adapters.Inbound) (string, error) {
			got, gotIn = cmd, in
			return "would reach: ops", nil
		},
		"Deploy": func(_ context.Context, cmd Command, _ adapters.Inbound) (string, error) {
			if cmd.Sub == "" {
				return "", &UsageError{Usage: "/deploy <service>", Msg: "which service"}
			}
			return "", errors.New("deployer down")
		},
		"ack": func(context.Context, Command, adapters.Inbound) (string, error) {
			return "hijacked", nil
		},
	})

	reply, err := text(h, ctx, msg(`/route test service=db msg="disk full"`))
	require.NoError(t, err)
	assert.Equal(t, "would reach: ops", reply)
	assert.Equal(t, Command{Verb: VerbRoute, Sub: "test", Args: map[string]string{"service": "db", "msg": "disk full"}, Rest: `test service=db msg="disk full"`}, got)
	assert.Equal(t, "alice", gotIn.User)

	reply, err = text(h, ctx, msg("/route test oops"))
	require.NoError(t, err)
	assert.Contains(t, reply, `expected key=value, got "oops"`)

	reply, err = text(h, ctx, msg("!DEPLOY"))
	require.NoError(t, err)
	assert.Equal(t, "which service. usage: /deploy <service>", reply)

	_, err = text(h, ctx, msg("/deploy api"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deployer down")

	reply, err = text(h, ctx, msg("/ack 1"))
	require.NoError(t, err)
	assert.Equal(t, "no incident #1", reply, "built-in verbs are not replaced")

	reply, err = text(h, ctx, msg("/help"))
	require.NoError(t, err)
	assert.Contains(t, reply, "/route test")
	assert.Contains(t, reply, "/deploy [args]")
	assert.NotContains(t, reply, "/oncall")

	reply, err = text(h, ctx, msg("/help ack"))
	require.NoError(t, err)
	assert.Equal(t, "/ack <id> [note] — acknowledge an incident", reply)

	slash := msg("deploy web")
	slash.Command = "/sitrep"
	_, err = h.Handle(ctx, slash)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/deploy: deployer down")
}

func TestHandleIncidents(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	h := newHandler(tl, nil)

	reply, err := text(h, ctx, msg("/incidents"))
	require.NoError(t, err)
	assert.Equal(t, "no open incidents", reply)

	a := open(t, tl, "a", "first\nalert")
	b := open(t, tl, "b", "second")
	c := open(t, tl, "c", "third")
	_, err = text(h, ctx, msg(fmt.Sprintf("/ack %d", b)))
	require.NoError(t, err)
	_, err = text(h, ctx, msg(fmt.Sprintf("/resolve %d", c)))
	require.NoError(t, err)

	reply, err = text(h, ctx, msg("/incidents"))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("#%d [acknowledged] second\n#%d [triggered] first alert", b, a), reply)

	reply, err = text(h, ctx, msg("/incidents resolved"))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("#%d [resolved] third", c), reply)

	reply, err = text(h, ctx, msg("/incidents all"))
	require.NoError(t, err)
	assert.Len(t, strings.Split(reply, "\n"), 3)

	for i := 0; i < 25; i++ {
		open(t, tl, fmt.Sprintf("bulk-%d", i), fmt.Sprintf("bulk %d", i))
	}
	reply, err = text(h, ctx, msg("/incidents"))
	require.NoError(t, err)
	lines := strings.Split(reply, "\n")
	assert.Len(t, lines, maxListed)
	assert.Contains(t, lines[0], "bulk 24", "newest first")
	assert.Contains(t, lines[maxListed-1], "more")
}

func TestHandleIncident(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	h := newHandler(tl, nil)
	id := open(t, tl, "db", "db slow")
	for i := 1; i <= 6; i++ {
		_, err := text(h, ctx, msg(fmt.Sprintf("#%d line %d", id, i)))
		require.NoError(t, err)
	}
	_, err := text(h, ctx, msg(fmt.Sprintf("/ack %d on it", id)))
	require.NoError(t, err)

	reply, err := text(h, ctx, msg(fmt.Sprintf("/incident #%d", id)))
	require.NoError(t, err)
	lines := strings.Split(reply, "\n")
	require.Len(t, lines, 3+recentEvents, reply)
	assert.Equal(t, fmt.Sprintf("#%d [acknowledged] db slow", id), lines[0])
	assert.Equal(t, "opened 2024-05-01 10:00 UTC, acknowledged 2024-05-01 10:00 UTC by alice", lines[1])
	assert.Equal(t, "last 5 events:", lines[2])
	assert.Equal(t, "2024-05-01 10:00 UTC chat by alice: line 3", lines[3])
	assert.Equal(t, "2024-05-01 10:00 UTC acknowledged by alice: on it", lines[7])
}

func TestHandleStorageError(t *testing.T) {
	tl, db := newTimeline(t)
	h := newHandler(tl, nil)
	id := open(t, tl, "x", "x")
	require.NoError(t, db.Close())
	_, err := h.Handle(context.Background(), msg(fmt.Sprintf("/ack %d", id)))
	require.Error(t, err)
	assert.ErrorIs(t, err, storage.ErrClosed)
}

func TestHandleWithoutRoomOf(t *testing.T) {
	tl, _ := newTimeline(t)
	h := New(Options{Timeline: tl})
	id := open(t, tl, "x", "x")
	reply, err := text(h, context.Background(), msg(fmt.Sprintf("/ack %d", id)))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("acknowledged #%d: x", id), reply)
	_, ev, _ := lastEvent(t, tl, id)
	assert.Empty(t, ev.Origin.Room)
	assert.Equal(t, "slack", ev.Origin.Adapter)
}

func TestButtonsAndSlashCommands(t *testing.T) {
	ctx := context.Background()
	tl, _ := newTimeline(t)
	h := newHandler(tl, nil)
	id := open(t, tl, "db-7", "disk full on db7")
	press := func(v adapters.Verb, incident uint64) adapters.Inbound {
		in := msg("")
		in.Action = &adapters.Action{Verb: v, IncidentID: incident}
		return in
	}
	for _, tc := range []struct {
		name      string
		in        adapters.Inbound
		want      string
		wantState timeline.State
	}{
		{"ack button", press(adapters.VerbAck, id), fmt.Sprintf("acknowledged #%d: disk full on db7", id), timeline.StateAcknowledged},
		{"ack again", press(adapters.VerbAck, id), fmt.Sprintf("incident #%d is already acknowledged", id), timeline.StateAcknowledged},
		{"unknown button", press("explode", id), `unknown action "explode". usage: Acknowledge or Resolve`, timeline.StateAcknowledged},
		{"button on no incident", press(adapters.VerbResolve, 0), "the button names no incident. usage: a button on an incident's card", timeline.StateAcknowledged},
		{"slash with bad id", func() adapters.Inbound { in := msg("banana"); in.Command = "resolve"; return in }(), "", timeline.StateAcknowledged},
		{"slash resolve", func() adapters.Inbound { in := msg(fmt.Sprint(id)); in.Command = "/resolve"; return in }(), fmt.Sprintf("resolved #%d: disk full on db7", id), timeline.StateResolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := h.Handle(ctx, tc.in)
			require.NoError(t, err)
			if tc.want == "" {
				assert.Contains(t, r.Text, "usage: /resolve")
			} else {
				assert.Equal(t, tc.want, r.Text)
			}
			assert.True(t, r.Private, "command replies go to the sender only")
			inc, _, err := tl.Incident(id)
			require.NoError(t, err)
			assert.Equal(t, tc.wantState, inc.State)
		})
	}
}

// text is the text of h's reply to in.
func text(h *Handler, ctx context.Context, in adapters.Inbound) (string, error) {
	r, err := h.Handle(ctx, in)
	return r.Text, err
}
