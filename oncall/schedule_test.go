package oncall

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func berlin(t testing.TB) *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return l
}

// payments is the example: a weekly rotation handing over on
// Mondays at 09:00 Berlin time.
func payments() Schedule {
	return Schedule{Team: "payments", TimeZone: "Europe/Berlin", Rotations: []Rotation{{
		Name: "primary", Type: Weekly, ShiftLength: 1, Start: at("2026-11-30T09:00:00+01:00"),
		Participants: []string{"alice", "bob", "carol"},
	}}}
}

func compile(t testing.TB, s Schedule) *Compiled {
	t.Helper()
	c, err := Compile(s, nil)
	require.NoError(t, err)
	return c
}

func TestWhoIsOnCallNowAndNext(t *testing.T) {
	c := compile(t, payments())
	loc := berlin(t)
	for _, tc := range []struct {
		at                 string
		user, until, next  string
		nextUntil, handoff string
	}{
		{"2026-11-30T09:00:00+01:00", "alice", "Mon 7 Dec 09:00 CET", "bob", "Mon 14 Dec 09:00 CET", "2026-12-07T09:00:00+01:00"},
		{"2026-12-08T10:00:00+01:00", "bob", "Mon 14 Dec 09:00 CET", "carol", "Mon 21 Dec 09:00 CET", "2026-12-14T09:00:00+01:00"},
		{"2026-12-14T08:59:59+01:00", "bob", "Mon 14 Dec 09:00 CET", "carol", "Mon 21 Dec 09:00 CET", "2026-12-14T09:00:00+01:00"},
		{"2026-12-21T09:00:00+01:00", "alice", "Mon 28 Dec 09:00 CET", "bob", "Mon 4 Jan 09:00 CET", "2026-12-28T09:00:00+01:00"},
		// Before start the rotation runs backwards: carol had the week before.
		{"2026-11-29T12:00:00+01:00", "carol", "Mon 30 Nov 09:00 CET", "alice", "Mon 7 Dec 09:00 CET", "2026-11-30T09:00:00+01:00"},
	} {
		t.Run(tc.at, func(t *testing.T) {
			s := c.At(at(tc.at))
			require.Len(t, s, 1)
			assert.Equal(t, tc.user, s[0].User)
			assert.Equal(t, tc.until, FormatTime(s[0].Until, loc))
			assert.Equal(t, tc.next, s[0].Next)
			assert.Equal(t, tc.nextUntil, FormatTime(s[0].NextUntil, loc))
			assert.Equal(t, at(tc.handoff).UTC(), c.NextHandoff(at(tc.at)).UTC())
		})
	}
}

// Daily and weekly handoffs keep their wall-clock time across DST changes
// in both directions; hourly ones count real hours.
func TestHandoffsAcrossDST(t *testing.T) {
	loc := berlin(t)
	for _, tc := range []struct {
		name  string
		rot   Rotation
		from  string
		wants []string // the next handoffs, in Berlin time
	}{
		{"daily, spring forward", Rotation{Type: Daily, ShiftLength: 1, Start: at("2027-03-26T09:00:00+01:00")}, "2027-03-26T09:00:00+01:00",
			[]string{"2027-03-27T09:00:00+01:00", "2027-03-28T09:00:00+02:00", "2027-03-29T09:00:00+02:00"}},
		{"daily, fall back", Rotation{Type: Daily, ShiftLength: 1, Start: at("2027-10-29T09:00:00+02:00")}, "2027-10-29T09:00:00+02:00",
			[]string{"2027-10-30T09:00:00+02:00", "2027-10-31T09:00:00+01:00", "2027-11-01T09:00:00+01:00"}},
		{"daily at 02:30 through the fall-back hour", Rotation{Type: Daily, ShiftLength: 1, Start: at("2027-10-30T02:30:00+02:00")}, "2027-10-30T02:30:00+02:00",
			[]string{"2027-10-31T02:30:00+01:00", "2027-11-01T02:30:00+01:00"}},
		{"weekly, spring forward", Rotation{Type: Weekly, ShiftLength: 1, Start: at("2027-03-22T09:00:00+01:00")}, "2027-03-22T10:00:00+01:00",
			[]string{"2027-03-29T09:00:00+02:00", "2027-04-05T09:00:00+02:00"}},
		{"weekly, fall back", Rotation{Type: Weekly, ShiftLength: 1, Start: at("2027-10-25T09:00:00+02:00")}, "2027-10-25T09:00:00+02:00",
			[]string{"2027-11-01T09:00:00+01:00", "2027-11-08T09:00:00+01:00"}},
		{"two-week shifts, counted from long ago", Rotation{Type: Weekly, ShiftLength: 2, Start: at("2019-12-30T09:00:00+01:00")}, "2027-03-24T00:00:00+01:00",
			[]string{"2027-03-29T09:00:00+02:00", "2027-04-12T09:00:00+02:00"}},
		{"hourly counts real hours", Rotation{Type: Hourly, ShiftLength: 1, Start: at("2027-03-28T00:00:00+01:00")}, "2027-03-28T00:30:00+01:00",
			[]string{"2027-03-28T01:00:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-28T04:00:00+02:00"}},
		{"hourly in the fall", Rotation{Type: Hourly, ShiftLength: 1, Start: at("2027-10-31T01:00:00+02:00")}, "2027-10-31T01:00:00+02:00",
			[]string{"2027-10-31T02:00:00+02:00", "2027-10-31T02:00:00+01:00", "2027-10-31T03:00:00+01:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rot.Name, tc.rot.Participants = "primary", []string{"alice", "bob"}
			c := compile(t, Schedule{Team: "payments", TimeZone: "Europe/Berlin", Rotations: []Rotation{tc.rot}})
			h := at(tc.from)
			prev := c.Users(h)[0]
			for _, want := range tc.wants {
				h = c.NextHandoff(h)
				assert.Equal(t, at(want).UTC(), h.UTC(), "got %s", h.In(loc))
				now := c.Users(h)[0]
				assert.NotEqual(t, prev, now, "a handoff at %s changes hands", h.In(loc))
				prev = now
			}
		})
	}
}

