// Package teams keeps each team's timeline and bridges the team's rooms.
// Rooms that share a team are linked: besides its incidents, a team has a
// timeline in bbolt of what is not any one incident's (chat lines that name
// no incident, notices posted to one of its rooms, on-call changes) and a
// one-line entry for each incident opened or resolved in its rooms. A chat
// line typed in one of the team's rooms that names no incident reaches the
// team's other rooms as "alice (webroom #ops): …", never its origin; a
// notice reaches every room of the team. Everything is written, and every
// delivery enqueued in the outbox, in one transaction.
package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Kind says what a team timeline entry is.
type Kind string

// Entry kinds.
const (
	KindChat     Kind = "chat"     // a line typed in one of the team's rooms that names no incident
	KindNotice   Kind = "notice"   // a notice posted to one of the team's rooms (the HipChat-compatible API)
	KindOpened   Kind = "opened"   // an incident opened in the team's rooms
	KindResolved Kind = "resolved" // an incident resolved
	KindOnCall   Kind = "oncall"   // an on-call change
)

// Entry is one line of a team's timeline.
type Entry struct {
	ID         uint64          `json:"id"`
	Team       string          `json:"team"`
	Kind       Kind            `json:"kind"`
	Text       string          `json:"text"`
	IncidentID uint64          `json:"incident_id,omitempty"`
	Origin     timeline.Origin `json:"origin"`
	Time       time.Time       `json:"time"`
}

// Team is a team's settings.
type Team struct {
	Name string
	// TimeZone is the zone on-call and chat commands use for the team.
	TimeZone *time.Location
	// BridgeChat mirrors chat lines to the team's other rooms (default true).
	BridgeChat bool
}

// Options configure Teams.
type Options struct {
	DB *storage.DB
	// Rooms lists sitrep's rooms (a room's Team links it).
	Rooms func() []rooms.Room
	// Room looks one room up by name; fan-out asks it for every new and
	// resolved incident's rooms, so it must not list them all.
	Room func(name string) (rooms.Room, bool)
	// Team returns a team's settings; false for a team no config names (it
	// bridges chat and uses UTC).
	Team func(name string) (Team, bool)
	// Notify wakes the outbox for rooms once a write is committed.
	Notify func(rooms ...string)
	// Heard, if set, is told of each chat line and notice inside the
	// transaction that records it, to enqueue more deliveries there (the
	// outgoing webhooks); it returns the outbox rooms to wake.
	Heard func(q *outbox.Queue, e Entry) ([]string, error)
	Now   func() time.Time
}

// Teams keeps team timelines and bridges team rooms.
type Teams struct{ opts Options }

// New returns Teams.
func New(opts Options) *Teams {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func(...string) {}
	}
	if opts.Rooms == nil {
		opts.Rooms = func() []rooms.Room { return nil }
	}
	if opts.Room == nil {
		opts.Room = func(string) (rooms.Room, bool) { return rooms.Room{}, false }
	}
	return &Teams{opts: opts}
}

// settings returns the team's settings, defaults for one no config names.
func (t *Teams) settings(name string) Team {
	if t.opts.Team != nil {
		if tm, ok := t.opts.Team(name); ok {
			return tm
		}
	}
	return Team{Name: name, TimeZone: time.UTC, BridgeChat: true}
}

// roomsOf are the team's rooms, by name.
func (t *Teams) roomsOf(team string) []string {
	var out []string
	for _, r := range t.opts.Rooms() {
		if team != "" && r.Team == team {
			out = append(out, r.Name)
		}
	}
	return out
}

// TeamOf returns the team of the room named name ("" for none).
func (t *Teams) TeamOf(name string) string {
	r, _ := t.opts.Room(name)
	return r.Team
}

// Log appends e to team's timeline inside tx and returns it with its ID.
func Log(tx *bolt.Tx, team string, e Entry) (Entry, error) {
	root := tx.Bucket(storage.BucketTeams)
	b, err := root.CreateBucketIfNotExists([]byte(team))
	if err != nil {
		return Entry{}, fmt.Errorf("team %s timeline: %w", team, err)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return Entry{}, fmt.Errorf("team %s timeline: %w", team, err)
	}
	e.ID, e.Team = seq, team
	raw, err := json.Marshal(e)
	if err != nil {
		return Entry{}, fmt.Errorf("encode team entry: %w", err)
	}
	if err := b.Put(storage.U64(seq), raw); err != nil {
		return Entry{}, fmt.Errorf("store team entry: %w", err)
	}
	return e, nil
}

