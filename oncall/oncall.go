// Package oncall keeps each team's on-call schedule and tells the team's
// rooms who is on call. A schedule is GoAlert's model: rotations (hourly,
// daily or weekly shifts of shift_length units from a start handoff, in the
// schedule's time zone; daily and weekly ones keep their wall-clock time
// across daylight-saving changes, hourly ones count real hours) and
// overrides that put someone else on call for a while.
//
// # Handoffs, exactly once
//
// Each team's schedule and its state (the next handoff instant, and who was
// last announced as on call in each rotation) live in bbolt. The announcer
// (Run) sleeps until the earliest next handoff of any team, then, in one
// transaction per team, writes the announcement on the team's timeline
// (package teams), an outbox post for each of the team's rooms, and the
// advanced state. A crash before that commit announces nothing and the
// handoff is announced on restart; after it, the state says it is done. So
// a handoff is announced exactly once per room, and one that fell into
// downtime is announced once when sitrep is back, marked late, in order
// with the others missed.
//
// Replacing a schedule (config at start, PUT /v1/schedules/{team})
// recomputes the next handoff from the new schedule and announces, at once,
// each rotation whose person on call it changed. Putting a schedule equal
// to the stored one changes nothing, so a restart does not reset the state.
//
// # Elsewhere
//
// Teams whose schedule lives in another tool report changes with
// External (POST /v1/oncall, Splunk On-Call's ONCALL.* fields): recorded,
// announced the same way, and kept for /oncall. Escalation (escalate.go)
// times unacknowledged incidents and names the person on call.
package oncall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/teams"
	"github.com/sitrep/sitrep/timeline"
)

// KindOnCall is the Message.Kind of an on-call announcement.
const KindOnCall timeline.Kind = "oncall"

// On-call states, as Splunk On-Call names them.
const (
	StateOnCall  = "on-call"
	StateOffCall = "off-call"
)

// LateAfter is how long after its instant a handoff is announced as late.
const LateAfter = 30 * time.Second

// maxCatchUp bounds the handoffs one transaction announces.
const maxCatchUp = 500

// Nested buckets of storage.BucketOnCall.
var (
	bucketSchedules = []byte("schedules") // team → Schedule JSON
	bucketState     = []byte("state")     // team → state JSON
	bucketExternal  = []byte("external")  // team → map[user]since JSON, from External
)

// ErrNotFound means the team has no schedule.
var ErrNotFound = errors.New("no schedule for this team")

// UnknownTeamError is a team sitrep knows nothing of.
type UnknownTeamError struct {
	Team  string
	Known []string
}

func (e *UnknownTeamError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown team %q: no team has rooms or an on-call schedule yet", e.Team)
	}
	return fmt.Sprintf("unknown team %q; known teams: %s", e.Team, strings.Join(e.Known, ", "))
}

// Change is one person going on or off call, as the OnChange hook hears it.
type Change struct {
	Team     string    `json:"team"`
	User     string    `json:"user"`
	State    string    `json:"state"`              // StateOnCall or StateOffCall
	Rotation string    `json:"rotation,omitempty"` // "" for an external change
	Time     time.Time `json:"time"`               // when it happened (the handoff instant)
	Late     bool      `json:"late,omitempty"`     // announced after downtime
	External bool      `json:"external,omitempty"` // reported through External, not from a schedule
}

// Options configure a Service.
type Options struct {
	DB *storage.DB
	// Rooms lists sitrep's rooms; a room's Team makes it one of the team's.
	Rooms func() []rooms.Room
	// Zone is a team's time zone (teams: in config); nil or a nil result: UTC.
	Zone func(team string) *time.Location
	// Known reports whether a team exists without a schedule (a teams:
	// entry, or rooms naming it); nil: only teams with rooms.
	Known func(team string) bool
	// Users maps people to their platform user IDs for every team
	// (config's users:); a schedule's own users: win.
	Users map[string]User
	// OnChange, if set, runs inside the announcement's transaction for each
	// person going on or off call (outgoing webhooks hang here), enqueueing
	// on q; it returns the outbox rooms it enqueued for, woken after the
	// commit. Its error rolls the announcement back.
	OnChange func(q *outbox.Queue, c Change) ([]string, error)
	// Notify wakes the outbox for rooms once a write is committed.
	Notify func(rooms ...string)
	Logger *slog.Logger
	Now    func() time.Time
}

// Service keeps schedules and announces handoffs.
type Service struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}

	mu       sync.RWMutex
	scheds   map[string]*Compiled            // by team, as committed
	external map[string]map[string]time.Time // team → user → on call since
}

// state is a team's announcer state.
type state struct {
	Next    time.Time         `json:"next"`    // the next instant someone may change hands; zero: none
	Current map[string]string `json:"current"` // rotation → who was last announced (or found) on call
}

