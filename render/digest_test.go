package render

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

func msg(event uint64) adapters.Message {
	return adapters.Message{IncidentID: event, EventID: event, Kind: "triggered", Title: fmt.Sprintf("host-%d down", event), Text: "CRITICAL"}
}

func TestDigestMessage(t *testing.T) {
	var entries []adapters.Message
	for i := range uint64(14) {
		m := msg(12 + i)
		if i%3 == 2 {
			m.Kind, m.Color = "resolved", "green"
		} else {
			m.Color = "red"
		}
		entries = append(entries, m)
	}
	d := Digest(entries)
	assert.Equal(t, adapters.KindDigest, d.Kind)
	assert.Equal(t, "14 alerts", d.Title)
	assert.Equal(t, "red", d.Color)
	assert.Len(t, d.Digest, 14)
	assert.Zero(t, d.IncidentID)
	lines := strings.Split(d.Text, "\n")
	require.Len(t, lines, 15, "header and every entry: they fit")
	assert.Equal(t, "14 alerts: 10 triggered, 4 resolved", lines[0])
	assert.Equal(t, "#12 triggered: host-12 down", lines[1], "oldest first")
	assert.Equal(t, "#14 resolved: host-14 down", lines[3])
	assert.Equal(t, "#25 triggered: host-25 down", lines[14])
}

func TestDigestLineShowsKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    adapters.Message
		want string
	}{
		{"triggered", adapters.Message{IncidentID: 12, Kind: "triggered", Title: "db-1 down"}, "#12 triggered: db-1 down"},
		{"resolved", adapters.Message{IncidentID: 12, Kind: "resolved", Title: "db-1 down"}, "#12 resolved: db-1 down"},
		{"state when no kind", adapters.Message{IncidentID: 3, State: "acknowledged", Title: "disk full"}, "#3 acknowledged: disk full"},
		{"no kind or state", adapters.Message{IncidentID: 3, Title: "disk full"}, "#3 other: disk full"},
		{"no incident", adapters.Message{Kind: "note", Title: "deploy"}, "note: deploy"},
		{"text when no title", adapters.Message{IncidentID: 7, Kind: "note", Text: "first\nsecond"}, "#7 note: first"},
		{"long title cut", adapters.Message{IncidentID: 1, Kind: "updated", Title: strings.Repeat("é", 150)}, "#1 updated: " + strings.Repeat("é", maxDigestTitle-1) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, digestLine(tc.m))
		})
	}
}

func TestDigestTextShowsNewest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		title func(i int) string
	}{
		{"1000 short", 1000, func(i int) string { return fmt.Sprintf("host-%d down", i) }},
		{"1000 long", 1000, func(i int) string { return strings.Repeat("x", 300) }},
		{"500 multibyte", 500, func(i int) string { return strings.Repeat("ü", 200) }},
		{"40 just over", 40, func(i int) string { return strings.Repeat("y", 30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := make([]adapters.Message, 0, tc.n)
			for i := range tc.n {
				m := msg(uint64(i + 1))
				m.Title = tc.title(i + 1)
				if i%2 == 1 {
					m.Kind = "resolved"
				}
				entries = append(entries, m)
			}
			entries[tc.n-1].Title = "db-1 newest down"

			d := Digest(entries)
			assert.Len(t, d.Digest, tc.n, "nothing dropped")
			assert.LessOrEqual(t, len(d.Text), maxDigestText+100, "bounded")
			lines := strings.Split(d.Text, "\n")
			assert.Equal(t, fmt.Sprintf("%d alerts: %d resolved, %d triggered", tc.n, tc.n/2, tc.n/2), lines[0])
			assert.Equal(t, fmt.Sprintf("#%d resolved: db-1 newest down", tc.n), lines[len(lines)-1], "newest entry last, always shown")
			assert.True(t, strings.HasPrefix(lines[1], "#1 triggered: "), "oldest entry first: %q", lines[1])
			assert.Regexp(t, `^… \d+ more …$`, lines[2])
			var skipped int
			_, err := fmt.Sscanf(lines[2], "… %d more …", &skipped)
			require.NoError(t, err)
			assert.Equal(t, tc.n, 1+skipped+len(lines)-3, "every entry listed or counted")
			for i, l := range lines[3:] {
				want := fmt.Sprintf("#%d ", tc.n-len(lines)+4+i)
				assert.True(t, strings.HasPrefix(l, want), "tail in order: %q, want prefix %q", l, want)
			}
		})
	}
}
