package timeline

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"time"

	"github.com/sitrep/sitrep/jsonenc"
)

// The timeline's hot path stores an event and its incident for every alert.
// These appenders write the JSON encoding/json would for Event and Incident
// (same keys, same omitempty rules, map keys sorted), without reflection;
// decodeIncident and decodeEvent read that form back with a jsonenc.Reader
// and leave anything else to encoding/json, so what they return is always
// what json.Unmarshal would. The round-trip and fuzz tests hold them in step.

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
	if fastIncident(raw, &inc) == nil {
		return inc, nil
	}
	inc = Incident{}
	err := json.Unmarshal(raw, &inc)
	return inc, err
}

// decodeEvent decodes a stored event as json.Unmarshal into a zero Event would.
func decodeEvent(raw []byte) (Event, error) {
	var ev Event
	if fastEvent(raw, &ev) == nil {
		return ev, nil
	}
	ev = Event{}
	err := json.Unmarshal(raw, &ev)
	return ev, err
}

var incidentKeys = []string{"id", "entity_id", "title", "state", "fields", "rooms", "opened_at", "updated_at",
	"acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "last_event_id"}

// fastIncident decodes the form appendIncident writes into a zero *inc.
// Every key may come once (encoding/json merges a repeated map); null leaves
// a field as it is, or sets it to nil, as encoding/json does.
func fastIncident(raw []byte, inc *Incident) error {
	r := jsonenc.NewReader(raw)
	err := members(&r, func(key []byte) (uint32, error) {
		switch string(key) {
		case "id":
			return 1 << 0, uintField(&r, &inc.ID)
		case "entity_id":
			return 1 << 1, strField(&r, &inc.EntityID)
		case "title":
			return 1 << 2, strField(&r, &inc.Title)
		case "state":
			return 1 << 3, strField(&r, (*string)(&inc.State))
		case "fields":
			var err error
			inc.Fields, err = r.StringMap()
			return 1 << 4, err
		case "rooms":
			var err error
			inc.Rooms, err = r.StringSlice()
			return 1 << 5, err
		case "opened_at":
			return 1 << 6, timeField(&r, &inc.OpenedAt)
		case "updated_at":
			return 1 << 7, timeField(&r, &inc.UpdatedAt)
		case "acknowledged_at":
			return 1 << 8, timePtrField(&r, &inc.AcknowledgedAt)
		case "acknowledged_by":
			return 1 << 9, strField(&r, &inc.AcknowledgedBy)
		case "resolved_at":
			return 1 << 10, timePtrField(&r, &inc.ResolvedAt)
		case "resolved_by":
			return 1 << 11, strField(&r, &inc.ResolvedBy)
		case "last_event_id":
			return 1 << 12, uintField(&r, &inc.LastEventID)
		}
		return 0, r.Unknown(key, incidentKeys...)
	})
	return end(&r, err)
}

var eventKeys = []string{"id", "incident_id", "kind", "text", "fields", "origin", "time"}
var originKeys = []string{"adapter", "room", "message_id", "user", "time"}

// fastEvent decodes the form appendEvent writes into a zero *ev, on the
// terms of fastIncident.
func fastEvent(raw []byte, ev *Event) error {
	r := jsonenc.NewReader(raw)
	err := members(&r, func(key []byte) (uint32, error) {
		switch string(key) {
		case "id":
			return 1 << 0, uintField(&r, &ev.ID)
		case "incident_id":
			return 1 << 1, uintField(&r, &ev.IncidentID)
		case "kind":
			return 1 << 2, strField(&r, (*string)(&ev.Kind))
		case "text":
			return 1 << 3, strField(&r, &ev.Text)
		case "fields":
			var err error
			ev.Fields, err = r.StringMap()
			return 1 << 4, err
		case "origin":
			if r.Null() {
				return 1 << 5, nil
			}
			return 1 << 5, originField(&r, &ev.Origin)
		case "time":
			return 1 << 6, timeField(&r, &ev.Time)
		}
		return 0, r.Unknown(key, eventKeys...)
	})
	return end(&r, err)
}

func originField(r *jsonenc.Reader, o *Origin) error {
	return members(r, func(key []byte) (uint32, error) {
		switch string(key) {
		case "adapter":
			return 1 << 0, strField(r, &o.Adapter)
		case "room":
			return 1 << 1, strField(r, &o.Room)
		case "message_id":
			return 1 << 2, strField(r, &o.MessageID)
		case "user":
			return 1 << 3, strField(r, &o.User)
		case "time":
			return 1 << 4, timeField(r, &o.Time)
		}
		return 0, r.Unknown(key, originKeys...)
	})
}

// members reads an object whose keys may each come once: encoding/json merges
// a repeated key, so a repeat goes the slow way. read reads the value of key
// and returns the key's bit, or 0 for a key it skipped.
func members(r *jsonenc.Reader, read func(key []byte) (uint32, error)) error {
	var seen uint32
	return r.Object(func(key []byte) error {
		bit, err := read(key)
		if bit == 0 {
			return err
		}
		if seen&bit != 0 {
			return jsonenc.ErrSlow
		}
		seen |= bit
		return err
	})
}

func strField(r *jsonenc.Reader, dst *string) error {
	if r.Null() {
		return nil
	}
	v, err := r.String()
	*dst = v
	return err
}

func uintField(r *jsonenc.Reader, dst *uint64) error {
	if r.Null() {
		return nil
	}
	v, err := r.Uint()
	*dst = v
	return err
}

func timeField(r *jsonenc.Reader, dst *time.Time) error {
	if r.Null() {
		return nil
	}
	t, err := r.Time()
	*dst = t
	return err
}

func timePtrField(r *jsonenc.Reader, dst **time.Time) error {
	if r.Null() {
		*dst = nil
		return nil
	}
	t, err := r.Time()
	*dst = &t
	return err
}

// end checks that nothing follows a decoded value.
func end(r *jsonenc.Reader, err error) error {
	if err != nil {
		return err
	}
	return r.End()
}
