package oncall

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Nested buckets of storage.BucketEscalate.
var (
	bucketDue      = []byte("due")      // due (unix ns) ‖ incident ‖ step → timer JSON
	bucketIncident = []byte("incident") // incident ‖ step → due key
)

// Fields of an escalated event.
const (
	FieldEscalatedTo = "escalated_to" // the rooms, comma-separated
	FieldAfter       = "after"        // how long it had been unacknowledged
	FieldOnCall      = "on_call"      // who was on call for its team, comma-separated
)

// errNothingDue makes an escalation that found no timer due record nothing.
var errNothingDue = errors.New("no escalation due")

// EscalatorOptions configure an Escalator.
type EscalatorOptions struct {
	DB       *storage.DB
	Timeline *timeline.Timeline
	OnCall   *Service
	// Room looks a room up by name (its team, its platform).
	Room   func(name string) (rooms.Room, bool)
	Logger *slog.Logger
	Now    func() time.Time
}

// Escalator escalates incidents that stay unacknowledged: each matched
// rule's escalate: step is a timer in bbolt, written in the transaction
// that opens the incident; when it is due, an escalated event goes on the
// incident's timeline (reaching its rooms through fan-out) and the step's
// rooms get it too, naming (and where the platform can, mentioning) who
// is on call, in that event's transaction, which also deletes the timer.
// An ack or resolve deletes the incident's timers in its own transaction.
// So a step fires at most once, across restarts too, and one that fell due
// during downtime fires once on start.
type Escalator struct {
	opts EscalatorOptions
	log  *slog.Logger
	wake chan struct{}
}

// timer is one pending escalation step.
type timer struct {
	Incident uint64        `json:"incident"`
	Rule     string        `json:"rule"`
	Step     int           `json:"step"`
	After    time.Duration `json:"after"`
	Rooms    []string      `json:"rooms"`
	Mention  bool          `json:"mention_oncall,omitempty"`
	Due      time.Time     `json:"due"`
}

// NewEscalator returns an Escalator; Dispatch must run in the timeline's
// Dispatcher, before fan-out, Schedule after it, and Run under the bot.
func NewEscalator(opts EscalatorOptions) *Escalator {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Room == nil {
		opts.Room = func(string) (rooms.Room, bool) { return rooms.Room{}, false }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Escalator{opts: opts, log: log, wake: make(chan struct{}, 1)}
	if opts.Timeline != nil {
		opts.Timeline.Subscribe(func(r timeline.Result) {
			if r.Created {
				e.Wake()
			}
		})
	}
	return e
}

// Wake makes Run look at the timers again now.
func (e *Escalator) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func dueKey(due time.Time, incident uint64, step uint32) []byte {
	k := make([]byte, 20)
	binary.BigEndian.PutUint64(k, uint64(max(due.UnixNano(), 0)))
	binary.BigEndian.PutUint64(k[8:], incident)
	binary.BigEndian.PutUint32(k[16:], step)
	return k
}

func escBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if tx.Writable() {
		b, err := tx.Bucket(storage.BucketEscalate).CreateBucketIfNotExists(name)
		if err != nil {
			return nil, fmt.Errorf("escalation bucket %s: %w", name, err)
		}
		return b, nil
	}
	return tx.Bucket(storage.BucketEscalate).Bucket(name), nil
}

// Dispatch runs in the transaction that records ev on inc, before fan-out:
// an ack or resolve deletes the incident's timers; an escalated event (from
// Tick) takes the timers due, says so in ev's text and posts it to their
// rooms, which it returns (to wake after the commit:
// timeline.Dispatched.Wake). A new incident's timers are Schedule's.
func (e *Escalator) Dispatch(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) ([]string, error) {
	switch ev.Kind {
	case timeline.KindAcknowledged, timeline.KindResolved:
		_, err := e.take(tx, inc.ID, time.Time{}, true)
		return nil, err
	case timeline.KindEscalated:
		return e.escalate(tx, inc, ev)
	}
	return nil, nil
}

// Schedule writes the timers of a new incident's escalation steps (the
// ones routing chose for its alert, as fan-out hands them over), in the
// transaction that records ev, the event that opened it.
func (e *Escalator) Schedule(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event, steps []routing.EscalationTarget) error {
	if ev.Kind != timeline.KindTriggered || len(steps) == 0 {
		return nil
	}
	due, err := escBucket(tx, bucketDue)
	if err != nil {
		return err
	}
	idx, err := escBucket(tx, bucketIncident)
	if err != nil {
		return err
	}
	opened := ev.Origin.Time
	if opened.IsZero() {
		opened = ev.Time
	}
	for n, s := range steps {
		t := timer{Incident: inc.ID, Rule: s.Rule, Step: s.Step, After: s.After, Rooms: s.Rooms, Mention: s.MentionOncall, Due: opened.Add(s.After).UTC()}
		raw, err := json.Marshal(t)
		if err != nil {
			return err
		}
		k := dueKey(t.Due, inc.ID, uint32(n))
		if err := due.Put(k, raw); err != nil {
			return fmt.Errorf("store escalation timer: %w", err)
		}
		if err := idx.Put(k[8:], k); err != nil {
			return fmt.Errorf("index escalation timer: %w", err)
		}
	}
	return nil
}

