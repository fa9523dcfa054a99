package adapters

import (
	"encoding/json"
	"testing"

	"github.com/sitrep/sitrep/jsonenc/jsontest"
	"github.com/sitrep/sitrep/timeline"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func checkMessage(t *testing.T, m Message) {
	t.Helper()
	want, err := json.Marshal(m)
	require.NoError(t, err)
	got := m.AppendJSON(nil)
	require.Equal(t, string(want), string(got))
	var back, wantBack Message
	require.NoError(t, json.Unmarshal(got, &back))
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back)
}
func TestAppendMessage(t *testing.T) {
	full := Message{IncidentID: 42, EventID: 7, Kind: "triggered", State: "triggered", Title: "Disk <full>", Text: "a\nb", Color: "red", User: "ann", Actions: []Verb{VerbAck, VerbResolve},
		Fields: map[string]string{"z": "1", "a": "2", "m\u2028": "\xff", "": "empty key", "host_name": "db-1"}}
	cases := []Message{
		{},
		{Text: "only text"},
		{IncidentID: 1<<64 - 1, EventID: 1},
		full,
		{Fields: map[string]string{}},
		{Digest: []Message{}},
		{Kind: "oncall", Text: "payments: alice → bob is now on call", Mentions: map[string]string{"bob": "U123"}},
		{Kind: "note", Text: "page", Payload: []byte(`{"id":"sitrep-1","state":"investigating","title":"a \u003cb\u003e"}`)},
		{Kind: "digest", Title: "2 alerts", Text: "x", Digest: []Message{full, {Text: "y"}, {Digest: []Message{full}}}},
	}
	for _, s := range jsontest.Tricky() {
		cases = append(cases, Message{Title: s, Text: s, Fields: map[string]string{s: s}})
	}
	for _, m := range cases {
		checkMessage(t, m)
	}
}
func FuzzAppendMessage(f *testing.F) {
	for _, s := range jsontest.Tricky() {
		f.Add(s, s, s, s, uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, title, text, key, val string, id uint64) {
		m := Message{IncidentID: id, Title: title, Text: text, Kind: timeline.Kind(key), Actions: []Verb{Verb(val)}, Fields: map[string]string{key: val, val: key}}
		m.Digest = []Message{{Text: val, Title: key, EventID: id}}
		checkMessage(t, m)
	})
}
func BenchmarkAppendMessage(b *testing.B) {
	m := Message{IncidentID: 4242, EventID: 99999, Kind: "triggered", State: "triggered", Title: "Disk full on db-42",
		Text: "#4242 triggered CRITICAL: Disk full on db-42 — 97% used", Color: "red",
		Fields: map[string]string{"message_type": "CRITICAL", "entity_id": "bench-4242", "entity_display_name": "Disk full on db-42", "state_message": "97% used", "routing_key": "payments", "host_name": "db-42"}}
	var buf []byte
	for b.Loop() {
		buf = m.AppendJSON(buf[:0])
	}
}
