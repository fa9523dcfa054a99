package oncall

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/teams"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fixture is a Service over a fresh store, with the team rooms of
// testRooms, that can be restarted on the same file.
type fixture struct {
	t       *testing.T
	path    string
	db      *storage.DB
	clock   *clock
	svc     *Service
	changes []Change
}

func testRooms() []rooms.Room {
	return []rooms.Room{
		{Name: "payments", Platform: "webroom", Team: "payments"},
		{Name: "pay-slack", Platform: "slack", ID: "C1", Team: "payments"},
		{Name: "search", Platform: "webroom", Team: "search"},
		{Name: "ops", Platform: "webroom"},
	}
}

func newFixture(t *testing.T, now string) *fixture {
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "sitrep.db"), clock: &clock{t: at(now)}}
	f.open()
	t.Cleanup(func() { _ = f.db.Close() })
	return f
}

func (f *fixture) open() {
	db, err := storage.Open(f.path, storage.Options{NoSync: true})
	require.NoError(f.t, err)
	f.db = db
	f.svc, err = New(Options{
		DB: db, Rooms: testRooms, Now: f.clock.Now,
		Zone: func(team string) *time.Location {
			if team == "search" {
				l, _ := time.LoadLocation("America/New_York")
				return l
			}
			return nil
		},
		Users:    map[string]User{"bob": {"slack": "U0BOB"}},
		OnChange: func(_ *outbox.Queue, c Change) ([]string, error) { f.changes = append(f.changes, c); return nil, nil },
	})
	require.NoError(f.t, err)
}

// restart closes the store and opens it again, as a new process would.
func (f *fixture) restart() {
	require.NoError(f.t, f.db.Close())
	f.open()
}

// at moves the clock to ts and lets the announcer run.
func (f *fixture) at(ts string) {
	f.t.Helper()
	f.clock.Set(at(ts))
	_, err := f.svc.Tick(context.Background())
	require.NoError(f.t, err)
}

// posts returns the texts queued for room, oldest first.
func (f *fixture) posts(room string) []string {
	f.t.Helper()
	var out []string
	require.NoError(f.t, f.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e outbox.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e.Msg.Text)
			return nil
		})
	}))
	return out
}

// timeline returns the texts of team's on-call entries, oldest first.
func (f *fixture) timeline(team string) []string {
	f.t.Helper()
	tm := teams.New(teams.Options{DB: f.db})
	entries, err := tm.Timeline(team, 100, 0)
	require.NoError(f.t, err)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Kind == teams.KindOnCall {
			out = append(out, entries[i].Text)
		}
	}
	return out
}

func (f *fixture) put(s Schedule) {
	f.t.Helper()
	_, err := f.svc.Put(context.Background(), s)
	require.NoError(f.t, err)
}

const (
	aliceToBob = "payments: alice → bob is now on call (primary), until Mon 14 Dec 09:00 CET"
	bobToCarol = "payments: bob → carol is now on call (primary), until Mon 21 Dec 09:00 CET"
)

// A fake clock moved across a handoff gets each of the team's rooms exactly
// one announcement, on the team's timeline too; a room of another team or
// none gets nothing.
func TestHandoffAnnouncedOncePerRoom(t *testing.T) {
	f := newFixture(t, "2026-12-01T10:00:00+01:00")
	f.put(payments())
	f.at("2026-12-07T08:59:59+01:00")
	assert.Empty(t, f.posts("payments"), "nothing before the handoff")

	f.at("2026-12-07T09:00:00+01:00")
	f.at("2026-12-07T09:00:01+01:00")
	f.at("2026-12-07T12:00:00+01:00")
	assert.Equal(t, []string{aliceToBob}, f.posts("payments"))
	assert.Equal(t, []string{aliceToBob}, f.posts("pay-slack"))
	assert.Empty(t, f.posts("search"))
	assert.Empty(t, f.posts("ops"))
	assert.Equal(t, []string{aliceToBob}, f.timeline("payments"))
	assert.Equal(t, []Change{
		{Team: "payments", User: "alice", State: StateOffCall, Rotation: "primary", Time: at("2026-12-07T09:00:00+01:00")},
		{Team: "payments", User: "bob", State: StateOnCall, Rotation: "primary", Time: at("2026-12-07T09:00:00+01:00")},
	}, f.changes)

	// Slack's post mentions bob; the web room's has no one to mention.
	require.NoError(t, f.db.View(func(tx *bolt.Tx) error {
		for room, want := range map[string]map[string]string{"pay-slack": {"bob": "U0BOB"}, "payments": nil} {
			_, v := tx.Bucket(storage.BucketOutbox).Bucket([]byte(room)).Cursor().First()
			var e outbox.Entry
			require.NoError(t, json.Unmarshal(v, &e))
			assert.Equal(t, want, e.Msg.Mentions, room)
		}
		return nil
	}))
}

