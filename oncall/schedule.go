package oncall

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Rotation types: how long one shift_length unit is.
const (
	Hourly = "hourly" // real hours: a DST change does not move the count
	Daily  = "daily"  // calendar days in the schedule's zone: 09:00 stays 09:00
	Weekly = "weekly" // calendar weeks in the schedule's zone
)

// Schedule is one team's on-call schedule, as config's schedules: and
// PUT /v1/schedules/{team} give it.
type Schedule struct {
	Team string `json:"team" yaml:"team"`
	// TimeZone is the IANA zone handoffs keep their wall-clock time in;
	// default: the team's.
	TimeZone  string     `json:"time_zone,omitempty" yaml:"time_zone"`
	Rotations []Rotation `json:"rotations" yaml:"rotations"`
	Overrides []Override `json:"overrides,omitempty" yaml:"overrides"`
	// Users maps a person's name to their user ID on each platform
	// (slack: U123, discord: "4567"), so announcements can mention them;
	// config's top-level users: fill in the people it leaves out.
	Users map[string]User `json:"users,omitempty" yaml:"users"`
}

// User is one person's user ID by platform name.
type User map[string]string

// Rotation hands on-call from one participant to the next every
// ShiftLength units of Type, counted from Start.
type Rotation struct {
	Name        string `json:"name" yaml:"name"`
	Type        string `json:"type" yaml:"type"`
	ShiftLength int    `json:"shift_length" yaml:"shift_length"`
	// Start is a handoff instant: participants[0] is on call from it.
	// Handoffs follow every ShiftLength units, before it as after it.
	Start        time.Time `json:"start" yaml:"start"`
	Participants []string  `json:"participants" yaml:"participants"`
}

// Override puts User on call from Start until End instead of whoever the
// rotation (the one named, else every one) has on call.
type Override struct {
	User     string    `json:"user" yaml:"user"`
	Rotation string    `json:"rotation,omitempty" yaml:"rotation"`
	Start    time.Time `json:"start" yaml:"start"`
	End      time.Time `json:"end" yaml:"end"`
}

// FieldError is one problem with a schedule, naming its field
// ("rotations[0].participants").
type FieldError struct {
	Field string `json:"field"`
	Msg   string `json:"error"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidationError lists every problem a schedule has.
type ValidationError struct{ Problems []*FieldError }

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid schedule: " + strings.Join(msgs, "; ")
}

// Problems returns the problems in err, a *ValidationError; nil for another error.
func Problems(err error) []*FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	personRE = regexp.MustCompile(`^[^\s<>@&]{1,64}$`)
	userIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`) // Slack U123, Discord 4567: nothing that could mention someone else
)

// Compiled is a validated schedule, ready to say who is on call when. It
// is immutable.
type Compiled struct {
	s    Schedule
	loc  *time.Location
	rots []rotation
	// overrides sorted by start.
	overrides []Override
	longest   time.Duration // the longest override
}

type rotation struct {
	Rotation
	local time.Time     // Start in the schedule's zone
	unit  time.Duration // a shift's nominal length
	hours bool          // hourly: shifts are exact durations
}

