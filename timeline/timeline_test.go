package timeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/storage"
)

func newTimeline(t *testing.T, opts Options) (*Timeline, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return New(db, opts), db
}

func alert(mt, entity string, kv ...string) Alert {
	f := map[string]string{FieldMessageType: mt, FieldEntityID: entity}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return Alert{MessageType: mt, EntityID: entity, Fields: f, Origin: Origin{Adapter: "http"}}
}

func TestAlertStateMachine(t *testing.T) {
	type step struct {
		alert    Alert
		incident uint64
		kind     Kind
		state    State
		created  bool
		ignored  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"critical opens, recovery resolves", []step{
			{alert(MsgCritical, "db-1"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgRecovery, "db-1"), 1, KindResolved, StateResolved, false, false},
		}},
		{"second critical updates the open incident", []step{
			{alert(MsgCritical, "db-1"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgWarning, "db-1"), 1, KindUpdated, StateTriggered, false, false},
			{alert(MsgCritical, "db-2"), 2, KindTriggered, StateTriggered, true, false},
		}},
		{"ack then critical keeps it acknowledged", []step{
			{alert(MsgCritical, "db-1"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgAcknowledgement, "db-1", "ack_author", "alice"), 1, KindAcknowledged, StateAcknowledged, false, false},
			{alert(MsgCritical, "db-1"), 1, KindRepeated, StateAcknowledged, false, false},
			{alert(MsgAcknowledgement, "db-1"), 1, KindNote, StateAcknowledged, false, false},
		}},
		{"a re-fire is a repeat; a new state message or severity is an update", []step{
			{alert(MsgCritical, "db-1", FieldStateMessage, "disk 91%"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgCritical, "db-1", FieldStateMessage, "disk 91%"), 1, KindRepeated, StateTriggered, false, false},
			{alert(MsgCritical, "db-1", FieldStateMessage, "disk 97%"), 1, KindUpdated, StateTriggered, false, false},
			{alert(MsgWarning, "db-1", FieldStateMessage, "disk 97%"), 1, KindUpdated, StateTriggered, false, false},
			{alert(MsgWarning, "db-1", FieldStateMessage, "disk 97%", FieldEntityDisplayName, "db-1 disk"), 1, KindUpdated, StateTriggered, false, false},
			{alert(MsgWarning, "db-1", FieldStateMessage, "disk 97%", FieldEntityDisplayName, "db-1 disk", "extra", "x"), 1, KindRepeated, StateTriggered, false, false},
		}},
		{"critical after resolve opens a new incident", []step{
			{alert(MsgCritical, "db-1"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgRecovery, "db-1"), 1, KindResolved, StateResolved, false, false},
			{alert(MsgRecovery, "db-1"), 1, KindNote, StateResolved, false, false},
			{alert(MsgCritical, "db-1"), 2, KindTriggered, StateTriggered, true, false},
		}},
		{"info only adds a note", []step{
			{alert(MsgCritical, "db-1"), 1, KindTriggered, StateTriggered, true, false},
			{alert(MsgInfo, "db-1", FieldStateMessage, "disk at 91%"), 1, KindNote, StateTriggered, false, false},
		}},
		{"ack, recovery, info for an unknown entity record nothing", []step{
			{alert(MsgAcknowledgement, "ghost"), 0, "", "", false, true},
			{alert(MsgRecovery, "ghost"), 0, "", "", false, true},
			{alert(MsgInfo, "ghost"), 0, "", "", false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl, _ := newTimeline(t, Options{})
			for i, s := range tt.steps {
				rs, err := tl.Ingest(context.Background(), []Alert{s.alert})
				require.NoError(t, err, "step %d", i)
				require.Len(t, rs, 1)
				r := rs[0]
				if s.ignored {
					assert.NotEmpty(t, r.Ignored, "step %d", i)
					assert.Zero(t, r.Event.ID, "step %d", i)
					continue
				}
				assert.Empty(t, r.Ignored)
				assert.Equal(t, s.incident, r.Incident.ID, "step %d incident", i)
				assert.Equal(t, s.kind, r.Event.Kind, "step %d kind", i)
				assert.Equal(t, s.state, r.Incident.State, "step %d state", i)
				assert.Equal(t, s.created, r.Created, "step %d created", i)
				_, evs, err := tl.Incident(r.Incident.ID)
				require.NoError(t, err)
				assert.Equal(t, r.Event.ID, evs[len(evs)-1].ID, "event stored last on its timeline")
			}
			all, err := tl.Incidents("", 0)
			require.NoError(t, err)
			if len(all) == 0 {
				_, _, err := tl.Incident(1)
				assert.ErrorIs(t, err, ErrNotFound)
			}
		})
	}
}

