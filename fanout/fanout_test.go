package fanout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/teams"
	"github.com/sitrep/sitrep/timeline"
)

// queued is what one Dispatch enqueued, by room, in order.
type queued map[string][]outbox.Item

func (q queued) Enqueue(room string, it outbox.Item) error {
	q[room] = append(q[room], it)
	return nil
}

func (q queued) TeamLog(string, teams.Entry) error { return nil }

// logged records team lines as well.
type logged struct {
	queued
	lines map[string][]teams.Entry
}

func (l *logged) TeamLog(team string, e teams.Entry) error {
	l.lines[team] = append(l.lines[team], e)
	return nil
}

func newFanout(t *testing.T) *Fanout {
	t.Helper()
	router, err := routing.Compile([]routing.Rule{
		{Name: "db", Matchers: []string{`service="db"`}, Rooms: []string{"web", "slackish"}, Message: "DB: ${{ALERT.entity_display_name}}", Continue: true},
		{Name: "also-chat", Matchers: []string{`service="db"`}, Rooms: []string{"chat"}},
	}, routing.Options{DefaultRooms: []string{"web"}})
	require.NoError(t, err)
	caps := map[string]adapters.Capabilities{
		"web":      {Edit: true, PrivateReplies: true},
		"slackish": {Edit: true, Threads: true, Buttons: true},
		"chat":     {},
	}
	return New(Options{
		Router:       func() *routing.Router { return router },
		Capabilities: func(room string) (adapters.Capabilities, bool) { c, ok := caps[room]; return c, ok },
		PublicURL:    "https://sitrep.example.com",
	})
}

func ops(items []outbox.Item) []adapters.Op {
	out := make([]adapters.Op, len(items))
	for i, it := range items {
		out[i] = it.Op
	}
	return out
}

