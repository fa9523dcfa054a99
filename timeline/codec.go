package timeline

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The timeline's hot path stores an event and its incident for every alert.
// These appenders write the same JSON encoding/json would for Event and
// Incident (same keys, same omitempty rules, map keys sorted), without
// reflection; records are still read back with encoding/json. The round-trip
// tests hold the two in step.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFields appends a string map with its keys sorted.
func appendFields(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

func appendOrigin(b []byte, o *Origin) []byte {
	b = append(b, `{"adapter":`...)
	b = appendString(b, o.Adapter)
	if o.Room != "" {
		b = appendKey(b, "room")
		b = appendString(b, o.Room)
	}
	if o.MessageID != "" {
		b = appendKey(b, "message_id")
		b = appendString(b, o.MessageID)
	}
	if o.User != "" {
		b = appendKey(b, "user")
		b = appendString(b, o.User)
	}
	b = appendKey(b, "time")
	b = appendTime(b, o.Time)
	return append(b, '}')
}

// appendEvent appends ev as encoding/json would encode it.
func appendEvent(b []byte, ev *Event) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, ev.ID, 10)
	b = appendKey(b, "incident_id")
	b = strconv.AppendUint(b, ev.IncidentID, 10)
	b = appendKey(b, "kind")
	b = appendString(b, string(ev.Kind))
	if ev.Text != "" {
		b = appendKey(b, "text")
		b = appendString(b, ev.Text)
	}
	if len(ev.Fields) > 0 {
		b = appendKey(b, "fields")
		b = appendFields(b, ev.Fields)
	}
	b = appendKey(b, "origin")
	b = appendOrigin(b, &ev.Origin)
	b = appendKey(b, "time")
	b = appendTime(b, ev.Time)
	return append(b, '}')
}

// appendIncident appends inc as encoding/json would encode it.
func appendIncident(b []byte, inc *Incident) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, inc.ID, 10)
	b = appendKey(b, "entity_id")
	b = appendString(b, inc.EntityID)
	b = appendKey(b, "title")
	b = appendString(b, inc.Title)
	b = appendKey(b, "state")
	b = appendString(b, string(inc.State))
	if len(inc.Fields) > 0 {
		b = appendKey(b, "fields")
		b = appendFields(b, inc.Fields)
	}
	if len(inc.Rooms) > 0 {
		b = appendKey(b, "rooms")
		b = append(b, '[')
		for i, r := range inc.Rooms {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, r)
		}
		b = append(b, ']')
	}
	b = appendKey(b, "opened_at")
	b = appendTime(b, inc.OpenedAt)
	b = appendKey(b, "updated_at")
	b = appendTime(b, inc.UpdatedAt)
	if inc.AcknowledgedAt != nil {
		b = appendKey(b, "acknowledged_at")
		b = appendTime(b, *inc.AcknowledgedAt)
	}
	if inc.AcknowledgedBy != "" {
		b = appendKey(b, "acknowledged_by")
		b = appendString(b, inc.AcknowledgedBy)
	}
	if inc.ResolvedAt != nil {
		b = appendKey(b, "resolved_at")
		b = appendTime(b, *inc.ResolvedAt)
	}
	if inc.ResolvedBy != "" {
		b = appendKey(b, "resolved_by")
		b = appendString(b, inc.ResolvedBy)
	}
	b = appendKey(b, "last_event_id")
	b = strconv.AppendUint(b, inc.LastEventID, 10)
	return append(b, '}')
}