// take deletes incident's timers due by now (all of them with all) and
// returns them, in order of due time.
func (e *Escalator) take(tx *bolt.Tx, incident uint64, now time.Time, all bool) ([]timer, error) {
	idx, err := escBucket(tx, bucketIncident)
	if err != nil {
		return nil, err
	}
	due, err := escBucket(tx, bucketDue)
	if err != nil {
		return nil, err
	}
	prefix := storage.U64(incident)
	var keys [][]byte
	c := idx.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if all || binary.BigEndian.Uint64(v) <= uint64(max(now.UnixNano(), 0)) {
			keys = append(keys, slices.Clone(v))
		}
	}
	out := make([]timer, 0, len(keys))
	for _, k := range keys {
		if raw := due.Get(k); raw != nil {
			var t timer
			if err := json.Unmarshal(raw, &t); err != nil {
				return nil, fmt.Errorf("decode escalation timer: %w", err)
			}
			out = append(out, t)
		}
		if err := due.Delete(k); err != nil {
			return nil, err
		}
		if err := idx.Delete(k[8:]); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b timer) int { return a.Due.Compare(b.Due) })
	return out, nil
}

// team is the incident's team: its first room's that has one, else the
// first escalation room's.
func (e *Escalator) team(inc *timeline.Incident, steps []timer) string {
	for _, r := range inc.Rooms {
		if room, ok := e.opts.Room(r); ok && room.Team != "" {
			return room.Team
		}
	}
	for _, t := range steps {
		for _, r := range t.Rooms {
			if room, ok := e.opts.Room(r); ok && room.Team != "" {
				return room.Team
			}
		}
	}
	return ""
}

func (e *Escalator) escalate(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) ([]string, error) {
	steps, err := e.take(tx, inc.ID, ev.Time, false)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, errNothingDue
	}
	team := e.team(inc, steps)
	var users []string
	if e.opts.OnCall != nil && team != "" {
		users = e.opts.OnCall.OnCall(team, ev.Time)
	}
	var targets []string
	mention := false
	for _, t := range steps {
		mention = mention || t.Mention
		for _, r := range t.Rooms {
			if !slices.Contains(targets, r) {
				targets = append(targets, r)
			}
		}
	}
	last := steps[len(steps)-1]
	ev.Text = fmt.Sprintf("unacknowledged for %s, escalated to %s", shortDuration(last.After), strings.Join(targets, ", "))
	if len(users) > 0 {
		ev.Text += "; on call: " + strings.Join(users, ", ")
	}
	ev.Origin.Adapter = "escalation"
	ev.Fields = map[string]string{FieldEscalatedTo: strings.Join(targets, ","), FieldAfter: shortDuration(last.After)}
	if len(users) > 0 {
		ev.Fields[FieldOnCall] = strings.Join(users, ",")
	}
	msg := render.Event(inc, ev)
	q := outbox.TxQueue(tx, ev.Time)
	var woken []string
	for _, r := range targets {
		if inc.HasRoom(r) {
			continue // fan-out posts it there, under the incident's card
		}
		m := msg
		if room, ok := e.opts.Room(r); ok && mention && e.opts.OnCall != nil {
			m.Mentions = e.opts.OnCall.Mentions(team, room.Platform, users)
		}
		if err := q.Enqueue(r, outbox.Item{Op: adapters.OpPost, Msg: m}); err != nil {
			return nil, fmt.Errorf("enqueue escalation for room %s: %w", r, err)
		}
		woken = append(woken, r)
	}
	return woken, nil
}

// shortDuration is d as people write it: 5m, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Run fires escalations as they fall due, until ctx ends.
func (e *Escalator) Run(ctx context.Context) error {
	return runLoop(ctx, e.log, "escalations", e.Tick, e.wake, e.opts.Now)
}

// maxFire bounds the incidents one Tick escalates.
const maxFire = 256

// Tick escalates every incident with a step due by now and returns when
// the next step falls due (zero: none).
func (e *Escalator) Tick(ctx context.Context) (time.Time, error) {
	now := e.opts.Now()
	var ids []uint64
	var next time.Time
	if err := e.opts.DB.View(func(tx *bolt.Tx) error {
		b, _ := escBucket(tx, bucketDue)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			due := time.Unix(0, int64(binary.BigEndian.Uint64(k)))
			if due.After(now) || len(ids) == maxFire {
				next = due
				return nil
			}
			if id := binary.BigEndian.Uint64(k[8:]); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		return nil
	}); err != nil {
		return time.Time{}, fmt.Errorf("escalation timers: %w", err)
	}
	var errs []error
	for _, id := range ids {
		_, err := e.opts.Timeline.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindEscalated, Origin: timeline.Origin{Adapter: "escalation"}})
		var se *timeline.StateError
		switch {
		case err == nil, errors.Is(err, errNothingDue):
		case errors.As(err, &se), errors.Is(err, timeline.ErrNotFound):
			// Acknowledged or resolved since: nothing more to escalate.
			if err := e.opts.DB.Update(ctx, func(tx *bolt.Tx) error { _, err := e.take(tx, id, time.Time{}, true); return err }); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, err)
		}
	}
	return next, errors.Join(errs...)
}

// runLoop runs tick whenever it said the next thing falls due, or on wake,
// until ctx ends.
func runLoop(ctx context.Context, log *slog.Logger, what string, tick func(context.Context) (time.Time, error), wake <-chan struct{}, now func() time.Time) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		next, err := tick(ctx)
		wait := time.Hour
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Error(what, "err", err)
			wait = 5 * time.Second
		case !next.IsZero():
			wait = min(max(next.Sub(now()), 0), time.Hour)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
		}
	}
}
