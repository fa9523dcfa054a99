package outbox

import (
	"encoding/json"
	"strconv"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/jsonenc"
)

// appendEntry appends e encoded exactly as encoding/json.Marshal encodes it,
// without reflection (Enqueue runs on the ingest path).
func appendEntry(dst []byte, e *Entry) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"room":`...)
	dst = jsonenc.AppendString(dst, e.Room)
	if e.Op != 0 {
		dst = append(dst, `,"op":`...)
		dst = strconv.AppendUint(dst, uint64(e.Op), 10)
	}
	if e.Card {
		dst = append(dst, `,"card":true`...)
	}
	if e.NoDigest {
		dst = append(dst, `,"no_digest":true`...)
	}
	dst = append(dst, `,"msg":`...)
	dst = e.Msg.AppendJSON(dst)
	dst = append(dst, `,"enqueued":`...)
	var ok bool
	if dst, ok = jsonenc.AppendTime(dst, e.Enqueued); !ok {
		return marshalEntry(dst[:start], e)
	}
	if e.Attempts != 0 {
		dst = append(dst, `,"attempts":`...)
		dst = strconv.AppendInt(dst, int64(e.Attempts), 10)
	}
	if !e.NextAt.IsZero() {
		dst = append(dst, `,"next_at":`...)
		if dst, ok = jsonenc.AppendTime(dst, e.NextAt); !ok {
			return marshalEntry(dst[:start], e)
		}
	}
	if e.LastError != "" {
		dst = append(dst, `,"last_error":`...)
		dst = jsonenc.AppendString(dst, e.LastError)
	}
	return append(dst, '}'), nil
}

// marshalEntry is appendEntry's fallback for what it does not encode itself.
func marshalEntry(dst []byte, e *Entry) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	return append(dst, raw...), nil
}

// decodeEntry decodes a stored entry in full.
func decodeEntry(raw []byte, e *Entry) error {
	return json.Unmarshal(raw, e)
}

// digestFields are the message members a digest keeps of each entry it
// collapses (see digestChild); decodeForDigest reads only those.
var digestFields = [...]string{"incident_id", "event_id", "kind", "state", "title", "text", "color"}

// decodeForDigest decodes what a digest needs of a stored entry: its
// enqueue time and the members of its message digestChild keeps. Entries
// are stored by appendEntry, so it parses that form directly with a
// jsonenc.Reader and skips the rest (fields, user) without building it;
// anything the reader does not take (jsonenc.ErrSlow: escapes in a key, an
// unusual number, a key differing only in case) is handed to encoding/json
// instead, so its result equals decoding in full and taking digestChild of
// the message.
func decodeForDigest(raw []byte, e *Entry) error {
	if err := fastDigestEntry(raw, e); err == nil {
		return nil
	}
	var full Entry
	if err := json.Unmarshal(raw, &full); err != nil {
		return err
	}
	full.Msg = digestChild(full.Msg)
	*e = full
	return nil
}

var entryKeys = []string{"seq", "room", "op", "card", "no_digest", "msg", "enqueued", "attempts", "next_at", "last_error"}

func fastDigestEntry(raw []byte, e *Entry) error {
	r := jsonenc.NewReader(raw)
	var out Entry
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "msg":
			if r.Null() { // encoding/json leaves the message as it is
				return nil
			}
			return r.Object(func(key []byte) error { return digestMember(&r, key, &out.Msg) })
		case "enqueued":
			if r.Null() {
				return nil
			}
			t, err := r.Time()
			out.Enqueued = t
			return err
		case "op":
			if r.Null() {
				return nil
			}
			op, err := r.Uint()
			if op > 255 {
				return jsonenc.ErrSlow
			}
			out.Op = adapters.Op(op)
			return err
		case "no_digest":
			return jsonenc.ErrSlow // rare: decoded in full
		case "seq", "room", "card", "attempts", "next_at", "last_error":
			return r.Skip()
		}
		return r.Unknown(key, entryKeys...)
	})
	if err != nil {
		return err
	}
	if err := r.End(); err != nil {
		return err
	}
	*e = out
	return nil
}

var messageKeys = append(digestFields[:], "user", "fields", "actions", "digest")

func digestMember(r *jsonenc.Reader, key []byte, m *adapters.Message) error {
	var err error
	switch string(key) {
	case "incident_id":
		if !r.Null() {
			m.IncidentID, err = r.Uint()
		}
	case "event_id":
		if !r.Null() {
			m.EventID, err = r.Uint()
		}
	case "kind":
		err = str(r, (*string)(&m.Kind))
	case "state":
		err = str(r, (*string)(&m.State))
	case "title":
		err = str(r, &m.Title)
	case "text":
		err = str(r, &m.Text)
	case "color":
		err = str(r, &m.Color)
	case "user", "fields", "actions", "digest":
		err = r.Skip()
	default:
		err = r.Unknown(key, messageKeys...)
	}
	return err
}

// str reads a string into *dst; null leaves it, as encoding/json does.
func str(r *jsonenc.Reader, dst *string) error {
	if r.Null() {
		return nil
	}
	v, err := r.String()
	if err == nil {
		*dst = v
	}
	return err
}

// digestChild is what a digest carries of a message it collapses: what a
// room needs to show it (IncidentID, EventID, Kind, State, Title, Text,
// Color), not its Fields, User or nested Digest.
func digestChild(m adapters.Message) adapters.Message {
	return adapters.Message{IncidentID: m.IncidentID, EventID: m.EventID, Kind: m.Kind, State: m.State, Title: m.Title, Text: m.Text, Color: m.Color}
}
