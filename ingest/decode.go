package ingest

import (
	"bytes"
	"crypto/rand"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/timeline"
)

// Limits on what one alert may carry.
const (
	MaxFieldName  = 256       // bytes in a field name
	MaxFieldValue = 64 << 10  // bytes in a field value
	MaxAlerts     = 10000     // alerts in one Alertmanager notification
	MaxBody       = 1 << 20   // bytes in a request body
	minEpoch      = 946684800 // 2000-01-01T00:00:00Z: older timestamps are taken for mistakes
	maxFuture     = 24 * time.Hour
)

// messageTypes lists the message types DecodeAlert takes, for error messages.
const messageTypes = "one of CRITICAL, WARNING, ACKNOWLEDGEMENT, INFO, RECOVERY"

// Adapters named in the Origin of decoded alerts.
const (
	AdapterHTTP         = "http"
	AdapterAlertmanager = "alertmanager"
)

// FieldError is a body that is valid JSON but has a field the endpoint cannot take.
type FieldError struct {
	Field string // the field, as a path for nested ones: "alerts[3].status"
	Msg   string // what is wrong with it
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// DecodeAlert decodes the body of one Splunk On-Call (VictorOps) REST alert: a
// JSON object with a message_type and any other fields, all kept for routing.
// now is the time of receipt; newID names an entity when the alert has no
// entity_id (nil means a random ID).
//
// Strings are kept as they are, numbers and booleans as their JSON text,
// objects and arrays as compact JSON; null fields are dropped. The alert's
// Fields always hold its normalised message_type and its entity_id.
func DecodeAlert(body []byte, now time.Time, newID func() string) (timeline.Alert, error) {
	s := scanner{data: body}
	more, err := s.beginBody()
	if err != nil {
		return timeline.Alert{}, err
	}
	fields := make(map[string]string, 8)
	for more {
		k, err := s.key()
		if err != nil {
			return timeline.Alert{}, err
		}
		if len(k) == 0 || len(k) > MaxFieldName {
			return timeline.Alert{}, nameError(k, "")
		}
		name := fieldName(k)
		kind, v, err := s.value(2)
		if err != nil {
			return timeline.Alert{}, err
		}
		_, dup := fields[name]
		if fe := memberProblem(name, v, dup, ""); fe != nil {
			return timeline.Alert{}, fe
		}
		if kind != kindNull {
			if len(v) > MaxFieldValue {
				return timeline.Alert{}, valueTooLong(name)
			}
			fields[name] = string(v)
		}
		if more, err = s.nextMember(); err != nil {
			return timeline.Alert{}, err
		}
	}
	if err := s.endBody(); err != nil {
		return timeline.Alert{}, err
	}

	raw, ok := fields[timeline.FieldMessageType]
	if !ok {
		return timeline.Alert{}, &FieldError{Field: timeline.FieldMessageType, Msg: "required (" + messageTypes + ")"}
	}
	mt, ok := timeline.ParseMessageType(raw)
	if !ok {
		return timeline.Alert{}, &FieldError{
			Field: timeline.FieldMessageType,
			Msg:   "unknown value " + strconv.Quote(truncate(raw, 64)) + " (" + messageTypes + ")",
		}
	}
	fields[timeline.FieldMessageType] = mt
	timeline.SetEntityState(fields, mt)

	at := now
	if ts, ok := fields["timestamp"]; ok {
		t, err := parseEpoch(ts, now)
		if err != nil {
			return timeline.Alert{}, err
		}
		if !t.IsZero() {
			at = t
		}
	}

	entity := fields[timeline.FieldEntityID]
	if len(entity) > timeline.MaxEntityID {
		return timeline.Alert{}, &FieldError{Field: timeline.FieldEntityID, Msg: "longer than " + strconv.Itoa(timeline.MaxEntityID) + " bytes"}
	}
	if strings.TrimSpace(entity) == "" {
		if newID != nil {
			entity = newID()
		}
		if entity == "" {
			entity = NewID()
		}
		fields[timeline.FieldEntityID] = entity
	}

	return timeline.Alert{
		MessageType: mt,
		EntityID:    entity,
		Fields:      fields,
		Time:        at,
		Origin:      timeline.Origin{Adapter: AdapterHTTP, Time: now},
	}, nil
}

// NewID returns a random entity ID, for alerts that come without one.
func NewID() string { return rand.Text() }

// parseEpoch reads a timestamp in seconds since the epoch. It returns the zero
// time for an empty one or one too far from now to be meant, and a
// *FieldError for one that is not a number.
func parseEpoch(ts string, now time.Time) (time.Time, error) {
	ts = strings.TrimSpace(ts)
	if ts == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
		t = time.Unix(sec, 0)
	} else {
		if !isNumber(ts) {
			return time.Time{}, &FieldError{Field: "timestamp", Msg: "must be a number of seconds since the epoch"}
		}
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || f < minEpoch || f > 1e11 { // not meant as seconds
			return time.Time{}, nil
		}
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(frac*1e9))
	}
	if t.Unix() < minEpoch || t.After(now.Add(maxFuture)) {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// isNumber reports whether s is a number as JSON writes one.
func isNumber(s string) bool {
	sc := scanner{data: []byte(s)}
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return false
	}
	_, err := sc.number()
	return err == nil && sc.pos == len(s)
}

