package timeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sitrep/sitrep/jsonenc"
	"github.com/sitrep/sitrep/jsonenc/jsontest"

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
		{ID: 9, IncidentID: 3, Kind: KindChat, Text: odd, Origin: Origin{Adapter: "webroom", Room: "ops", MessageID: "17", User: "alice (unverified)", Unverified: true, Time: at.In(time.FixedZone("x", 3600))}, Time: later},
		{ID: 1 << 63, Fields: map[string]string{}},
	}
	for i := range events {
		checkEncode(t, &events[i], appendEvent)
	}
	incidents := []Incident{
		{},
		{ID: 4, EntityID: odd, Title: "t", State: StateTriggered, Fields: map[string]string{"z": "", "y": odd}, Rooms: []string{"ops", odd}, OpenedAt: at, UpdatedAt: later, LastEventID: 5},
		{ID: 5, State: StateResolved, AcknowledgedAt: &at, AcknowledgedBy: "bob", ResolvedAt: &later, ResolvedBy: "nagios", Rooms: []string{}},
		{ID: 6, State: StateTriggered, FirstEventID: 7, FieldsEvent: 9, LastEventID: 9},
	}
	_, err := appendEvent(nil, &Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, nil)
	assert.ErrorIs(t, err, errTimeRange)
	for i := range incidents {
		checkEncode(t, &incidents[i], appendIncident)
	}
}

// checkEncode checks an appender (appendEvent, appendIncident) against
// encoding/json: valid JSON, the same value read back, the same keys.
func checkEncode[T any](t *testing.T, v *T, encode func([]byte, *T, *encodedFields) ([]byte, error)) {
	t.Helper()
	got, err := encode(nil, v, nil)
	require.NoError(t, err)
	require.True(t, json.Valid(got), "%+v: %s", *v, got)
	var back, want T
	require.NoError(t, json.Unmarshal(got, &back))
	std, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(std, &want))
	assert.Equal(t, want, back, "%+v", *v)
	assertSameKeys(t, std, got)
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
			buf, _ = appendEvent(buf[:0], &ev, nil)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&ev)
		}
	})
}

// checkDecode checks a decoder (decodeIncident, decodeEvent) against
// encoding/json on raw.
func checkDecode[T any](t *testing.T, raw []byte, decode func([]byte) (T, error)) {
	t.Helper()
	var want T
	wantErr := json.Unmarshal(raw, &want)
	got, err := decode(raw)
	if wantErr != nil {
		assert.Error(t, err, "%q", raw)
		return
	}
	require.NoError(t, err, "%q", raw)
	assert.Equal(t, want, got, "%q", raw)
}

func checkIncidentDecode(t *testing.T, raw []byte) {
	t.Helper()
	checkDecode(t, raw, decodeIncident)
}

func checkEventDecode(t *testing.T, raw []byte) {
	t.Helper()
	checkDecode(t, raw, decodeEvent)
}

