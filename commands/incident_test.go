package commands

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePageCommands(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    PageCommand
		wantErr string
	}{
		{name: "open quoted title with flags and description", in: `/incident open "DB slow" --status degraded --services api,web -- Queries take "seconds" -- or more`,
			want: PageCommand{Sub: "open", Title: "DB slow", Status: "degraded", Services: []string{"api", "web"}, Text: `Queries take "seconds" -- or more`}},
		{name: "open unquoted title", in: `/incident open DB is slow --page public --silent --draft --state identified`,
			want: PageCommand{Sub: "open", Title: "DB is slow", Page: "public", Silent: true, Draft: true, State: "identified"}},
		{name: "open flag=value, upper case values", in: `/incident OPEN "x" --status=DOWN`,
			want: PageCommand{Sub: "open", Title: "x", Status: "down"}},
		{name: "open typographic quotes", in: "/incident open “DB slow” --status down",
			want: PageCommand{Sub: "open", Title: "DB slow", Status: "down"}},
		{name: "open without title", in: `/incident open --status down`, wantErr: "a title is needed"},
		{name: "open unknown flag", in: `/incident open x --colour red`, wantErr: "unknown flag --colour. usage: /incident open <title>"},
		{name: "open flag without value", in: `/incident open x --status`, wantErr: "--status needs a value"},
		{name: "open boolean with value", in: `/incident open x --silent=yes`, wantErr: "--silent takes no value"},
		{name: "open empty services", in: `/incident open x --services ,`, wantErr: "--services needs service names"},
		{name: "open unterminated quote", in: `/incident open "x`, wantErr: "unterminated quote"},
		{name: "update", in: `/incident update #12 Identified "index rebuilt"`,
			want: PageCommand{Sub: "update", IncidentID: 12, State: "identified", Text: "index rebuilt"}},
		{name: "update with status and words", in: `/incident update 12 monitoring --status up fix is out`,
			want: PageCommand{Sub: "update", IncidentID: 12, State: "monitoring", Status: "up", Text: "fix is out"}},
		{name: "update no state", in: `/incident update 12`, wantErr: "the new state of #12 is missing"},
		{name: "update no id", in: `/incident update`, wantErr: "incident id is missing"},
		{name: "update bad id", in: `/incident update x identified`, wantErr: "incident id must be a number"},
		{name: "update start flag", in: `/incident update 1 identified --start now`, wantErr: "unknown flag --start"},
		{name: "resolve with comment", in: `/incident resolve 4 all good`, want: PageCommand{Sub: "resolve", IncidentID: 4, Text: "all good"}},
		{name: "resolve after --", in: `/incident resolve 4 -- all --good`, want: PageCommand{Sub: "resolve", IncidentID: 4, Text: "all --good"}},
		{name: "maintenance", in: `/incident maintenance "DB upgrade" --start tomorrow 02:00 --end "tomorrow 04:00" --services api -- Brief downtime.`,
			want: PageCommand{Sub: "maintenance", Title: "DB upgrade", Start: "tomorrow 02:00", End: "tomorrow 04:00", Services: []string{"api"}, Text: "Brief downtime."}},
		{name: "maintenance without end", in: `/incident maintenance x --start now`, wantErr: "--start and --end are needed"},
		{name: "list", in: `/incident list`, want: PageCommand{Sub: "list"}},
		{name: "list extra", in: `/incident list all`, wantErr: `unexpected "all"`},
		{name: "unknown subcommand", in: `/incident opne x`, wantErr: `unknown /incident subcommand "opne"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, ok, err := Parse(tt.in)
			require.True(t, ok)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, cmd.Page)
			assert.Equal(t, tt.want, *cmd.Page)
		})
	}
	// /incident <id> still shows an incident.
	cmd, _, err := Parse("/incident #7")
	require.NoError(t, err)
	assert.Equal(t, uint64(7), cmd.IncidentID)
	assert.Nil(t, cmd.Page)
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 22, 30, 0, 0, time.UTC) // 23:30 in Berlin
	tests := []struct {
		in      string
		loc     *time.Location
		want    time.Time
		wantErr bool
	}{
		{in: "now", want: now},
		{in: "+2h", want: now.Add(2 * time.Hour)},
		{in: "+90m", want: now.Add(90 * time.Minute)},
		{in: "+1d", want: now.Add(24 * time.Hour)},
		{in: "tomorrow 02:00", loc: berlin, want: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)}, // 02:00 in Berlin
		{in: "today 23:45", loc: berlin, want: time.Date(2026, 12, 1, 22, 45, 0, 0, time.UTC)},
		{in: "02:00", want: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)},
		{in: "2026-12-24 22:00", loc: berlin, want: time.Date(2026, 12, 24, 21, 0, 0, 0, time.UTC)},
		{in: "2026-12-24T22:00:00-05:00", loc: berlin, want: time.Date(2026, 12, 25, 3, 0, 0, 0, time.UTC)},
		{in: "Tomorrow 7:05", want: time.Date(2026, 12, 2, 7, 5, 0, 0, time.UTC)},
		{in: "last week", wantErr: true},
		{in: "25:00", wantErr: true},
		{in: "+99999h", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now, tt.loc)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.Equal(t, time.UTC, got.Location(), tt.in)
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "+2h", "tomorrow 02:00", "2026-12-24 22:00", "2026-12-24T22:00:00Z", "24:00", "+0m", "today 9:5"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, time.UTC)
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v, not in UTC", s, got)
		}
	})
}
