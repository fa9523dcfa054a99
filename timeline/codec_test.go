package timeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodecMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC)
	later := at.Add(time.Minute)
	odd := "quote\" back\\slash \n\r\t \x00\x1f ctl <html> & é ☕ \u2028\u2029 bad\xff\xfeutf8"
	events := []Event{
		{},
		{ID: 1, IncidentID: 2, Kind: KindTriggered, Text: "disk full", Fields: map[string]string{"b": "2", "a": "1", odd: odd}, Origin: Origin{Adapter: "http", Time: at}, Time: at},
		{ID: 9, IncidentID: 3, Kind: KindChat, Text: odd, Origin: Origin{Adapter: "webroom", Room: "ops", MessageID: "17", User: "alice", Time: at.In(time.FixedZone("x", 3600))}, Time: later},
		{ID: 1 << 63, Fields: map[string]string{}},
	}
	for i, ev := range events {
		got, err := appendEvent(nil, &ev)
		require.NoError(t, err)
		require.True(t, json.Valid(got), "event %d: %s", i, got)
		var back, want Event
		require.NoError(t, json.Unmarshal(got, &back))
		std, err := json.Marshal(ev)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &want))
		assert.Equal(t, want, back, "event %d", i)
		assertSameKeys(t, std, got)
	}
	incidents := []Incident{
		{},
		{ID: 4, EntityID: odd, Title: "t", State: StateTriggered, Fields: map[string]string{"z": "", "y": odd}, Rooms: []string{"ops", odd}, OpenedAt: at, UpdatedAt: later, LastEventID: 5},
		{ID: 5, State: StateResolved, AcknowledgedAt: &at, AcknowledgedBy: "bob", ResolvedAt: &later, ResolvedBy: "nagios", Rooms: []string{}},
	}
	_, err := appendEvent(nil, &Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	assert.ErrorIs(t, err, errTimeRange)
	for i, inc := range incidents {
		got, err := appendIncident(nil, &inc)
		require.NoError(t, err)
		require.True(t, json.Valid(got), "incident %d: %s", i, got)
		var back, want Incident
		require.NoError(t, json.Unmarshal(got, &back))
		std, err := json.Marshal(inc)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &want))
		assert.Equal(t, want, back, "incident %d", i)
		assertSameKeys(t, std, got)
	}
}

// assertSameKeys checks both encodings omit and keep the same keys.
func assertSameKeys(t *testing.T, want, got []byte) {
	t.Helper()
	var w, g map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(got, &g))
	wk, gk := []string{}, []string{}
	for k := range w {
		wk = append(wk, k)
	}
	for k := range g {
		gk = append(gk, k)
	}
	assert.ElementsMatch(t, wk, gk)
}

func BenchmarkAppendEvent(b *testing.B) {
	at := time.Now()
	ev := Event{ID: 1, IncidentID: 2, Kind: KindTriggered, Text: "disk full", Origin: Origin{Adapter: "http", Time: at}, Time: at,
		Fields: map[string]string{"message_type": "CRITICAL", "entity_id": "disk/db-1", "entity_display_name": "Disk full on db-1", "state_message": "97% used", "routing_key": "payments", "host_name": "db-1", "monitoring_tool": "nagios"}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = appendEvent(buf[:0], &ev)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&ev)
		}
	})
}