// nameError is the error for an empty or overlong field name. prefix locates
// the name in the body ("alerts[0].labels"); empty means a top-level field.
// memberProblem is what is wrong with the member name: value of an object
// at prefix: a name given twice, or a NUL in its name or value.
func memberProblem(name string, value []byte, dup bool, prefix string) *FieldError {
	field := truncate(strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", `\u0000`), "?"), 64)
	if prefix != "" {
		field = prefix + "." + field
	}
	switch {
	case dup:
		return &FieldError{Field: field, Msg: "given twice: each name may appear once"}
	case strings.IndexByte(name, 0) >= 0:
		return &FieldError{Field: field, Msg: "the name holds a NUL character"}
	case bytes.IndexByte(value, 0) >= 0:
		return &FieldError{Field: field, Msg: "the value holds a NUL character"}
	}
	return nil
}

func nameError(name []byte, prefix string) *FieldError {
	if len(name) == 0 {
		return &FieldError{Field: prefix, Msg: "field names must not be empty"}
	}
	field := truncate(string(name[:min(len(name), 64)]), 64) + "..."
	if prefix != "" {
		field = prefix + "." + field
	}
	return &FieldError{Field: field, Msg: "field name longer than " + strconv.Itoa(MaxFieldName) + " bytes"}
}

func valueTooLong(field string) *FieldError {
	return &FieldError{Field: field, Msg: "value longer than " + strconv.Itoa(MaxFieldValue) + " bytes"}
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// fieldName returns name as a string, without allocating for the names
// senders use most.
func fieldName(name []byte) string {
	switch string(name) {
	case timeline.FieldMessageType:
		return timeline.FieldMessageType
	case timeline.FieldEntityID:
		return timeline.FieldEntityID
	case timeline.FieldEntityDisplayName:
		return timeline.FieldEntityDisplayName
	case timeline.FieldStateMessage:
		return timeline.FieldStateMessage
	case "state_start_time":
		return "state_start_time"
	case "monitoring_tool":
		return "monitoring_tool"
	case "routing_key":
		return "routing_key"
	case "host_name":
		return "host_name"
	case "timestamp":
		return "timestamp"
	case "ack_msg":
		return "ack_msg"
	case "ack_author":
		return "ack_author"
	case "alertname":
		return "alertname"
	case "instance":
		return "instance"
	case "job":
		return "job"
	case "severity":
		return "severity"
	case "summary":
		return "summary"
	case "description":
		return "description"
	case "service":
		return "service"
	case "team":
		return "team"
	case "env":
		return "env"
	case "runbook_url":
		return "runbook_url"
	}
	return string(name)
}
