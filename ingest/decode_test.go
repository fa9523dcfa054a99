package ingest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/timeline"
)

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func fixedID() string { return "generated-id" }

func TestDecodeAlert(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   map[string]string
		wantMT string
		at     time.Time
	}{
		{
			name:   "full VictorOps alert",
			body:   `{"message_type":"CRITICAL","entity_id":"disk/db-1","entity_display_name":"Disk full on db-1","state_message":"97% used","routing_key":"payments","monitoring_tool":"nagios","host_name":"db-1","timestamp":1795000000}`,
			wantMT: timeline.MsgCritical,
			want: map[string]string{"message_type": "CRITICAL", "entity_id": "disk/db-1", "entity_display_name": "Disk full on db-1",
				"entity_state": "CRITICAL", "state_message": "97% used", "routing_key": "payments", "monitoring_tool": "nagios", "host_name": "db-1", "timestamp": "1795000000"},
			at: time.Unix(1795000000, 0).UTC(),
		},
		{
			name:   "entity_state follows the message type, as Splunk On-Call sets it",
			body:   `{"message_type":"RECOVERY","entity_id":"x","entity_state":"CRITICAL"}`,
			wantMT: timeline.MsgRecovery,
			want:   map[string]string{"message_type": "RECOVERY", "entity_id": "x", "entity_state": "OK"},
			at:     now,
		},
		{
			name:   "an acknowledgement keeps the source's entity_state",
			body:   `{"message_type":"ACKNOWLEDGEMENT","entity_id":"x","entity_state":"CRITICAL"}`,
			wantMT: timeline.MsgAcknowledgement,
			want:   map[string]string{"message_type": "ACKNOWLEDGEMENT", "entity_id": "x", "entity_state": "CRITICAL"},
			at:     now,
		},
		{
			name:   "message type is case-insensitive and normalised",
			body:   `{"message_type":"recovery","entity_id":"x"}`,
			wantMT: timeline.MsgRecovery,
			want:   map[string]string{"message_type": "RECOVERY", "entity_id": "x", "entity_state": "OK"},
			at:     now,
		},
		{
			name:   "missing entity id is generated",
			body:   `{"message_type":"WARNING","state_message":"slow"}`,
			wantMT: timeline.MsgWarning,
			want:   map[string]string{"message_type": "WARNING", "entity_id": "generated-id", "state_message": "slow", "entity_state": "WARNING"},
			at:     now,
		},
		{
			name:   "other fields kept verbatim, numbers and objects as JSON text, nulls dropped",
			body:   `{"message_type":"INFO","entity_id":"e","team":"core","count":3,"ok":true,"tags":{"a":[1,2]},"gone":null,"uni":"caf\u00e9 ☕"}`,
			wantMT: timeline.MsgInfo,
			want:   map[string]string{"message_type": "INFO", "entity_state": "INFO", "entity_id": "e", "team": "core", "count": "3", "ok": "true", "tags": `{"a":[1,2]}`, "uni": "café ☕"},
			at:     now,
		},
		{
			name:   "timestamp far in the future falls back to receipt time",
			body:   `{"message_type":"CRITICAL","entity_id":"e","timestamp":"99999999999"}`,
			wantMT: timeline.MsgCritical,
			want:   map[string]string{"message_type": "CRITICAL", "entity_state": "CRITICAL", "entity_id": "e", "timestamp": "99999999999"},
			at:     now,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := DecodeAlert([]byte(tt.body), now, fixedID)
			require.NoError(t, err)
			assert.Equal(t, tt.wantMT, a.MessageType)
			assert.Equal(t, tt.want, a.Fields)
			assert.Equal(t, tt.want["entity_id"], a.EntityID)
			assert.Equal(t, tt.at, a.Time)
			assert.Equal(t, AdapterHTTP, a.Origin.Adapter)
		})
	}
}

func TestDecodeAlertErrors(t *testing.T) {
	tests := []struct {
		name, body, field, msg string
	}{
		{"missing message_type", `{"entity_id":"x"}`, "message_type", "required"},
		{"unknown message_type", `{"message_type":"PANIC"}`, "message_type", `unknown value "PANIC"`},
		{"message_type not a string", `{"message_type":5}`, "message_type", "unknown value"},
		{"bad timestamp", `{"message_type":"INFO","timestamp":"yesterday"}`, "timestamp", "seconds since the epoch"},
		{"empty field name", `{"":"x","message_type":"INFO"}`, "", "must not be empty"},
		{"huge field value", `{"message_type":"INFO","big":"` + strings.Repeat("a", MaxFieldValue+1) + `"}`, "big", "value longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAlert([]byte(tt.body), now, fixedID)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Contains(t, fe.Msg, tt.msg)
		})
	}
	for _, body := range []string{``, `[]`, `{`, `{"message_type":"INFO",}`, `{"message_type":"INFO"} x`, `"str"`, `{"a":"\ud800"`, `{'a':1}`} {
		_, err := DecodeAlert([]byte(body), now, fixedID)
		var se *SyntaxError
		var fe *FieldError
		assert.True(t, errorsAs(err, &se) || errorsAs(err, &fe), "body %q: want a syntax or field error, got %v", body, err)
	}
}