// An override that starts and ends mid-shift replaces the person on call
// for its span only, in every rotation or the one it names.
func TestOverridesMidShift(t *testing.T) {
	s := payments()
	s.Rotations = append(s.Rotations, Rotation{Name: "secondary", Type: Daily, ShiftLength: 7, Start: at("2026-11-30T09:00:00+01:00"), Participants: []string{"erin", "frank"}})
	s.Overrides = []Override{
		{User: "dave", Start: at("2026-12-09T12:00:00+01:00"), End: at("2026-12-10T12:00:00+01:00")},
		{User: "gina", Rotation: "secondary", Start: at("2026-12-10T18:00:00+01:00"), End: at("2026-12-11T06:00:00+01:00")},
	}
	c := compile(t, s)
	loc := berlin(t)
	who := func(ts string) []string {
		var out []string
		for _, sh := range c.At(at(ts)) {
			out = append(out, fmt.Sprintf("%s:%s until %s", sh.Rotation, sh.User, FormatTime(sh.Until, loc)))
		}
		return out
	}
	assert.Equal(t, []string{"primary:bob until Wed 9 Dec 12:00 CET", "secondary:frank until Wed 9 Dec 12:00 CET"}, who("2026-12-09T11:00:00+01:00"))
	assert.Equal(t, []string{"primary:dave until Thu 10 Dec 12:00 CET", "secondary:dave until Thu 10 Dec 12:00 CET"}, who("2026-12-09T12:00:00+01:00"))
	assert.Equal(t, []string{"primary:bob until Mon 14 Dec 09:00 CET", "secondary:frank until Thu 10 Dec 18:00 CET"}, who("2026-12-10T12:00:00+01:00"))
	assert.Equal(t, []string{"primary:bob until Mon 14 Dec 09:00 CET", "secondary:gina until Fri 11 Dec 06:00 CET"}, who("2026-12-10T19:00:00+01:00"))

	var handoffs []string
	for h := at("2026-12-09T00:00:00+01:00"); len(handoffs) < 5; {
		h = c.NextHandoff(h)
		handoffs = append(handoffs, FormatTime(h, loc))
	}
	assert.Equal(t, []string{"Wed 9 Dec 12:00 CET", "Thu 10 Dec 12:00 CET", "Thu 10 Dec 18:00 CET", "Fri 11 Dec 06:00 CET", "Mon 14 Dec 09:00 CET"}, handoffs)
}

func TestScheduleProblemsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Schedule)
		field string
	}{
		{"unknown time zone", func(s *Schedule) { s.TimeZone = "Mars/Olympus" }, "time_zone"},
		{"no rotations", func(s *Schedule) { s.Rotations = nil }, "rotations"},
		{"empty participants", func(s *Schedule) { s.Rotations[0].Participants = nil }, "rotations[0].participants"},
		{"blank participant", func(s *Schedule) { s.Rotations[0].Participants = []string{"alice", ""} }, "rotations[0].participants[1]"},
		{"shift_length 0", func(s *Schedule) { s.Rotations[0].ShiftLength = 0 }, "rotations[0].shift_length"},
		{"shift_length -1", func(s *Schedule) { s.Rotations[0].ShiftLength = -1 }, "rotations[0].shift_length"},
		{"unknown type", func(s *Schedule) { s.Rotations[0].Type = "monthly" }, "rotations[0].type"},
		{"no start", func(s *Schedule) { s.Rotations[0].Start = time.Time{} }, "rotations[0].start"},
		{"duplicate rotation", func(s *Schedule) { s.Rotations = append(s.Rotations, s.Rotations[0]) }, "rotations[1].name"},
		{"override ending before it starts", func(s *Schedule) {
			s.Overrides = []Override{{User: "dave", Start: at("2026-12-24T00:00:00+01:00"), End: at("2026-12-23T00:00:00+01:00")}}
		}, "overrides[0].end"},
		{"overlapping overrides", func(s *Schedule) {
			s.Overrides = []Override{
				{User: "dave", Start: at("2026-12-24T00:00:00+01:00"), End: at("2026-12-27T00:00:00+01:00")},
				{User: "erin", Rotation: "primary", Start: at("2026-12-26T00:00:00+01:00"), End: at("2026-12-28T00:00:00+01:00")},
			}
		}, "overrides[1]"},
		{"override of an unknown rotation", func(s *Schedule) {
			s.Overrides = []Override{{User: "dave", Rotation: "tertiary", Start: at("2026-12-24T00:00:00+01:00"), End: at("2026-12-27T00:00:00+01:00")}}
		}, "overrides[0].rotation"},
		{"a user ID that could mention others", func(s *Schedule) { s.Users = map[string]User{"bob": {"slack": "<!channel>"}} }, "users.bob.slack"},
		{"bad team", func(s *Schedule) { s.Team = "pay ments" }, "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := payments()
			tc.edit(&s)
			_, err := Compile(s, nil)
			require.Error(t, err)
			probs := Problems(err)
			require.NotEmpty(t, probs, "%v", err)
			assert.Equal(t, tc.field, probs[0].Field, "%v", err)
		})
	}

	// Back-to-back overrides, and overlapping ones in different rotations, are fine.
	s := payments()
	s.Rotations = append(s.Rotations, Rotation{Name: "secondary", Type: Daily, ShiftLength: 1, Start: at("2026-11-30T09:00:00+01:00"), Participants: []string{"erin"}})
	s.Overrides = []Override{
		{User: "dave", Rotation: "primary", Start: at("2026-12-24T00:00:00+01:00"), End: at("2026-12-27T00:00:00+01:00")},
		{User: "erin", Rotation: "primary", Start: at("2026-12-27T00:00:00+01:00"), End: at("2026-12-28T00:00:00+01:00")},
		{User: "gina", Rotation: "secondary", Start: at("2026-12-26T00:00:00+01:00"), End: at("2026-12-28T00:00:00+01:00")},
	}
	_, err := Compile(s, nil)
	require.NoError(t, err)
}

// Ten rotations and a hundred overrides: who is on call now and next in
// each, as /oncall and every new incident ask.
func BenchmarkWhoIsOnCall(b *testing.B) {
	s := Schedule{Team: "payments", TimeZone: "Europe/Berlin"}
	types := []string{Hourly, Daily, Weekly}
	for i := range 10 {
		s.Rotations = append(s.Rotations, Rotation{Name: fmt.Sprintf("r%d", i), Type: types[i%3], ShiftLength: 1 + i%3,
			Start: at("2026-01-05T09:00:00+01:00").Add(time.Duration(i) * time.Hour), Participants: []string{"alice", "bob", "carol", "dave", "erin"}})
	}
	base := at("2026-12-01T00:00:00+01:00")
	for i := range 100 {
		o := Override{User: fmt.Sprintf("sub%d", i), Start: base.Add(time.Duration(i) * 7 * time.Hour), End: base.Add(time.Duration(i)*7*time.Hour + 5*time.Hour)}
		if i%2 == 1 {
			o.Rotation = fmt.Sprintf("r%d", i%10)
		}
		s.Overrides = append(s.Overrides, o)
	}
	c := compile(b, s)
	var lat []time.Duration
	t0 := base.Add(100 * time.Hour)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		shifts := c.At(t0.Add(time.Duration(i%500) * 13 * time.Minute))
		lat = append(lat, time.Since(start))
		if len(shifts) != 10 {
			b.Fatal("want 10 shifts")
		}
	}
	reportP99(b, lat)
}

func FuzzCompileSchedule(f *testing.F) {
	raw, err := json.Marshal(payments())
	require.NoError(f, err)
	f.Add(raw)
	f.Add([]byte(`{"team":"t","time_zone":"America/New_York","rotations":[{"name":"r","type":"hourly","shift_length":1000,"start":"9999-01-01T00:00:00Z","participants":["a"]}],"overrides":[{"user":"b","start":"0001-01-01T00:00:00Z","end":"9999-12-31T00:00:00Z"}]}`))
	now := at("2026-12-01T10:00:00+01:00")
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s Schedule
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		c, err := Compile(s, nil)
		if err != nil {
			require.NotEmpty(t, Problems(err))
			return
		}
		shifts := c.At(now)
		require.Len(t, shifts, len(s.Rotations))
		for _, sh := range shifts {
			require.NotEmpty(t, sh.User)
			require.True(t, sh.Until.IsZero() || sh.Until.After(now))
		}
		require.True(t, c.NextHandoff(now).After(now))
	})
}