// A restart right after a handoff does not announce it again; one before it
// (the handoff passed while sitrep was down) announces it once, late.
func TestRestartAcrossAHandoff(t *testing.T) {
	f := newFixture(t, "2026-12-01T10:00:00+01:00")
	f.put(payments())
	f.at("2026-12-07T09:00:00+01:00")
	f.restart()
	f.put(payments()) // the config seeds the same schedule on start
	f.at("2026-12-07T09:00:05+01:00")
	assert.Equal(t, []string{aliceToBob}, f.posts("payments"), "announced once across the restart")

	// Down from before the next handoff until after it.
	f.at("2026-12-14T08:59:00+01:00")
	f.restart()
	f.put(payments())
	f.at("2026-12-14T09:20:00+01:00")
	f.at("2026-12-14T09:21:00+01:00")
	assert.Equal(t, []string{aliceToBob,
		bobToCarol + " (late: the handoff was at Mon 14 Dec 09:00 CET, while sitrep was down)"}, f.posts("payments"))
}

// Downtime across two handoffs: one late announcement per handoff, in order.
func TestDowntimeAcrossTwoHandoffs(t *testing.T) {
	f := newFixture(t, "2026-12-01T10:00:00+01:00")
	f.put(payments())
	f.restart()
	f.put(payments())
	f.at("2026-12-15T10:00:00+01:00")
	want := []string{
		aliceToBob + " (late: the handoff was at Mon 7 Dec 09:00 CET, while sitrep was down)",
		bobToCarol + " (late: the handoff was at Mon 14 Dec 09:00 CET, while sitrep was down)",
	}
	assert.Equal(t, want, f.posts("payments"))
	assert.Equal(t, want, f.posts("pay-slack"))
	assert.Equal(t, want, f.timeline("payments"))
	require.Len(t, f.changes, 4)
	assert.True(t, f.changes[3].Late)
}

// A daily rotation across the spring and fall DST changes: the handoffs stay
// at 09:00 local time and each is announced once.
func TestDailyHandoffsAcrossDSTAnnounced(t *testing.T) {
	f := newFixture(t, "2027-03-27T10:00:00+01:00")
	s := Schedule{Team: "payments", TimeZone: "Europe/Berlin", Rotations: []Rotation{{Name: "primary", Type: Daily, ShiftLength: 1,
		Start: at("2027-03-27T09:00:00+01:00"), Participants: []string{"alice", "bob"}}}}
	f.put(s)
	f.at("2027-03-28T08:59:59+02:00")
	assert.Empty(t, f.posts("payments"), "08:59 CEST is 07:59 in winter time: not yet")
	f.at("2027-03-28T09:00:00+02:00")
	f.at("2027-03-29T09:00:00+02:00")
	assert.Equal(t, []string{
		"payments: alice → bob is now on call (primary), until Mon 29 Mar 09:00 CEST",
		"payments: bob → alice is now on call (primary), until Tue 30 Mar 09:00 CEST",
	}, f.posts("payments"))

	f.clock.Set(at("2027-10-30T10:00:00+02:00"))
	f.put(Schedule{Team: "payments", TimeZone: "Europe/Berlin", Rotations: []Rotation{{Name: "primary", Type: Daily, ShiftLength: 1,
		Start: at("2027-10-30T09:00:00+02:00"), Participants: []string{"carol", "dave"}}}})
	f.at("2027-10-31T08:59:59+01:00")
	f.at("2027-10-31T09:00:00+01:00")
	posts := f.posts("payments")
	require.Len(t, posts, 4)
	assert.Equal(t, "payments: alice → carol is now on call (primary), until Sun 31 Oct 09:00 CET (schedule changed)", posts[2], "from whom the rooms last heard of")
	assert.Equal(t, "payments: carol → dave is now on call (primary), until Mon 1 Nov 09:00 CET", posts[3])
}