func TestDecodeAlertmanager(t *testing.T) {
	body := `{
	  "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "firing", "receiver": "payments",
	  "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {}, "commonAnnotations": {},
	  "externalURL": "http://am:9093", "truncatedAlerts": 0,
	  "alerts": [
	    {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "page"},
	     "annotations": {"summary": "Disk full on db-1", "description": "97% used", "runbook_url": "https://wiki/disk"},
	     "startsAt": "2026-11-23T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "c0ffee"},
	    {"status": "resolved", "labels": {"alertname": "HighLatency", "routing_key": "checkout"},
	     "annotations": {}, "startsAt": "2026-11-23T07:00:00Z", "endsAt": "2026-11-23T08:30:00Z"}
	  ]
	}`
	alerts, err := DecodeAlertmanager([]byte(body), now)
	require.NoError(t, err)
	require.Len(t, alerts, 2)

	a := alerts[0]
	assert.Equal(t, timeline.MsgCritical, a.MessageType)
	assert.Equal(t, "c0ffee", a.EntityID)
	assert.Equal(t, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), a.Time)
	assert.Equal(t, "Disk full on db-1", a.Fields["entity_display_name"])
	assert.Equal(t, "97% used", a.Fields["state_message"])
	assert.Equal(t, "page", a.Fields["severity"])
	assert.Equal(t, "https://wiki/disk", a.Fields["runbook_url"])
	assert.Equal(t, "payments", a.Fields["routing_key"], "receiver is the routing key when no label sets one")
	assert.Equal(t, "alertmanager", a.Fields["monitoring_tool"])
	assert.Equal(t, "http://prom/graph", a.Fields["generator_url"])

	b := alerts[1]
	assert.Equal(t, timeline.MsgRecovery, b.MessageType)
	assert.NotEmpty(t, b.EntityID, "fingerprint computed from labels")
	assert.Equal(t, "checkout", b.Fields["routing_key"], "a routing_key label wins over the receiver")
	assert.Equal(t, time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC), b.Time)

	again, err := DecodeAlertmanager([]byte(body), now)
	require.NoError(t, err)
	assert.Equal(t, b.EntityID, again[1].EntityID, "computed fingerprints are stable")
}

func TestDecodeAlertmanagerErrors(t *testing.T) {
	alert := func(s string) string { return `{"version":"4","receiver":"r","alerts":[` + s + `]}` }
	tests := []struct {
		name, body, field string
	}{
		{"no version", `{"alerts":[{"status":"firing","labels":{"a":"b"}}]}`, "version"},
		{"wrong version", `{"version":"3","alerts":[{"status":"firing"}]}`, "version"},
		{"no alerts", `{"version":"4","alerts":[]}`, "alerts"},
		{"alerts not an array", `{"version":"4","alerts":{}}`, "alerts"},
		{"bad status", alert(`{"status":"burning","labels":{"a":"b"}}`), "alerts[0].status"},
		{"missing status", alert(`{"status":"firing","labels":{"a":"b"}},{"labels":{"a":"b"}}`), "alerts[1].status"},
		{"bad startsAt", alert(`{"status":"firing","labels":{"a":"b"},"startsAt":"today"}`), "alerts[0].startsAt"},
		{"alert not an object", alert(`7`), "alerts[0]"},
		{"no labels and no fingerprint", alert(`{"status":"firing","labels":{"a":"b"}},{"status":"firing"}`), "alerts[1].labels"},
		{"empty labels and no fingerprint", alert(`{"status":"firing","labels":{},"fingerprint":" "}`), "alerts[0].labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAlertmanager([]byte(tt.body), now)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
		})
	}
}

// errorsAs is errors.As for a test that checks one of several types.
func errorsAs[T error](err error, target *T) bool {
	if err == nil {
		return false
	}
	e, ok := err.(T)
	if ok {
		*target = e
	}
	return ok
}

func FuzzDecodeAlert(f *testing.F) {
	for _, s := range []string{
		`{"message_type":"CRITICAL","entity_id":"x","state_message":"a\nb"}`,
		`{"message_type":"info","timestamp":1.5e9,"n":[1,{"a":null}]}`,
		`{"message_type":"RECOVERY","entity_id":"\u00e9\ud83d\ude00"}`,
		`{}`, `[`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := DecodeAlert(body, now, fixedID)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if a.EntityID == "" || a.Fields[timeline.FieldEntityID] != a.EntityID {
			t.Fatalf("entity id %q not set in fields %v", a.EntityID, a.Fields)
		}
		if _, ok := timeline.ParseMessageType(a.Fields[timeline.FieldMessageType]); !ok {
			t.Fatalf("accepted message type %q", a.Fields[timeline.FieldMessageType])
		}
		var generic map[string]any
		if err := json.Unmarshal(body, &generic); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		for k, v := range generic {
			if s, ok := v.(string); ok && k != timeline.FieldMessageType && k != timeline.FieldEntityID && a.Fields[k] != s {
				t.Fatalf("field %q = %q, want %q", k, a.Fields[k], s)
			}
		}
	})
}

func FuzzDecodeAlertmanager(f *testing.F) {
	f.Add([]byte(`{"version":"4","receiver":"r","alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":{"summary":"s"},"startsAt":"2026-11-23T08:00:00Z","fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","labels":{},"endsAt":"2026-11-23T08:00:00.123+02:00"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[null]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := DecodeAlertmanager(body, now)
		if err != nil {
			if len(alerts) != 0 {
				t.Fatal("alerts returned with an error")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if len(alerts) == 0 {
			t.Fatal("no alerts and no error")
		}
		for _, a := range alerts {
			if a.EntityID == "" || (a.MessageType != timeline.MsgCritical && a.MessageType != timeline.MsgRecovery) {
				t.Fatalf("bad alert %+v", a)
			}
		}
	})
}

func BenchmarkDecodeAlert(b *testing.B) {
	body := []byte(`{"message_type":"CRITICAL","entity_id":"disk/db-1","entity_display_name":"Disk full on db-1","state_message":"97% used","routing_key":"payments","monitoring_tool":"nagios","host_name":"db-1"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeAlert(body, now, fixedID); err != nil {
			b.Fatal(err)
		}
	}
}