// New returns a Service over db, with the schedules and external records
// it holds.
func New(opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func(...string) {}
	}
	if opts.Rooms == nil {
		opts.Rooms = func() []rooms.Room { return nil }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{opts: opts, log: log, wake: make(chan struct{}, 1),
		scheds: map[string]*Compiled{}, external: map[string]map[string]time.Time{}}
	err := opts.DB.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(storage.BucketOnCall)
		if b := root.Bucket(bucketSchedules); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				c, err := s.decodeSchedule(v)
				if err != nil {
					return fmt.Errorf("schedule of team %s: %w", k, err)
				}
				s.scheds[string(k)] = c
				return nil
			}); err != nil {
				return err
			}
		}
		if b := root.Bucket(bucketExternal); b != nil {
			return b.ForEach(func(k, v []byte) error {
				m := map[string]time.Time{}
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("on-call record of team %s: %w", k, err)
				}
				s.external[string(k)] = m
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("oncall: %w", err)
	}
	return s, nil
}

func (s *Service) zone(team string) *time.Location {
	if s.opts.Zone != nil {
		if l := s.opts.Zone(team); l != nil {
			return l
		}
	}
	return time.UTC
}

func (s *Service) decodeSchedule(raw []byte) (*Compiled, error) {
	var sch Schedule
	if err := json.Unmarshal(raw, &sch); err != nil {
		return nil, err
	}
	return Compile(sch, s.zone(sch.Team))
}

// Wake makes Run look at the schedules again now (tests move their clock
// and wake it).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Compile checks sch as Put would, with the team's zone.
func (s *Service) Compile(sch Schedule) (*Compiled, error) { return Compile(sch, s.zone(sch.Team)) }

// Seed puts each of the config's schedules (see Put).
func (s *Service) Seed(ctx context.Context, scheds []Schedule) error {
	for _, sch := range scheds {
		if _, err := s.Put(ctx, sch); err != nil {
			return fmt.Errorf("schedule of team %s: %w", sch.Team, err)
		}
	}
	return nil
}

// Put stores sch as its team's schedule, replacing any, and reports
// whether it changed anything. A changed schedule announces at once each
// rotation whose person on call it changed, and its next handoff is
// computed afresh. Its error is a *ValidationError for a bad schedule:
// nothing is stored then.
func (s *Service) Put(ctx context.Context, sch Schedule) (bool, error) {
	c, err := s.Compile(sch)
	if err != nil {
		return false, err
	}
	raw, err := json.Marshal(sch)
	if err != nil {
		return false, fmt.Errorf("encode schedule: %w", err)
	}
	team := sch.Team
	var changed bool
	var touched []string
	err = s.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		changed, touched = false, nil
		now := s.opts.Now()
		sb, err := nested(tx, bucketSchedules)
		if err != nil {
			return err
		}
		if bytes.Equal(sb.Get([]byte(team)), raw) {
			return nil
		}
		changed = true
		st, err := getState(tx, team)
		if err != nil {
			return err
		}
		cur := map[string]string{}
		q := outbox.TxQueue(tx, now)
		for i := range c.rots {
			name, u := c.rots[i].Name, c.who(i, now)
			cur[name] = u
			if prev, ok := st.Current[name]; ok && prev != u {
				until, _ := c.changeAfter(i, now)
				a := announcement{team: team, from: prev, to: u, rotation: name, at: now, until: until, loc: c.loc, note: "schedule changed", users: c.s.Users}
				rs, err := s.announce(tx, q, a)
				if err != nil {
					return err
				}
				touched = append(touched, rs...)
			}
		}
		if err := sb.Put([]byte(team), raw); err != nil {
			return fmt.Errorf("store schedule: %w", err)
		}
		return putState(tx, team, state{Next: c.NextHandoff(now), Current: cur})
	})
	if err != nil {
		return false, fmt.Errorf("schedule of team %s: %w", team, err)
	}
	s.mu.Lock()
	s.scheds[team] = c
	s.mu.Unlock()
	s.opts.Notify(touched...)
	s.Wake()
	return changed, nil
}

// Delete removes team's schedule; ErrNotFound if it has none.
func (s *Service) Delete(ctx context.Context, team string) error {
	err := s.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		sb, err := nested(tx, bucketSchedules)
		if err != nil {
			return err
		}
		if sb.Get([]byte(team)) == nil {
			return ErrNotFound
		}
		if err := sb.Delete([]byte(team)); err != nil {
			return err
		}
		stb, err := nested(tx, bucketState)
		if err != nil {
			return err
		}
		return stb.Delete([]byte(team))
	})
	if err != nil {
		return fmt.Errorf("team %s: %w", team, err)
	}
	s.mu.Lock()
	delete(s.scheds, team)
	s.mu.Unlock()
	return nil
}