// Compile checks s and compiles it. zone is the team's zone, used when s
// names none (nil: UTC). Its error is a *ValidationError naming every
// problem.
func Compile(s Schedule, zone *time.Location) (*Compiled, error) {
	var probs []*FieldError
	fail := func(field, format string, args ...any) {
		probs = append(probs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(s.Team) {
		fail("team", "%q is not a team name (letters, digits, '.', '_', '-'; up to 64)", s.Team)
	}
	loc := zone
	if loc == nil {
		loc = time.UTC
	}
	if s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil || s.TimeZone == "Local" {
			fail("time_zone", "unknown time zone %q: use an IANA name such as Europe/Berlin", s.TimeZone)
		} else {
			loc = l
		}
	}
	c := &Compiled{s: s, loc: loc}
	if len(s.Rotations) == 0 {
		fail("rotations", "at least one rotation is needed")
	}
	names := map[string]int{}
	for i, r := range s.Rotations {
		p := fmt.Sprintf("rotations[%d]", i)
		ok := true
		if !nameRE.MatchString(r.Name) {
			fail(p+".name", "%q is not a rotation name (letters, digits, '.', '_', '-'; up to 64)", r.Name)
			ok = false
		} else if j, dup := names[r.Name]; dup {
			fail(p+".name", "rotation %q is already rotations[%d]", r.Name, j)
			ok = false
		} else {
			names[r.Name] = i
		}
		rot := rotation{Rotation: r}
		switch r.Type {
		case Hourly:
			rot.unit, rot.hours = time.Hour, true
		case Daily:
			rot.unit = 24 * time.Hour
		case Weekly:
			rot.unit = 7 * 24 * time.Hour
		default:
			fail(p+".type", "expected hourly, daily or weekly, got %q", r.Type)
			ok = false
		}
		if r.ShiftLength < 1 {
			fail(p+".shift_length", "must be at least 1 (shifts last shift_length units of type), got %d", r.ShiftLength)
			ok = false
		} else if r.ShiftLength > 1000 {
			fail(p+".shift_length", "must be at most 1000, got %d", r.ShiftLength)
			ok = false
		}
		if r.Start.IsZero() {
			fail(p+".start", "required: a handoff instant such as 2026-11-30T09:00:00+01:00")
			ok = false
		} else if y := r.Start.Year(); y < 1970 || y > 9999 {
			fail(p+".start", "must be a year from 1970 to 9999")
			ok = false
		}
		if len(r.Participants) == 0 {
			fail(p+".participants", "at least one participant is needed")
			ok = false
		}
		for j, who := range r.Participants {
			if !personRE.MatchString(who) {
				fail(fmt.Sprintf("%s.participants[%d]", p, j), "%q is not a name (up to 64 characters, no spaces, <, >, @ or &)", who)
				ok = false
			}
		}
		if ok {
			rot.unit *= time.Duration(r.ShiftLength)
			rot.local = r.Start.In(loc)
			c.rots = append(c.rots, rot)
		}
	}
	for i, o := range s.Overrides {
		p := fmt.Sprintf("overrides[%d]", i)
		if !personRE.MatchString(o.User) {
			fail(p+".user", "%q is not a name (up to 64 characters, no spaces, <, >, @ or &)", o.User)
		}
		if o.Rotation != "" {
			if _, ok := names[o.Rotation]; !ok {
				fail(p+".rotation", "no rotation is named %q", o.Rotation)
			}
		}
		switch {
		case o.Start.IsZero():
			fail(p+".start", "required")
		case o.End.IsZero():
			fail(p+".end", "required")
		case !o.End.After(o.Start):
			fail(p+".end", "must be after start (%s)", o.Start.Format(time.RFC3339))
		default:
			for j, prev := range s.Overrides[:i] {
				scope := prev.Rotation == "" || o.Rotation == "" || prev.Rotation == o.Rotation
				if scope && prev.End.After(prev.Start) && o.Start.Before(prev.End) && prev.Start.Before(o.End) {
					fail(p, "overlaps overrides[%d] (%s until %s)", j, prev.Start.Format(time.RFC3339), prev.End.Format(time.RFC3339))
					break
				}
			}
		}
	}
	for _, name := range sortedKeys(s.Users) {
		for _, platform := range sortedKeys(s.Users[name]) {
			if id := s.Users[name][platform]; !userIDRE.MatchString(id) {
				fail("users."+name+"."+platform, "%q is not a user ID (letters and digits, as Slack's U123 or Discord's 4567)", id)
			}
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	c.overrides = slices.Clone(s.Overrides)
	slices.SortStableFunc(c.overrides, func(a, b Override) int { return a.Start.Compare(b.Start) })
	for _, o := range c.overrides {
		c.longest = max(c.longest, o.End.Sub(o.Start))
	}
	return c, nil
}

// CheckUsers checks config's top-level users: map; its problems name
// "users.<name>.<platform>".
func CheckUsers(users map[string]User) []*FieldError {
	var probs []*FieldError
	for _, name := range sortedKeys(users) {
		for _, platform := range sortedKeys(users[name]) {
			if id := users[name][platform]; !userIDRE.MatchString(id) {
				probs = append(probs, &FieldError{Field: "users." + name + "." + platform,
					Msg: fmt.Sprintf("%q is not a user ID (letters and digits, as Slack's U123 or Discord's 4567)", id)})
			}
		}
	}
	return probs
}

// Schedule returns the schedule as given.
func (c *Compiled) Schedule() Schedule { return c.s }

// Location is the zone the schedule keeps its handoffs in.
func (c *Compiled) Location() *time.Location { return c.loc }

// Rotations names the rotations, in order.
func (c *Compiled) Rotations() []string {
	out := make([]string, len(c.rots))
	for i := range c.rots {
		out[i] = c.rots[i].Name
	}
	return out
}

// handoff is the k-th handoff (k = 0 at Start; negative before it).
func (r *rotation) handoff(k int64) time.Time {
	if r.hours { // in seconds: k·unit can be beyond a Duration's ±292 years
		return time.Unix(r.Start.Unix()+k*int64(r.unit/time.Second), int64(r.Start.Nanosecond())).In(r.loc())
	}
	days := int(k) * r.ShiftLength
	if r.Type == Weekly {
		days *= 7
	}
	l := r.local
	return time.Date(l.Year(), l.Month(), l.Day()+days, l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), l.Location())
}

func (r *rotation) loc() *time.Location { return r.local.Location() }

// shift is the index of the shift t falls in: handoff(k) ≤ t < handoff(k+1).
func (r *rotation) shift(t time.Time) int64 {
	// Whole seconds, so no span overflows; zone offsets and DST move the
	// estimate by a step at most, which the loops below correct.
	d, unit := t.Unix()-r.Start.Unix(), int64(r.unit/time.Second)
	k := d / unit
	if d < 0 && d%unit != 0 {
		k--
	}
	for r.handoff(k).After(t) {
		k--
	}
	for !r.handoff(k + 1).After(t) {
		k++
	}
	return k
}

// userAt is who the rotation itself has on call at t, and the shift.
func (r *rotation) userAt(t time.Time) (string, int64) {
	k := r.shift(t)
	n := int64(len(r.Participants))
	return r.Participants[((k%n)+n)%n], k
}

// override returns the override covering rotation name at t, if any.
func (c *Compiled) override(name string, t time.Time) (Override, bool) {
	for _, o := range c.live(t) {
		if o.Start.After(t) {
			break
		}
		if t.Before(o.End) && (o.Rotation == "" || o.Rotation == name) {
			return o, true
		}
	}
	return Override{}, false
}

// live are the overrides that may cover t or start after it: those that
// started earlier than the longest override before t have ended by then.
func (c *Compiled) live(t time.Time) []Override {
	from := t.Add(-c.longest)
	i, _ := slices.BinarySearchFunc(c.overrides, from, func(o Override, t time.Time) int {
		if o.Start.After(t) {
			return 1
		}
		return -1
	})
	return c.overrides[i:]
}

// who is on call in rotation i at t, overrides applied.
func (c *Compiled) who(i int, t time.Time) string {
	r := &c.rots[i]
	if o, ok := c.override(r.Name, t); ok {
		return o.User
	}
	u, _ := r.userAt(t)
	return u
}

// boundaryAfter is the first instant after t at which rotation i may
// change hands: its next handoff, or an override's start or end.
func (c *Compiled) boundaryAfter(i int, t time.Time) time.Time {
	r := &c.rots[i]
	next := r.handoff(r.shift(t) + 1)
	for _, o := range c.live(t) {
		if !o.Start.Before(next) {
			break
		}
		if o.Rotation != "" && o.Rotation != r.Name {
			continue
		}
		if o.Start.After(t) {
			next = o.Start // overrides are sorted by start: the first one after t is the earliest
			break
		}
		if o.End.After(t) && o.End.Before(next) {
			next = o.End
		}
	}
	return next
}

// maxSteps bounds the search for the next change of hands (a rotation
// whose only participant is also every override's user never changes).
const maxSteps = 1000

// changeAfter is the first instant after t at which someone else than now
// is on call in rotation i, and who; zero if none within maxSteps boundaries.
func (c *Compiled) changeAfter(i int, t time.Time) (time.Time, string) {
	now := c.who(i, t)
	for range maxSteps {
		t = c.boundaryAfter(i, t)
		if u := c.who(i, t); u != now {
			return t, u
		}
	}
	return time.Time{}, ""
}

// NextHandoff is the first instant after t at which any rotation may
// change hands.
func (c *Compiled) NextHandoff(t time.Time) time.Time {
	var next time.Time
	for i := range c.rots {
		if b := c.boundaryAfter(i, t); next.IsZero() || b.Before(next) {
			next = b
		}
	}
	return next
}

// Shift is who is on call in one rotation at a time, and who is next.
type Shift struct {
	Rotation string `json:"rotation"`
	User     string `json:"user"`
	// Until is when User hands over (zero: not within the schedule's
	// next thousand handoffs).
	Until time.Time `json:"until,omitzero"`
	// Next is who is on call from Until, and NextUntil when they hand over.
	Next      string    `json:"next,omitempty"`
	NextUntil time.Time `json:"next_until,omitzero"`
	Override  bool      `json:"override,omitempty"` // User is on call by an override
}

// At returns who is on call in each rotation at t, in rotation order.
func (c *Compiled) At(t time.Time) []Shift {
	out := make([]Shift, len(c.rots))
	for i := range c.rots {
		_, over := c.override(c.rots[i].Name, t)
		s := Shift{Rotation: c.rots[i].Name, User: c.who(i, t), Override: over}
		s.Until, s.Next = c.changeAfter(i, t)
		if !s.Until.IsZero() {
			s.NextUntil, _ = c.changeAfter(i, s.Until)
		}
		out[i] = s
	}
	return out
}

// Users returns who is on call at t, each once, in rotation order.
func (c *Compiled) Users(t time.Time) []string {
	var out []string
	for i := range c.rots {
		if u := c.who(i, t); !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
