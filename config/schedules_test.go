package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/sitrep/sitrep/config"
)

const schedDoc = base + `  - {name: pay, platform: webroom, team: payments}
teams:
  - {name: payments, time_zone: Europe/Berlin}
users:
  bob: {slack: U123, discord: "4567"}
schedules:
  - team: payments
    rotations:
      - name: primary
        type: weekly
        shift_length: 1
        start: 2026-11-30T09:00:00+01:00
        participants: [alice, bob, carol]
    overrides:
      - {user: dave, start: 2026-12-24T00:00:00+01:00, end: 2026-12-27T00:00:00+01:00}
`

func TestSchedules(t *testing.T) {
	c, err := Parse([]byte(schedDoc), "config.yaml", noEnv, all()...)
	require.NoError(t, err)
	require.Len(t, c.Schedules, 1)
	s := c.Schedules[0]
	assert.Equal(t, time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), s.Rotations[0].Start.UTC())
	assert.Equal(t, []string{"alice", "bob", "carol"}, s.Rotations[0].Participants)
	assert.Equal(t, "dave", s.Overrides[0].User)
	assert.Equal(t, "4567", c.Users["bob"]["discord"])
	assert.Empty(t, c.Warnings())
}

func TestScheduleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		key            string
		line           int
		msg            string
	}{
		{"unknown time zone", "  - team: payments\n", "  - team: payments\n    time_zone: Europe/Nowhere\n", "schedules[0].time_zone", 14, "unknown time zone"},
		{"empty participants", "participants: [alice, bob, carol]", "participants: []", "schedules[0].rotations[0].participants", 19, "at least one participant"},
		{"shift_length below 1", "shift_length: 1", "shift_length: 0", "schedules[0].rotations[0].shift_length", 17, "must be at least 1"},
		{"not a time", "start: 2026-11-30T09:00:00+01:00", "start: next monday", "schedules[0].rotations[0].start", 18, "expected a time with its UTC offset"},
		{"override ending before it starts", "end: 2026-12-27T00:00:00+01:00", "end: 2026-12-23T00:00:00+01:00", "schedules[0].overrides[0].end", 21, "must be after start"},
		{"overlapping overrides", "end: 2026-12-27T00:00:00+01:00}\n", "end: 2026-12-27T00:00:00+01:00}\n      - {user: erin, start: 2026-12-26T00:00:00+01:00, end: 2026-12-28T00:00:00+01:00}\n", "schedules[0].overrides[1]", 22, "overlaps overrides[0]"},
		{"bad user ID", "slack: U123", "slack: '<!channel>'", "users.bob.slack", 11, "not a user ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := replaceOnce(t, schedDoc, tc.from, tc.to)
			errs := parseErrs(t, doc, noEnv)
			e := find(errs, tc.key)
			require.NotNil(t, e, "no problem with key %q in:\n%v", tc.key, errs)
			assert.Equal(t, tc.line, e.Line, "%v", e)
			assert.Contains(t, e.Msg, tc.msg)
		})
	}
}

// A schedule for a team with no rooms is allowed, but config check warns.
func TestScheduleWithoutRoomsWarns(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(schedDoc, "team: payments}\nteams", "team: billing}\nteams", 1)), "config.yaml", noEnv, all()...)
	require.NoError(t, err)
	w := c.Warnings()
	require.Len(t, w, 1)
	assert.Equal(t, `config.yaml:13: schedules[0].team: team "payments" has no rooms: its handoffs are announced in none (give rooms team: payments)`, w[0])
}

func replaceOnce(t *testing.T, s, from, to string) string {
	t.Helper()
	require.Contains(t, s, from)
	return strings.Replace(s, from, to, 1)
}