// Get returns team's schedule.
func (s *Service) Get(team string) (*Compiled, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.scheds[team]
	return c, ok
}

// Teams lists the teams with a schedule or an external on-call record.
func (s *Service) Teams() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.scheds)+len(s.external))
	for t := range s.scheds {
		out = append(out, t)
	}
	for t := range s.external {
		if _, dup := s.scheds[t]; !dup {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// known reports whether team has a schedule, an external record, rooms or a
// teams: entry.
func (s *Service) known(team string) bool {
	s.mu.RLock()
	_, sched := s.scheds[team]
	_, ext := s.external[team]
	s.mu.RUnlock()
	if sched || ext || len(s.roomsOf(team)) > 0 {
		return true
	}
	return s.opts.Known != nil && s.opts.Known(team)
}

// knownTeams lists every team known, for an error naming them.
func (s *Service) knownTeams() []string {
	out := s.Teams()
	for _, r := range s.opts.Rooms() {
		if r.Team != "" && !slices.Contains(out, r.Team) {
			out = append(out, r.Team)
		}
	}
	slices.Sort(out)
	return out
}

// OnCall is who is on call for team at t: each rotation's person, then
// those an external schedule reported, each once.
func (s *Service) OnCall(team string, t time.Time) []string {
	s.mu.RLock()
	c := s.scheds[team]
	ext := s.external[team]
	s.mu.RUnlock()
	var out []string
	if c != nil {
		out = c.Users(t)
	}
	for _, u := range sortedKeys(ext) {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// Line is what a new incident's message says of team's on-call at t
// ("on call: bob"), "" when nobody is.
func (s *Service) Line(team string, t time.Time) string {
	if team == "" {
		return ""
	}
	users := s.OnCall(team, t)
	if len(users) == 0 {
		return ""
	}
	return "on call: " + strings.Join(users, ", ")
}

// Mentions maps each of users to their ID on platform, where one is known:
// the schedule's users: first, then the config's.
func (s *Service) Mentions(team, platform string, users []string) map[string]string {
	s.mu.RLock()
	c := s.scheds[team]
	s.mu.RUnlock()
	var own map[string]User
	if c != nil {
		own = c.s.Users
	}
	return s.mentions(own, platform, users)
}

func (s *Service) mentions(own map[string]User, platform string, users []string) map[string]string {
	var out map[string]string
	for _, u := range users {
		id := own[u][platform]
		if id == "" {
			id = s.opts.Users[u][platform]
		}
		if id != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[u] = id
		}
	}
	return out
}

// Run announces handoffs as they come, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return runLoop(ctx, s.log, "on-call handoffs", s.Tick, s.wake, s.opts.Now)
}

// Tick announces every handoff due by now, in order, and returns the
// earliest handoff still to come (zero: none).
func (s *Service) Tick(ctx context.Context) (time.Time, error) {
	var next time.Time
	var errs []error
	for _, team := range s.scheduled() {
		n, err := s.advance(ctx, team)
		if err != nil {
			errs = append(errs, fmt.Errorf("team %s: %w", team, err))
			continue
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, errors.Join(errs...)
}

func (s *Service) scheduled() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.scheds))
	for t := range s.scheds {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// advance announces team's handoffs due by now, in one transaction.
func (s *Service) advance(ctx context.Context, team string) (time.Time, error) {
	now := s.opts.Now()
	var next time.Time
	if err := s.opts.DB.View(func(tx *bolt.Tx) error {
		st, err := getState(tx, team)
		next = st.Next
		return err
	}); err != nil {
		return time.Time{}, err
	}
	if next.IsZero() || next.After(now) {
		return next, nil
	}
	var touched []string
	err := s.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		touched, next = nil, time.Time{}
		sb, err := nested(tx, bucketSchedules)
		if err != nil {
			return err
		}
		raw := sb.Get([]byte(team))
		if raw == nil {
			return nil // deleted meanwhile
		}
		c, err := s.decodeSchedule(raw)
		if err != nil {
			return fmt.Errorf("stored schedule: %w", err)
		}
		st, err := getState(tx, team)
		if err != nil {
			return err
		}
		if st.Current == nil {
			st.Current = map[string]string{}
		}
		q := outbox.TxQueue(tx, now)
		for n := 0; !st.Next.IsZero() && !st.Next.After(now) && n < maxCatchUp; n++ {
			h := st.Next
			for i := range c.rots {
				name, u := c.rots[i].Name, c.who(i, h)
				prev, had := st.Current[name]
				st.Current[name] = u
				if had && prev == u {
					continue
				}
				until, _ := c.changeAfter(i, h)
				a := announcement{team: team, from: prev, to: u, rotation: name, at: h, until: until, loc: c.loc,
					late: now.Sub(h) > LateAfter, users: c.s.Users}
				rs, err := s.announce(tx, q, a)
				if err != nil {
					return err
				}
				touched = append(touched, rs...)
			}
			st.Next = c.NextHandoff(h)
		}
		next = st.Next
		return putState(tx, team, st)
	})
	if err != nil {
		return time.Time{}, err
	}
	s.opts.Notify(touched...)
	return next, nil
}

// announcement is one person taking over from another.
type announcement struct {
	team, from, to, rotation string
	at, until                time.Time
	loc                      *time.Location
	late                     bool   // after downtime
	note                     string // why, besides the schedule's turn ("schedule changed")
	external                 bool
	off                      bool // external: to goes off call (from is empty)
	users                    map[string]User
}

// text is the announcement's line: "payments: alice → bob is now on call
// (primary), until Mon 14 Dec 09:00 CET".
func (a announcement) text() string {
	var sb strings.Builder
	sb.WriteString(a.team + ": ")
	switch {
	case a.off:
		sb.WriteString(a.to + " is now off call")
	case a.from != "":
		sb.WriteString(a.from + " → " + a.to + " is now on call")
	default:
		sb.WriteString(a.to + " is now on call")
	}
	if a.rotation != "" {
		sb.WriteString(" (" + a.rotation + ")")
	}
	if !a.until.IsZero() {
		sb.WriteString(", until " + FormatTime(a.until, a.loc))
	}
	if a.external {
		sb.WriteString(" (reported by the team's on-call tool)")
	}
	if a.note != "" {
		sb.WriteString(" (" + a.note + ")")
	}
	if a.late {
		sb.WriteString(" (late: the handoff was at " + FormatTime(a.at, a.loc) + ", while sitrep was down)")
	}
	return sb.String()
}

// FormatTime is how on-call messages show a time: "Mon 14 Dec 09:00 CET".
func FormatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// announce writes a on the team's timeline and posts it to each of the
// team's rooms, inside tx, and returns those rooms.
func (s *Service) announce(tx *bolt.Tx, q *outbox.Queue, a announcement) ([]string, error) {
	text := a.text()
	origin := timeline.Origin{Adapter: "oncall", User: a.to, Time: a.at}
	if _, err := teams.Log(tx, a.team, teams.Entry{Kind: teams.KindOnCall, Text: text, Origin: origin, Time: a.at}); err != nil {
		return nil, err
	}
	var hooked []string
	if s.opts.OnChange != nil {
		var changes []Change
		if a.from != "" {
			changes = append(changes, Change{Team: a.team, User: a.from, State: StateOffCall, Rotation: a.rotation, Time: a.at, Late: a.late, External: a.external})
		}
		st := StateOnCall
		if a.off {
			st = StateOffCall
		}
		changes = append(changes, Change{Team: a.team, User: a.to, State: st, Rotation: a.rotation, Time: a.at, Late: a.late, External: a.external})
		for _, c := range changes {
			woken, err := s.opts.OnChange(q, c)
			if err != nil {
				return nil, fmt.Errorf("on-call change hook: %w", err)
			}
			hooked = append(hooked, woken...)
		}
	}
	out := hooked
	for _, r := range s.roomsOf(a.team) {
		msg := adapters.Message{Kind: KindOnCall, Text: text, Color: render.Purple}
		if !a.off {
			msg.Mentions = s.mentions(a.users, r.Platform, []string{a.to})
		}
		if err := q.Enqueue(r.Name, outbox.Item{Op: adapters.OpPost, Msg: msg}); err != nil {
			return nil, fmt.Errorf("enqueue for room %s: %w", r.Name, err)
		}
		out = append(out, r.Name)
	}
	return out, nil
}

// roomsOf are the team's rooms.
func (s *Service) roomsOf(team string) []rooms.Room {
	var out []rooms.Room
	for _, r := range s.opts.Rooms() {
		if team != "" && r.Team == team {
			out = append(out, r)
		}
	}
	return out
}

func nested(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b, err := tx.Bucket(storage.BucketOnCall).CreateBucketIfNotExists(name)
	if err != nil {
		return nil, fmt.Errorf("on-call bucket %s: %w", name, err)
	}
	return b, nil
}

func getState(tx *bolt.Tx, team string) (state, error) {
	var st state
	b := tx.Bucket(storage.BucketOnCall).Bucket(bucketState)
	if b == nil {
		return st, nil
	}
	raw := b.Get([]byte(team))
	if raw == nil {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("decode on-call state: %w", err)
	}
	return st, nil
}

func putState(tx *bolt.Tx, team string, st state) error {
	b, err := nested(tx, bucketState)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode on-call state: %w", err)
	}
	return b.Put([]byte(team), raw)
}