func trickyRecords() ([]Incident, []Event) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC)
	zones := []time.Time{{}, at, at.In(time.FixedZone("x", -7*3600-30*60)), at.Truncate(time.Second).In(time.FixedZone("y", 5*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}
	var incs []Incident
	var evs []Event
	for i, s := range jsontest.Tricky() {
		tm := zones[i%len(zones)]
		fields := map[string]string{s: s, "k": s, "empty": ""}
		inc := Incident{ID: uint64(i) << (i * 5 % 64), EntityID: s, Title: s, State: State(s), Fields: fields,
			Rooms: []string{s, "ops"}, OpenedAt: tm, UpdatedAt: at, AcknowledgedBy: s, ResolvedBy: s, LastEventID: uint64(i)}
		if i%2 == 0 {
			inc.AcknowledgedAt, inc.ResolvedAt = &tm, &at
		}
		if i%3 == 0 {
			inc.Fields, inc.Rooms = map[string]string{}, []string{}
		}
		incs = append(incs, inc)
		evs = append(evs, Event{ID: uint64(i), IncidentID: 1<<64 - 1, Kind: Kind(s), Text: s, Fields: fields,
			Origin: Origin{Adapter: s, Room: s, MessageID: s, User: s, Time: tm}, Time: at})
	}
	return append(incs, Incident{}), append(evs, Event{})
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	incs, evs := trickyRecords()
	for _, inc := range incs {
		raw, err := appendIncident(nil, &inc, nil)
		require.NoError(t, err)
		checkIncidentDecode(t, raw)
		_, err = decodeIncident(raw)
		require.NoError(t, err, "decodeIncident takes what appendIncident writes: %s", raw)
	}
	for _, ev := range evs {
		raw, err := appendEvent(nil, &ev, nil)
		require.NoError(t, err)
		checkEventDecode(t, raw)
		_, err = decodeEvent(raw)
		require.NoError(t, err, "decodeEvent takes what appendEvent writes: %s", raw)
	}
	for _, raw := range []string{
		``, `null`, `{}`, `[]`, `{"id":1}x`, `{"id":1,}`,
		` { "id" : 7 , "title" : "t" , "rooms" : [ "a" , null ] , "fields" : { "a" : null } } `,
		`{"ID":1}`, `{"Title":"x"}`, `{"ſtate":"x"}`, `{"İd":1}`, `{"id":1,"Id":2}`,
		`{"id":1e3}`, `{"id":-1}`, `{"id":007}`, `{"id":1.0}`, `{"id":18446744073709551616}`, `{"id":"1"}`,
		`{"t\u0069tle":"x"}`, `{"title":"a\u00e9\ud83d"}`, `{"title":"a` + "\xff" + `"}`,
		`{"title":"a","title":null}`, `{"title":null}`, `{"id":null,"last_event_id":null}`,
		`{"fields":{"a":"1"},"fields":{"b":"2"}}`, `{"fields":{"a":"1"},"fields":null}`, `{"fields":{"a":"1","a":"2"}}`,
		`{"rooms":["a"],"rooms":["b","c"]}`, `{"rooms":[]}`, `{"rooms":null}`, `{"rooms":[1]}`,
		`{"acknowledged_at":null}`, `{"acknowledged_at":"2026-11-23T08:00:00Z","acknowledged_at":null}`,
		`{"opened_at":null}`, `{"opened_at":"2026-11-23T08:00:00"}`, `{"opened_at":"2026\u002d11-23T08:00:00Z"}`,
		`{"opened_at":"2026-11-23T08:00:00.123+05:30"}`, `{"opened_at":1}`,
		`{"extra":[1,{"a":null}],"id":2}`, `{"extra":01}`, `{"extra":[1,]}`,
	} {
		checkIncidentDecode(t, []byte(raw))
	}
	for _, raw := range []string{
		`{"origin":{"adapter":"a"},"origin":{"room":"r"}}`, `{"origin":null}`, `{"origin":{"Adapter":"a"}}`,
		`{"origin":{"time":"2026-11-23T08:00:00Z","user":null}}`, `{"kind":1}`, `{"ORIGIN":{}}`,
	} {
		checkEventDecode(t, []byte(raw))
	}
}

func FuzzDecodeIncident(f *testing.F) {
	incs, _ := trickyRecords()
	for _, inc := range incs {
		if raw, err := appendIncident(nil, &inc, nil); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"ID":1,"fields":{"a":null},"fields":{"b":"2"},"rooms":[null],"acknowledged_at":null}`))
	f.Fuzz(checkIncidentDecode)
}

func FuzzDecodeEvent(f *testing.F) {
	_, evs := trickyRecords()
	for _, ev := range evs {
		if raw, err := appendEvent(nil, &ev, nil); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"origin":{"adapter":"a"},"origin":{"Room":"r"},"text":null}`))
	f.Fuzz(checkEventDecode)
}

func BenchmarkDecodeIncident(b *testing.B) {
	at := time.Now()
	inc := Incident{ID: 12345, EntityID: "fp-1234", Title: "HighLatency", State: StateTriggered, OpenedAt: at, UpdatedAt: at, LastEventID: 99999, Rooms: []string{"ops"},
		Fields: map[string]string{"message_type": "CRITICAL", "entity_id": "fp-1234", "entity_display_name": "HighLatency", "state_message": "p99 over 1s", "routing_key": "payments",
			"monitoring_tool": "alertmanager", "alertname": "HighLatency", "instance": "web-1", "severity": "page", "summary": "p99 over 1s"}}
	raw, _ := appendIncident(nil, &inc, nil)
	b.Run("json-v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = decodeIncident(raw)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var inc Incident
			_ = json.Unmarshal(raw, &inc)
		}
	})
}

func TestPreEncodedFieldsOnlyForTheirOwnMap(t *testing.T) {
	m := map[string]string{"a": "1", "b": "2"}
	pre := encodeFields(m)
	require.Equal(t, `{"a":"1","b":"2"}`, string(pre.json))
	// A mark no fresh encoding of a map of theirs would write shows where
	// the pre-encoded bytes were used.
	const mark = `{"pre":"encoded"}`
	pre.json = []byte(mark)
	for name, other := range map[string]map[string]string{
		"same length":   {"a": "1", "b": "changed"},
		"same contents": {"a": "1", "b": "2"},
	} {
		ev := Event{Fields: other}
		got, err := appendEvent(nil, &ev, pre)
		require.NoError(t, err)
		assert.NotContains(t, string(got), mark, "another map (%s) is encoded afresh", name)
		assert.Contains(t, string(got), string(jsonenc.AppendStringMap([]byte(`"fields":`), other)), name)
	}
	ev := Event{Fields: m}
	got, err := appendEvent(nil, &ev, pre)
	require.NoError(t, err)
	assert.Contains(t, string(got), `"fields":`+mark, "the map the encoding was made of reuses it")
	inc := Incident{Fields: m}
	got, err = appendIncident(nil, &inc, pre)
	require.NoError(t, err)
	assert.Contains(t, string(got), `"fields":`+mark, "for the incident too")
}
