package msgjson

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

var tricky = []string{
	"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>",
	"ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end", "line\u2028para\u2029sep",
	"bad utf8 \xff\xfe end", "truncated \xe2\x82", "surrogate \xed\xa0\x80",
	"emoji 🔥 and ü and 中文", "\xc0\xaf overlong", "#42 triggered CRITICAL: Disk full — 97% used",
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	require.NoError(t, err)
	got := AppendString(nil, s)
	assert.Equal(t, string(want), string(got), "%q", s)
	var back string
	require.NoError(t, json.Unmarshal(got, &back))
	var wantBack string
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back)
}

func checkMessage(t *testing.T, m adapters.Message) {
	t.Helper()
	want, err := json.Marshal(m)
	require.NoError(t, err)
	got := AppendMessage(nil, &m)
	require.Equal(t, string(want), string(got))
	var back, wantBack adapters.Message
	require.NoError(t, json.Unmarshal(got, &back))
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back)
}

func TestAppendString(t *testing.T) {
	for _, s := range tricky {
		checkString(t, s)
	}
	for b := range 256 {
		checkString(t, string([]byte{'a', byte(b), 'z'}))
	}
}

func TestAppendMessage(t *testing.T) {
	full := adapters.Message{IncidentID: 42, EventID: 7, Kind: "triggered", State: "triggered", Title: "Disk <full>", Text: "a\nb", Color: "red", User: "ann",
		Fields: map[string]string{"z": "1", "a": "2", "m\u2028": "\xff", "": "empty key", "host_name": "db-1"}}
	cases := []adapters.Message{
		{},
		{Text: "only text"},
		{IncidentID: 1<<64 - 1, EventID: 1},
		full,
		{Fields: map[string]string{}},
		{Digest: []adapters.Message{}},
		{Kind: "digest", Title: "2 alerts", Text: "x", Digest: []adapters.Message{full, {Text: "y"}, {Digest: []adapters.Message{full}}}},
	}
	for _, s := range tricky {
		cases = append(cases, adapters.Message{Title: s, Text: s, Fields: map[string]string{s: s}})
	}
	for _, m := range cases {
		checkMessage(t, m)
	}
}

func TestAppendStringMapNil(t *testing.T) {
	assert.Equal(t, "null", string(AppendStringMap(nil, nil)))
	many := map[string]string{}
	for i := range 40 {
		many[string(rune('a'+i%26))+string(rune('A'+i))] = "v"
	}
	want, _ := json.Marshal(many)
	assert.Equal(t, string(want), string(AppendStringMap(nil, many)))
}

func TestAppendTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC),
		time.Date(2026, 11, 23, 8, 0, 0, 120000000, time.FixedZone("x", -7*3600-30*60)),
		time.Now(),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for _, tm := range times {
		want, err := json.Marshal(tm)
		require.NoError(t, err)
		got, ok := AppendTime(nil, tm)
		require.True(t, ok)
		assert.Equal(t, string(want), string(got))
	}
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600)),
	} {
		_, err := json.Marshal(tm)
		require.Error(t, err)
		got, ok := AppendTime([]byte("x"), tm)
		assert.False(t, ok)
		assert.Equal(t, "x", string(got))
	}
}

func FuzzAppendMessage(f *testing.F) {
	for _, s := range tricky {
		f.Add(s, s, s, s, uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, title, text, key, val string, id uint64) {
		checkString(t, title)
		m := adapters.Message{IncidentID: id, Title: title, Text: text, Kind: key, Fields: map[string]string{key: val, val: key}}
		m.Digest = []adapters.Message{{Text: val, Title: key, EventID: id}}
		checkMessage(t, m)
	})
}

func BenchmarkAppendMessage(b *testing.B) {
	m := adapters.Message{IncidentID: 4242, EventID: 99999, Kind: "triggered", State: "triggered", Title: "Disk full on db-42",
		Text: "#4242 triggered CRITICAL: Disk full on db-42 — 97% used", Color: "red",
		Fields: map[string]string{"message_type": "CRITICAL", "entity_id": "bench-4242", "entity_display_name": "Disk full on db-42", "state_message": "97% used", "routing_key": "payments", "host_name": "db-42"}}
	var buf []byte
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}
