package adapters

import (
	"strconv"

	"github.com/sitrep/sitrep/jsonenc"
)

// AppendJSON appends m as a JSON object, byte for byte as encoding/json
// would, without reflection (the outbox and web rooms encode every message).
func (m *Message) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = m.AppendJSONFields(dst)
	return append(dst, '}')
}

// AppendJSONFields appends m's members without the enclosing braces, for
// a struct that embeds adapters.Message. It always appends at least "text".
func (m *Message) AppendJSONFields(dst []byte) []byte {
	if m.IncidentID != 0 {
		dst = append(dst, `"incident_id":`...)
		dst = strconv.AppendUint(dst, m.IncidentID, 10)
		dst = append(dst, ',')
	}
	if m.EventID != 0 {
		dst = append(dst, `"event_id":`...)
		dst = strconv.AppendUint(dst, m.EventID, 10)
		dst = append(dst, ',')
	}
	if m.Kind != "" {
		dst = append(dst, `"kind":`...)
		dst = jsonenc.AppendString(dst, string(m.Kind))
		dst = append(dst, ',')
	}
	if m.State != "" {
		dst = append(dst, `"state":`...)
		dst = jsonenc.AppendString(dst, string(m.State))
		dst = append(dst, ',')
	}
	if m.Title != "" {
		dst = append(dst, `"title":`...)
		dst = jsonenc.AppendString(dst, m.Title)
		dst = append(dst, ',')
	}
	dst = append(dst, `"text":`...)
	dst = jsonenc.AppendString(dst, m.Text)
	if m.Color != "" {
		dst = append(dst, `,"color":`...)
		dst = jsonenc.AppendString(dst, m.Color)
	}
	if m.User != "" {
		dst = append(dst, `,"user":`...)
		dst = jsonenc.AppendString(dst, m.User)
	}
	if len(m.Fields) > 0 {
		dst = append(dst, `,"fields":`...)
		dst = jsonenc.AppendStringMap(dst, m.Fields)
	}
	if len(m.Actions) > 0 {
		dst = append(dst, `,"actions":[`...)
		for i, a := range m.Actions {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonenc.AppendString(dst, string(a))
		}
		dst = append(dst, ']')
	}
	if len(m.Digest) > 0 {
		dst = append(dst, `,"digest":[`...)
		for i := range m.Digest {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = m.Digest[i].AppendJSON(dst)
		}
		dst = append(dst, ']')
	}
	if len(m.Payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, m.Payload...)
	}
	if len(m.Mentions) > 0 {
		dst = append(dst, `,"mentions":`...)
		dst = jsonenc.AppendStringMap(dst, m.Mentions)
	}
	return dst
}