func TestIncidentKeepsTitleFieldsAndWho(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	_, err := tl.Ingest(context.Background(), []Alert{
		alert(MsgCritical, "db-1", FieldEntityDisplayName, "db-1 disk full", FieldStateMessage, "92% used", "routing_key", "payments"),
		alert(MsgAcknowledgement, "db-1", "ack_author", "alice", "ack_msg", "on it"),
	})
	require.NoError(t, err)
	inc, evs, err := tl.Incident(1)
	require.NoError(t, err)
	assert.Equal(t, "db-1 disk full", inc.Title)
	assert.Equal(t, "payments", inc.Fields["routing_key"])
	assert.Equal(t, "alice", inc.AcknowledgedBy)
	require.Len(t, evs, 2)
	assert.Equal(t, "92% used", evs[0].Text)
	assert.Equal(t, "on it", evs[1].Text)
	assert.Equal(t, "alice", evs[1].Origin.User)
}

func TestActFromChat(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	ctx := context.Background()
	_, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "db-1")})
	require.NoError(t, err)
	from := Origin{Adapter: "webroom", Room: "ops", User: "bob", MessageID: "17"}

	tests := []struct {
		name    string
		action  Action
		state   State
		wantErr error
		stateIs State
	}{
		{"chat line", Action{IncidentID: 1, Kind: KindChat, Text: "restarting the db", Origin: from}, StateTriggered, nil, ""},
		{"ack", Action{IncidentID: 1, Kind: KindAcknowledged, Origin: from}, StateAcknowledged, nil, ""},
		{"ack twice", Action{IncidentID: 1, Kind: KindAcknowledged, Origin: from}, "", nil, StateAcknowledged},
		{"resolve", Action{IncidentID: 1, Kind: KindResolved, Origin: from}, StateResolved, nil, ""},
		{"resolve twice", Action{IncidentID: 1, Kind: KindResolved, Origin: from}, "", nil, StateResolved},
		{"unknown incident", Action{IncidentID: 99, Kind: KindChat, Text: "x", Origin: from}, "", ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tl.Act(ctx, tt.action)
			switch {
			case tt.wantErr != nil:
				assert.ErrorIs(t, err, tt.wantErr)
			case tt.stateIs != "":
				var se *StateError
				require.True(t, errors.As(err, &se), "want StateError, got %v", err)
				assert.Equal(t, tt.stateIs, se.State)
				assert.Equal(t, fmt.Sprintf("incident #1 is already %s", tt.stateIs), se.Error())
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.state, r.Incident.State)
				assert.Equal(t, "ops", r.Event.Origin.Room, "origin room kept so it is not echoed back")
				assert.Equal(t, "bob", r.Event.Origin.User)
			}
		})
	}
	_, evs, err := tl.Incident(1)
	require.NoError(t, err)
	kinds := []Kind{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []Kind{KindTriggered, KindChat, KindAcknowledged, KindResolved}, kinds, "failed actions leave nothing behind")
}

func TestDispatcherRunsInTheSameTransaction(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint64]int{}
	fail := true
	tl, db := newTimeline(t, Options{Dispatch: func(tx *bolt.Tx, inc *Incident, ev *Event) (Dispatched, error) {
		if ev.Kind == KindTriggered {
			inc.Rooms = append(inc.Rooms, "ops")
		}
		mu.Lock()
		defer mu.Unlock()
		if fail && inc.EntityID == "bad" {
			return Dispatched{}, errors.New("no route")
		}
		seen[ev.ID]++
		return Dispatched{}, tx.Bucket(storage.BucketRefs).Put(storage.U64(ev.ID), []byte("x"))
	}})
	ctx := context.Background()
	_, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "bad")})
	require.ErrorContains(t, err, "no route")
	n, err := tl.Incidents("", 0)
	require.NoError(t, err)
	assert.Empty(t, n, "a failed dispatch leaves no incident behind")

	var heard []Result
	tl.Subscribe(func(r Result) { mu.Lock(); heard = append(heard, r); mu.Unlock() })
	rs, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "good"), alert(MsgRecovery, "good")})
	require.NoError(t, err)
	assert.Equal(t, []string{"ops"}, rs[1].Incident.Rooms, "rooms chosen at trigger are remembered")
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for _, r := range rs {
			assert.NotNil(t, tx.Bucket(storage.BucketRefs).Get(storage.U64(r.Event.ID)))
		}
		return nil
	}))
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, heard, 2, "subscribers hear each committed event")
}

