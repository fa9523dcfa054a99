package teams

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

func newTeams(t *testing.T, bridge bool) (*Teams, *storage.DB, *[]string) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	all := []rooms.Room{
		{Name: "pay-web", Platform: "webroom", Team: "payments"},
		{Name: "pay-hc", Platform: "hipchat", ID: "101", Team: "payments"},
		{Name: "pay-slack", Platform: "slack", ID: "C1", Team: "payments"},
		{Name: "ops", Platform: "webroom"},
	}
	var woken []string
	tm := New(Options{
		DB:    db,
		Rooms: func() []rooms.Room { return all },
		Room: func(name string) (rooms.Room, bool) {
			for _, r := range all {
				if r.Name == name {
					return r, true
				}
			}
			return rooms.Room{}, false
		},
		Team: func(name string) (Team, bool) {
			return Team{Name: name, TimeZone: time.UTC, BridgeChat: bridge}, name == "payments"
		},
		Notify: func(r ...string) { woken = append(woken, r...) },
	})
	return tm, db, &woken
}

func pendingIn(t *testing.T, db *storage.DB, room string) int {
	t.Helper()
	n, err := outbox.New(db, outbox.Options{}).Pending(room)
	require.NoError(t, err)
	return n
}

func TestChatReachesTheTeamsOtherRooms(t *testing.T) {
	tm, db, woken := newTeams(t, true)
	ctx := context.Background()
	origin := timeline.Origin{Adapter: "webroom", Room: "pay-web", User: "alice", Time: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	require.NoError(t, tm.Chat(ctx, "pay-web", adapters.Inbound{Platform: "webroom", RoomID: "pay-web", Text: "deploying"}, origin))
	assert.ElementsMatch(t, []string{"pay-hc", "pay-slack"}, *woken)
	for room, n := range map[string]int{"pay-web": 0, "pay-hc": 1, "pay-slack": 1, "ops": 0} {
		assert.Equal(t, n, pendingIn(t, db, room), room)
	}
	require.NoError(t, tm.Chat(ctx, "ops", adapters.Inbound{Platform: "webroom", RoomID: "ops", Text: "alone"}, origin))
	assert.Zero(t, pendingIn(t, db, "ops"), "a room with no team forms no bridge")

	entries, err := tm.Timeline("payments", 10, 0)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, KindChat, entries[0].Kind)
	assert.Equal(t, "deploying", entries[0].Text)
	assert.Equal(t, "pay-web", entries[0].Origin.Room)
}

func TestNoticeReachesEveryRoomOfTheTeam(t *testing.T) {
	tm, db, _ := newTeams(t, false) // bridge_chat off does not stop notices
	ctx := context.Background()
	require.NoError(t, tm.Notice(ctx, rooms.Room{Name: "pay-hc", Team: "payments"}, adapters.Message{Text: "deploy finished", Color: "green"}, timeline.Origin{Adapter: "hipchat-api"}))
	for room, n := range map[string]int{"pay-web": 1, "pay-hc": 1, "pay-slack": 1, "ops": 0} {
		assert.Equal(t, n, pendingIn(t, db, room), room)
	}
	require.NoError(t, tm.Notice(ctx, rooms.Room{Name: "ops"}, adapters.Message{Text: "to ops only"}, timeline.Origin{Adapter: "hipchat-api"}))
	assert.Equal(t, 1, pendingIn(t, db, "ops"))
	require.NoError(t, tm.Notice(ctx, rooms.Room{Name: "pay-hc", Team: "payments"}, adapters.Message{Text: "#3 rolled back"}, timeline.Origin{}, "pay-web"))
	for room, n := range map[string]int{"pay-web": 1, "pay-hc": 2, "pay-slack": 2} {
		assert.Equal(t, n, pendingIn(t, db, room), "%s: a room that hears of it another way is skipped", room)
	}
}

func TestBridgeOffKeepsChatOnTheTimeline(t *testing.T) {
	tm, db, _ := newTeams(t, false)
	require.NoError(t, tm.Chat(context.Background(), "pay-web", adapters.Inbound{Platform: "webroom", Text: "quiet"}, timeline.Origin{User: "a"}))
	assert.Zero(t, pendingIn(t, db, "pay-hc"))
	entries, err := tm.Timeline("payments", 10, 0)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestTimelinePages(t *testing.T) {
	tm, _, _ := newTeams(t, true)
	ctx := context.Background()
	for _, text := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, tm.Chat(ctx, "pay-web", adapters.Inbound{Platform: "webroom", Text: text}, timeline.Origin{User: "u"}))
	}
	texts := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Text)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		limit  int
		before uint64
		want   []string
	}{
		{"newest first", 2, 0, []string{"e", "d"}},
		{"older than an id", 2, 4, []string{"c", "b"}},
		{"the last page", 10, 2, []string{"a"}},
		{"before the first", 10, 1, nil},
		{"before an id past the end", 1, 99, []string{"e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tm.Timeline("payments", tc.limit, tc.before)
			require.NoError(t, err)
			assert.Equal(t, tc.want, texts(got))
		})
	}
	got, err := tm.Timeline("nobody", 10, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
}