// Two teams in different zones: each hands over at its own local time and
// only its own rooms hear of it.
func TestTwoTeamsInDifferentZones(t *testing.T) {
	f := newFixture(t, "2026-12-01T00:00:00Z")
	f.put(payments())
	f.put(Schedule{Team: "search", Rotations: []Rotation{{Name: "primary", Type: Daily, ShiftLength: 1,
		Start: at("2026-11-30T09:00:00-05:00"), Participants: []string{"xavier", "yuki"}}}}) // the team's zone: New York
	f.at("2026-12-01T14:00:00Z") // 09:00 in New York
	assert.Equal(t, []string{"search: xavier → yuki is now on call (primary), until Wed 2 Dec 09:00 EST"}, f.posts("search"))
	assert.Empty(t, f.posts("payments"))
	f.at("2026-12-07T08:00:00Z") // 09:00 in Berlin
	assert.Equal(t, []string{aliceToBob}, f.posts("payments"))
	assert.Len(t, f.posts("search"), 6, "one per day in New York")
}

// A schedule replaced mid-shift announces the change at once and then
// follows the new schedule's handoffs, never the old one's.
func TestScheduleReplacedMidShift(t *testing.T) {
	f := newFixture(t, "2026-12-08T10:00:00+01:00")
	f.put(payments()) // bob's week
	s := payments()
	s.Rotations[0].Participants = []string{"alice", "dave", "carol"}
	f.clock.Set(at("2026-12-09T10:00:00+01:00"))
	f.put(s)
	assert.Equal(t, []string{"payments: bob → dave is now on call (primary), until Mon 14 Dec 09:00 CET (schedule changed)"}, f.posts("payments"))
	f.put(s) // the same again: nothing
	f.at("2026-12-14T09:00:00+01:00")
	assert.Equal(t, []string{
		"payments: bob → dave is now on call (primary), until Mon 14 Dec 09:00 CET (schedule changed)",
		"payments: dave → carol is now on call (primary), until Mon 21 Dec 09:00 CET",
	}, f.posts("payments"))

	// An override added mid-shift starts and ends mid-shift.
	s.Overrides = []Override{{User: "erin", Start: at("2026-12-16T12:00:00+01:00"), End: at("2026-12-17T12:00:00+01:00")}}
	f.put(s)
	f.at("2026-12-16T12:00:00+01:00")
	f.at("2026-12-17T12:00:00+01:00")
	posts := f.posts("payments")
	assert.Equal(t, []string{
		"payments: carol → erin is now on call (primary), until Thu 17 Dec 12:00 CET",
		"payments: erin → carol is now on call (primary), until Mon 21 Dec 09:00 CET",
	}, posts[2:])

	// Deleting it stops the announcements.
	require.NoError(t, f.svc.Delete(context.Background(), "payments"))
	f.at("2026-12-21T09:00:00+01:00")
	assert.Len(t, f.posts("payments"), 4)
	assert.ErrorIs(t, f.svc.Delete(context.Background(), "payments"), ErrNotFound)
}

// A bad schedule is refused whole: nothing is stored.
func TestBadScheduleStoresNothing(t *testing.T) {
	f := newFixture(t, "2026-12-08T10:00:00+01:00")
	s := payments()
	s.Rotations[0].Participants = nil
	_, err := f.svc.Put(context.Background(), s)
	require.Error(t, err)
	_, ok := f.svc.Get("payments")
	assert.False(t, ok)
	f.restart()
	_, ok = f.svc.Get("payments")
	assert.False(t, ok)
}