func TestConcurrentAlertsForOneEntityOpenOneIncident(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tl.Ingest(context.Background(), []Alert{alert(MsgCritical, "db-1")})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	all, err := tl.Incidents("", 0)
	require.NoError(t, err)
	require.Len(t, all, 1)
	_, evs, err := tl.Incident(all[0].ID)
	require.NoError(t, err)
	assert.Len(t, evs, 100)
}

func TestIncidentsFilterAndOrder(t *testing.T) {
	tl, _ := newTimeline(t, Options{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	ctx := context.Background()
	_, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "a"), alert(MsgCritical, "b"), alert(MsgCritical, "c"), alert(MsgRecovery, "b")})
	require.NoError(t, err)
	open, err := tl.Incidents(StateTriggered, 0)
	require.NoError(t, err)
	require.Len(t, open, 2)
	assert.Equal(t, []uint64{3, 1}, []uint64{open[0].ID, open[1].ID}, "newest first")
	res, err := tl.Incidents(StateResolved, 0)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, "b", res[0].EntityID)
	one, err := tl.Incidents("", 1)
	require.NoError(t, err)
	assert.Len(t, one, 1)
}

func TestIngestRejectsMalformedAlerts(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	_, err := tl.Ingest(context.Background(), []Alert{{MessageType: "BOGUS", EntityID: "x"}})
	assert.ErrorContains(t, err, "message_type")
	_, err = tl.Ingest(context.Background(), []Alert{{MessageType: MsgCritical}})
	assert.ErrorContains(t, err, "entity_id")
}

func TestParseState(t *testing.T) {
	for in, want := range map[string]State{"Triggered": StateTriggered, " resolved ": StateResolved, "acknowledged": StateAcknowledged} {
		got, ok := ParseState(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got)
	}
	_, ok := ParseState("open")
	assert.False(t, ok)
}

// A transaction that rolls back after writing an incident leaves nothing of
// it behind: the next alert sees the incident as it was committed.
func TestRollbackLeavesNoTrace(t *testing.T) {
	failOn := ""
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, _ *Event) (Dispatched, error) {
		if inc.EntityID == failOn {
			return Dispatched{}, errors.New("dispatch failed")
		}
		return Dispatched{}, nil
	}})
	ctx := context.Background()
	alert := func(mt, entity string) Alert {
		return Alert{MessageType: mt, EntityID: entity, Fields: map[string]string{"entity_id": entity, "message_type": mt}, Time: time.Now()}
	}
	res, err := tl.Ingest(ctx, []Alert{alert(MsgCritical, "db")})
	require.NoError(t, err)
	id := res[0].Incident.ID

	// The ack is written first, then the second alert fails: all of it rolls back.
	failOn = "web"
	_, err = tl.Ingest(ctx, []Alert{alert(MsgAcknowledgement, "db"), alert(MsgCritical, "web")})
	require.Error(t, err)

	failOn = ""
	res, err = tl.Ingest(ctx, []Alert{alert(MsgWarning, "db")})
	require.NoError(t, err)
	assert.Equal(t, id, res[0].Incident.ID)
	assert.Equal(t, StateTriggered, res[0].Incident.State, "the rolled-back ack must not come back")
	assert.Equal(t, KindUpdated, res[0].Event.Kind)

	inc, _, err := tl.Incident(id)
	require.NoError(t, err)
	assert.Equal(t, StateTriggered, inc.State)
	assert.Nil(t, inc.AcknowledgedAt)
}

