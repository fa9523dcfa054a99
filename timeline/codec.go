package timeline

import (
	"errors"
	"reflect"
	"strconv"
	"time"

	"github.com/sitrep/sitrep/jsonenc"
)

// The timeline's hot path stores an event and its incident for every alert.
// These appenders write the JSON encoding/json would for Event and Incident
// (same keys, same omitempty rules, map keys sorted), without reflection;
// decodeIncident and decodeEvent read records back with jsonenc.Unmarshal,
// from the struct tags, on encoding/json's terms. The round-trip and fuzz
// tests hold the appenders and encoding/json in step.

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendTime appends t; a time encoding/json refuses (a year past 9999)
// becomes the zero time's encoding and sets *bad.
func appendTime(b []byte, t time.Time, bad *bool) []byte {
	out, ok := jsonenc.AppendTime(b, t)
	if !ok {
		*bad = true
		out, _ = jsonenc.AppendTime(b, time.Time{})
	}
	return out
}

func appendOrigin(b []byte, o *Origin, bad *bool) []byte {
	b = append(b, `{"adapter":`...)
	b = jsonenc.AppendString(b, o.Adapter)
	if o.Room != "" {
		b = appendKey(b, "room")
		b = jsonenc.AppendString(b, o.Room)
	}
	if o.MessageID != "" {
		b = appendKey(b, "message_id")
		b = jsonenc.AppendString(b, o.MessageID)
	}
	if o.User != "" {
		b = appendKey(b, "user")
		b = jsonenc.AppendString(b, o.User)
	}
	if o.Unverified {
		b = appendKey(b, "unverified")
		b = append(b, "true"...)
	}
	b = appendKey(b, "time")
	b = appendTime(b, o.Time, bad)
	return append(b, '}')
}

// errTimeRange is a record with a time JSON cannot carry.
var errTimeRange = errors.New("time outside the years 0-9999")

// encodedFields is an alert's fields map with its JSON encoding, made by the
// ingesting goroutine before the write transaction, so the single writer does
// not encode the same map again for the event and for the incident.
type encodedFields struct {
	of   map[string]string
	json []byte
}

func encodeFields(m map[string]string) *encodedFields {
	return &encodedFields{of: m, json: jsonenc.AppendStringMap(make([]byte, 0, 64*len(m)), m)}
}

// append appends m, reusing the encoding when m is the very map it was made of.
func (e *encodedFields) append(b []byte, m map[string]string) []byte {
	if e != nil && len(m) == len(e.of) && reflect.ValueOf(m).UnsafePointer() == reflect.ValueOf(e.of).UnsafePointer() {
		return append(b, e.json...)
	}
	return jsonenc.AppendStringMap(b, m)
}

// appendEvent appends ev as encoding/json would encode it.
func appendEvent(b []byte, ev *Event, pre *encodedFields) ([]byte, error) {
	bad := false
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, ev.ID, 10)
	b = appendKey(b, "incident_id")
	b = strconv.AppendUint(b, ev.IncidentID, 10)
	b = appendKey(b, "kind")
	b = jsonenc.AppendString(b, string(ev.Kind))
	if ev.Text != "" {
		b = appendKey(b, "text")
		b = jsonenc.AppendString(b, ev.Text)
	}
	if len(ev.Fields) > 0 {
		b = appendKey(b, "fields")
		b = pre.append(b, ev.Fields)
	}
	b = appendKey(b, "origin")
	b = appendOrigin(b, &ev.Origin, &bad)
	b = appendKey(b, "time")
	b = appendTime(b, ev.Time, &bad)
	return done(b, bad)
}

// appendIncident appends inc as encoding/json would encode it.
func appendIncident(b []byte, inc *Incident, pre *encodedFields) ([]byte, error) {
	bad := false
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, inc.ID, 10)
	b = appendKey(b, "entity_id")
	b = jsonenc.AppendString(b, inc.EntityID)
	b = appendKey(b, "title")
	b = jsonenc.AppendString(b, inc.Title)
	b = appendKey(b, "state")
	b = jsonenc.AppendString(b, string(inc.State))
	if len(inc.Fields) > 0 {
		b = appendKey(b, "fields")
		b = pre.append(b, inc.Fields)
	}
	if len(inc.Rooms) > 0 {
		b = appendKey(b, "rooms")
		b = append(b, '[')
		for i, r := range inc.Rooms {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, r)
		}
		b = append(b, ']')
	}
	if len(inc.Messages) > 0 {
		b = appendKey(b, "messages")
		b = jsonenc.AppendStringMap(b, inc.Messages)
	}
	b = appendKey(b, "opened_at")
	b = appendTime(b, inc.OpenedAt, &bad)
	b = appendKey(b, "updated_at")
	b = appendTime(b, inc.UpdatedAt, &bad)
	if inc.AcknowledgedAt != nil {
		b = appendKey(b, "acknowledged_at")
		b = appendTime(b, *inc.AcknowledgedAt, &bad)
	}
	if inc.AcknowledgedBy != "" {
		b = appendKey(b, "acknowledged_by")
		b = jsonenc.AppendString(b, inc.AcknowledgedBy)
	}
	if inc.ResolvedAt != nil {
		b = appendKey(b, "resolved_at")
		b = appendTime(b, *inc.ResolvedAt, &bad)
	}
	if inc.ResolvedBy != "" {
		b = appendKey(b, "resolved_by")
		b = jsonenc.AppendString(b, inc.ResolvedBy)
	}
	b = appendKey(b, "last_event_id")
	b = strconv.AppendUint(b, inc.LastEventID, 10)
	if inc.FirstEventID != 0 {
		b = appendKey(b, "first_event_id")
		b = strconv.AppendUint(b, inc.FirstEventID, 10)
	}
	if inc.FieldsEvent != 0 {
		b = appendKey(b, "fields_event")
		b = strconv.AppendUint(b, inc.FieldsEvent, 10)
	}
	return done(b, bad)
}

func done(b []byte, bad bool) ([]byte, error) {
	if bad {
		return nil, errTimeRange
	}
	return append(b, '}'), nil
}

// decodeIncident decodes a stored incident as json.Unmarshal into a zero
// Incident would.
func decodeIncident(raw []byte) (Incident, error) {
	var inc Incident
	err := jsonenc.Unmarshal(raw, &inc)
	return inc, err
}

// decodeEvent decodes a stored event as json.Unmarshal into a zero Event would.
func decodeEvent(raw []byte) (Event, error) {
	var ev Event
	err := jsonenc.Unmarshal(raw, &ev)
	return ev, err
}