// Chat records a chat line typed in room that names no incident on the
// room's team timeline and, when the team bridges chat, posts it to the
// team's other rooms. A room with no team forms no bridge: nothing happens.
func (t *Teams) Chat(ctx context.Context, room string, in adapters.Inbound, origin timeline.Origin) error {
	team := t.TeamOf(room)
	if team == "" {
		return nil
	}
	msg := adapters.Message{Kind: timeline.KindChat, User: origin.User, Color: render.Gray,
		Text: fmt.Sprintf("%s (%s #%s): %s", who(origin), in.Platform, room, in.Text)}
	var targets []string
	if t.settings(team).BridgeChat {
		for _, r := range t.roomsOf(team) {
			if r != room {
				targets = append(targets, r)
			}
		}
	}
	return t.write(ctx, team, Entry{Kind: KindChat, Text: in.Text, Origin: origin, Time: origin.Time}, msg, targets)
}

// Notice records a notice posted to room (through the HipChat-compatible
// API) on its team's timeline and posts msg to every room of the team but
// those in except (rooms that hear of it another way); a room with no team
// gets it alone. It returns once all of it is durable.
func (t *Teams) Notice(ctx context.Context, room rooms.Room, msg adapters.Message, origin timeline.Origin, except ...string) error {
	return t.write(ctx, room.Team, noticeEntry(msg, origin), msg, t.noticeTargets(room, except))
}

// NoticeTx is Notice inside tx, for a notice that must commit with other
// writes (its incident's chat line); it returns the rooms to wake after
// the commit.
func (t *Teams) NoticeTx(tx *bolt.Tx, room rooms.Room, msg adapters.Message, origin timeline.Origin, except ...string) ([]string, error) {
	targets := t.noticeTargets(room, except)
	heard, err := t.writeTx(tx, t.opts.Now().UTC(), room.Team, noticeEntry(msg, origin), msg, targets)
	if err != nil {
		return nil, fmt.Errorf("team %s: %w", room.Team, err)
	}
	return append(targets, heard...), nil
}

func noticeEntry(msg adapters.Message, origin timeline.Origin) Entry {
	return Entry{Kind: KindNotice, Text: msg.Text, Origin: origin, Time: origin.Time}
}

// noticeTargets are the rooms a notice posted to room reaches: its team's
// (or room alone), but those in except.
func (t *Teams) noticeTargets(room rooms.Room, except []string) []string {
	targets := []string{room.Name}
	if room.Team != "" {
		targets = t.roomsOf(room.Team)
	}
	return slices.DeleteFunc(targets, func(r string) bool { return slices.Contains(except, r) })
}

// write commits e to team's timeline (when there is a team) and msg to the
// outbox of each target room, in one transaction, then wakes those rooms.
func (t *Teams) write(ctx context.Context, team string, e Entry, msg adapters.Message, targets []string) error {
	now := t.opts.Now().UTC()
	var heard []string // rooms Heard enqueued for
	err := t.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		heard, err = t.writeTx(tx, now, team, e, msg, targets)
		return err
	})
	if err != nil {
		return fmt.Errorf("team %s: %w", team, err)
	}
	t.opts.Notify(append(targets, heard...)...)
	return nil
}

// writeTx is write inside tx; it returns the further rooms Heard enqueued for.
func (t *Teams) writeTx(tx *bolt.Tx, now time.Time, team string, e Entry, msg adapters.Message, targets []string) ([]string, error) {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Team = team
	if team != "" {
		if _, err := Log(tx, team, e); err != nil {
			return nil, err
		}
	}
	q := outbox.TxQueue(tx, now)
	for _, r := range targets {
		if err := q.Enqueue(r, outbox.Item{Op: adapters.OpPost, Msg: msg}); err != nil {
			return nil, fmt.Errorf("enqueue for room %s: %w", r, err)
		}
	}
	if t.opts.Heard != nil {
		return t.opts.Heard(q, e)
	}
	return nil, nil
}

// Timeline returns up to limit entries of team's timeline, newest first,
// older than before (0: from the newest).
func (t *Teams) Timeline(team string, limit int, before uint64) ([]Entry, error) {
	out := []Entry{}
	err := t.opts.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(storage.BucketTeams).Bucket([]byte(team))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			k, v = c.Seek(storage.U64(before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && storage.ParseU64(k) >= before {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode team entry %d: %w", storage.ParseU64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("team %s timeline: %w", team, err)
	}
	return out, nil
}

func who(o timeline.Origin) string {
	if o.User != "" {
		return o.User
	}
	return o.Adapter
}