// Each result has its own rooms, however a dispatcher grows them.
func TestResultsKeepTheirOwnRooms(t *testing.T) {
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, ev *Event) (Dispatched, error) {
		if ev.Kind == KindTriggered {
			inc.Rooms = append(make([]string, 0, 8), "ops")
		} else {
			inc.Rooms = append(inc.Rooms, "extra") // grows in place if the slice were shared
		}
		return Dispatched{}, nil
	}})
	ctx := context.Background()
	a := Alert{MessageType: MsgCritical, EntityID: "x", Fields: map[string]string{}, Time: time.Now()}
	_, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	a.MessageType = MsgWarning
	first, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	second, err := tl.Ingest(ctx, []Alert{a})
	require.NoError(t, err)
	assert.Equal(t, []string{"ops", "extra"}, first[0].Incident.Rooms, "a result keeps its own rooms")
	assert.Equal(t, []string{"ops", "extra", "extra"}, second[0].Incident.Rooms)
}

func TestAlertsThatCanNeverBeStoredAreInvalidNotFailures(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	long := strings.Repeat("e", MaxEntityID+1)
	_, err := tl.Ingest(context.Background(), []Alert{alert(MsgCritical, "ok"), alert(MsgCritical, long)})
	var inv *InvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, 1, inv.Index)
	assert.Equal(t, FieldEntityID, inv.Field)

	// A time JSON cannot carry is taken as the time of receipt, not a failure.
	a := alert(MsgCritical, "far-future")
	a.Time = time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("x", -23*3600))
	res, err := tl.Ingest(context.Background(), []Alert{a})
	require.NoError(t, err)
	assert.Less(t, res[0].Event.Time.Year(), 9999)
}

// A dispatcher's follow-up events are recorded right after the event, on the
// same incident, in the same transaction; their own follow-ups are not taken.
func TestFollowUpEvents(t *testing.T) {
	tl, _ := newTimeline(t, Options{Dispatch: func(_ *bolt.Tx, inc *Incident, ev *Event) (Dispatched, error) {
		if ev.Kind == KindStatusPage {
			return Dispatched{Follow: []Event{{Kind: KindStatusPage, Text: "never"}}, Wake: []string{"page:" + ev.Text}}, nil
		}
		return Dispatched{Follow: []Event{{Kind: KindStatusPage, Text: "a", Origin: Origin{Adapter: "statuspage"}}, {Kind: KindStatusPage, Text: "b"}}}, nil
	}})
	ctx := context.Background()
	res, err := tl.Ingest(ctx, []Alert{{MessageType: MsgCritical, EntityID: "x", Fields: map[string]string{}, Time: time.Now()}})
	require.NoError(t, err)
	require.Len(t, res[0].Follow, 2)
	assert.Equal(t, []string{"page:a", "page:b"}, res[0].Wake)
	assert.Equal(t, res[0].Follow[1].ID, res[0].Incident.LastEventID)

	_, events, err := tl.Incident(res[0].Incident.ID)
	require.NoError(t, err)
	var got []string
	for _, e := range events {
		got = append(got, string(e.Kind)+":"+e.Text)
	}
	assert.Equal(t, []string{"triggered:", "status_page:a", "status_page:b"}, got)
	assert.Equal(t, "statuspage", events[1].Origin.Adapter)
	assert.Equal(t, events[0].Time, events[1].Time, "a follow-up without a time takes its cause's")
}

// An action's Also commits with its event or not at all, and its rooms are woken.
func TestActAlso(t *testing.T) {
	tl, _ := newTimeline(t, Options{})
	ctx := context.Background()
	res, err := tl.Ingest(ctx, []Alert{{MessageType: MsgCritical, EntityID: "x", Fields: map[string]string{}, Time: time.Now()}})
	require.NoError(t, err)
	id := res[0].Incident.ID

	_, err = tl.Act(ctx, Action{IncidentID: id, Kind: KindChat, Text: "lost",
		Also: func(*bolt.Tx, Result) ([]string, error) { return nil, errors.New("team write failed") }})
	require.ErrorContains(t, err, "team write failed")
	got, err := tl.Act(ctx, Action{IncidentID: id, Kind: KindChat, Text: "kept",
		Also: func(_ *bolt.Tx, r Result) ([]string, error) {
			assert.Equal(t, "kept", r.Event.Text, "Also sees the recorded event")
			return []string{"pay-2"}, nil
		}})
	require.NoError(t, err)
	assert.Equal(t, []string{"pay-2"}, got.Wake)
	_, events, err := tl.Incident(id)
	require.NoError(t, err)
	var texts []string
	for _, e := range events {
		texts = append(texts, e.Text)
	}
	assert.Equal(t, []string{"", "kept"}, texts, "the failed action left no event")
}
