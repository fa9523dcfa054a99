package outbox

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/jsonenc"
	"github.com/sitrep/sitrep/timeline"
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

// decodeEntry decodes a stored entry in full, as json.Unmarshal would.
func decodeEntry(raw []byte, e *Entry) error {
	return jsonenc.Unmarshal(raw, e)
}

// digestEntry is what decodeForDigest reads of a stored entry: its message's
// members render.DigestChild keeps, and its enqueue time. Everything else (seq,
// room, the message's fields, user and digest) is skipped unbuilt.
type digestEntry struct {
	Op       adapters.Op `json:"op"`
	NoDigest bool        `json:"no_digest"`
	Msg      struct {
		IncidentID uint64         `json:"incident_id"`
		EventID    uint64         `json:"event_id"`
		Kind       timeline.Kind  `json:"kind"`
		State      timeline.State `json:"state"`
		Title      string         `json:"title"`
		Text       string         `json:"text"`
		Color      string         `json:"color"`
	} `json:"msg"`
	Enqueued time.Time `json:"enqueued"`
}

// decodeForDigest decodes what a digest needs of a stored entry: its
// enqueue time and the members of its message render.DigestChild keeps, equal to
// decoding it in full and taking render.DigestChild of the message.
func decodeForDigest(raw []byte, e *Entry) error {
	var d digestEntry
	if err := jsonenc.Unmarshal(raw, &d); err != nil {
		return err
	}
	m := &d.Msg
	*e = Entry{Op: d.Op, NoDigest: d.NoDigest, Enqueued: d.Enqueued, Msg: adapters.Message{IncidentID: m.IncidentID, EventID: m.EventID,
		Kind: m.Kind, State: m.State, Title: m.Title, Text: m.Text, Color: m.Color}}
	return nil
}