func TestDispatch(t *testing.T) {
	f := newFanout(t)
	inc := timeline.Incident{ID: 7, Title: "db-1 down", State: timeline.StateTriggered, FirstEventID: 1} // as the timeline records it
	fields := map[string]string{"service": "db", "entity_display_name": "db-1 down", "message_type": "CRITICAL", "auth_token": "s3cret-value"}
	triggered := timeline.Event{ID: 1, Kind: timeline.KindTriggered, Fields: fields, Origin: timeline.Origin{Adapter: "http"}}

	q := queued{}
	require.NoError(t, dispatch(f, q, &inc, &triggered))
	assert.Equal(t, []string{"web", "slackish", "chat"}, inc.Rooms, "the incident remembers its rooms, in route order")
	assert.Equal(t, map[string]string{"web": "DB: db-1 down", "slackish": "DB: db-1 down"}, inc.Messages, "and the text each route gave its card")
	for room, items := range q {
		require.Len(t, items, 1, room)
		assert.True(t, items[0].Card, "%s: the first post is the card", room)
		assert.Equal(t, adapters.OpPost, items[0].Op)
		assert.Equal(t, []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}, items[0].Msg.Actions)
		assert.NotContains(t, items[0].Msg.Fields, "auth_token", "secret-looking fields never leave")
	}
	assert.Equal(t, "DB: db-1 down", q["web"][0].Msg.Text)
	assert.Contains(t, q["chat"][0].Msg.Text, "#7 triggered CRITICAL: db-1 down", "a room no route gave a message gets the default text")

	for _, tc := range []struct {
		name  string
		ev    timeline.Event
		state timeline.State
		want  map[string][]adapters.Op
	}{
		{"an ack typed in web: a reply in threads, a post elsewhere, the card updated everywhere it can be",
			timeline.Event{ID: 2, Kind: timeline.KindAcknowledged, Origin: timeline.Origin{Adapter: "webroom", Room: "web", User: "ann"}}, timeline.StateAcknowledged,
			map[string][]adapters.Op{"web": {adapters.OpUpdate}, "slackish": {adapters.OpReply, adapters.OpUpdate}, "chat": {adapters.OpPost}}},
		{"chat from the platform without edits: never echoed back",
			timeline.Event{ID: 3, Kind: timeline.KindChat, Text: "on it", Origin: timeline.Origin{Adapter: "hipchat", Room: "chat", User: "bob"}}, timeline.StateAcknowledged,
			map[string][]adapters.Op{"web": {adapters.OpPost}, "slackish": {adapters.OpReply}}},
		{"a re-fire is not posted",
			timeline.Event{ID: 4, Kind: timeline.KindRepeated, Fields: fields}, timeline.StateAcknowledged,
			map[string][]adapters.Op{}},
		{"resolved by the alert source",
			timeline.Event{ID: 5, Kind: timeline.KindResolved, Origin: timeline.Origin{Adapter: "http"}}, timeline.StateResolved,
			map[string][]adapters.Op{"web": {adapters.OpPost, adapters.OpUpdate}, "slackish": {adapters.OpReply, adapters.OpUpdate}, "chat": {adapters.OpPost}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc.State = tc.state
			q := queued{}
			require.NoError(t, dispatch(f, q, &inc, &tc.ev))
			got := map[string][]adapters.Op{}
			for room, items := range q {
				got[room] = ops(items)
				for _, it := range items {
					if it.Op == adapters.OpUpdate {
						assert.Equal(t, tc.state, it.Msg.State, "the card shows the new state")
						assert.Equal(t, uint64(1), it.Msg.EventID, "the card is the alert that opened the incident")
						if room != "chat" {
							assert.Equal(t, "#7 "+string(tc.state)+"\nDB: db-1 down", it.Msg.Text, "says the new state and who, and keeps its route's text")
						}
					}
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPolicy(t *testing.T) {
	f := newFanout(t)
	f.opts.Rooms = Policy{Hears: func(k timeline.Kind) bool { return k != timeline.KindChat }, NoDigest: true}
	inc := timeline.Incident{ID: 9, Title: "x", State: timeline.StateTriggered, Rooms: []string{"web"}}
	q := queued{}
	require.NoError(t, dispatch(f, q, &inc, &timeline.Event{Kind: timeline.KindChat, Text: "hi"}))
	assert.Empty(t, q, "a destination hears only the kinds its policy names")
	require.NoError(t, dispatch(f, q, &inc, &timeline.Event{Kind: timeline.KindNote, Text: "n"}))
	require.Len(t, q["web"], 1)
	assert.True(t, q["web"][0].NoDigest)
}

func TestIncidentFields(t *testing.T) {
	inc := timeline.Incident{ID: 12, EntityID: "db-1", Title: "down", State: timeline.StateTriggered}
	assert.Equal(t, map[string]string{"id": "12", "entity_id": "db-1", "title": "down", "state": "triggered", "url": "https://s.example.com/v1/incidents/12"},
		IncidentFields(&inc, "https://s.example.com/"))
	assert.NotContains(t, IncidentFields(&inc, ""), "url")
}

func TestTeamLines(t *testing.T) {
	f := newFanout(t)
	teamOf := map[string]string{"web": "payments", "slackish": "payments", "chat": "dba"}
	f.opts.TeamOf = func(room string) string { return teamOf[room] }
	inc := timeline.Incident{ID: 3, Title: "db-1 down", State: timeline.StateTriggered}
	l := &logged{queued: queued{}, lines: map[string][]teams.Entry{}}
	fields := map[string]string{"service": "db", "entity_display_name": "db-1 down"}
	require.NoError(t, dispatch(f, l, &inc, &timeline.Event{ID: 1, Kind: timeline.KindTriggered, Fields: fields}))
	require.NoError(t, dispatch(f, l, &inc, &timeline.Event{ID: 2, Kind: timeline.KindAcknowledged}))
	inc.State = timeline.StateResolved
	require.NoError(t, dispatch(f, l, &inc, &timeline.Event{ID: 3, Kind: timeline.KindResolved}))
	for team, n := range map[string]int{"payments": 2, "dba": 2} {
		require.Len(t, l.lines[team], n, "one line per team for opened and resolved, none for the ack: %s", team)
		assert.Equal(t, "#3 opened: db-1 down", l.lines[team][0].Text)
		assert.Equal(t, teams.KindResolved, l.lines[team][1].Kind)
		assert.Equal(t, uint64(3), l.lines[team][1].IncidentID)
	}
}

// dispatch is f.Dispatch for tests that look only at its error.
func dispatch(f *Fanout, q Writer, inc *timeline.Incident, ev *timeline.Event) error {
	_, err := f.Dispatch(q, inc, ev)
	return err
}

// A new incident's card in a team room names who is on call; later events
// and rooms with no one on call do not.
func TestFirstMessageNamesWhoIsOnCall(t *testing.T) {
	f := newFanout(t)
	f.opts.OnCall = func(room string, _ time.Time) string {
		if room == "slackish" {
			return "on call: bob"
		}
		return ""
	}
	q := queued{}
	inc := timeline.Incident{ID: 4, Title: "db-1 down", State: timeline.StateTriggered}
	fields := map[string]string{"service": "db", "entity_display_name": "db-1 down"}
	require.NoError(t, dispatch(f, q, &inc, &timeline.Event{ID: 1, Kind: timeline.KindTriggered, Fields: fields}))
	require.NoError(t, dispatch(f, q, &inc, &timeline.Event{ID: 2, Kind: timeline.KindNote, Text: "looking"}))
	assert.Equal(t, "DB: db-1 down\non call: bob", q["slackish"][0].Msg.Text)
	assert.Equal(t, "DB: db-1 down", q["web"][0].Msg.Text)
	assert.NotContains(t, q["slackish"][1].Msg.Text, "on call")
}
