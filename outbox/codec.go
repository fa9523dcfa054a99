package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

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

// errSlow makes decodeForDigest fall back to encoding/json.
var errSlow = errors.New("not in the fast form")

// decodeForDigest decodes what a digest needs of a stored entry: its
// enqueue time and the members of its message digestChild keeps. Entries
// are stored by appendEntry, so it parses that form directly and skips the
// rest (fields, user) without building it; anything it does not expect
// (escapes in a key, an unusual number, a key differing only in case) is
// handed to encoding/json instead, so its result equals decoding in full and
// taking digestChild of the message.
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

func fastDigestEntry(raw []byte, e *Entry) error {
	s := scanner{b: raw}
	var out Entry
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "msg":
			return s.object(func(key []byte) error { return s.digestMember(key, &out.Msg) })
		case "enqueued":
			v, err := s.str()
			if err != nil {
				return err
			}
			return out.Enqueued.UnmarshalText([]byte(v))
		case "seq", "room", "attempts", "next_at", "last_error":
			return s.skip()
		}
		return s.unknown(key, "seq", "room", "msg", "enqueued", "attempts", "next_at", "last_error")
	})
	if err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return errSlow
	}
	*e = out
	return nil
}

func (s *scanner) digestMember(key []byte, m *adapters.Message) error {
	var err error
	switch string(key) {
	case "incident_id":
		m.IncidentID, err = s.uint()
	case "event_id":
		m.EventID, err = s.uint()
	case "kind":
		m.Kind, err = s.str()
	case "state":
		m.State, err = s.str()
	case "title":
		m.Title, err = s.str()
	case "text":
		m.Text, err = s.str()
	case "color":
		m.Color, err = s.str()
	case "user", "fields", "digest":
		err = s.skip()
	default:
		err = s.unknown(key, append(digestFields[:], "user", "fields", "digest")...)
	}
	return err
}

// scanner reads the JSON appendEntry writes. It checks structure, not every
// detail of the grammar: numbers and literals it skips are not validated.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// unknown skips the value of a key no case handled, unless encoding/json
// would match it to a known one (it matches keys case-insensitively).
func (s *scanner) unknown(key []byte, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(string(key), k) {
			return errSlow
		}
	}
	return s.skip()
}

// object reads an object, calling member for each key with the scanner at its value.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return errSlow
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return errSlow
		}
		key, esc, err := s.rawString()
		if err != nil || esc {
			return errSlow
		}
		if s.peek() != ':' {
			return errSlow
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSlow
		}
	}
}

// rawString reads a string and returns its bytes between the quotes, and
// whether it holds escapes.
func (s *scanner) rawString() (body []byte, esc bool, err error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			body = s.b[start:s.i]
			s.i++
			return body, esc, nil
		case c == '\\':
			esc = true
			s.i += 2
		case c < 0x20:
			return nil, false, errSlow
		default:
			s.i++
		}
	}
	return nil, false, errSlow
}

func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
			s.i += 4
			return "", nil
		}
		return "", errSlow
	}
	start := s.i
	body, esc, err := s.rawString()
	if err != nil {
		return "", err
	}
	if !esc && utf8.Valid(body) {
		return string(body), nil
	}
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return "", fmt.Errorf("decode string: %w", err)
	}
	return v, nil
}

func (s *scanner) uint() (uint64, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start || (s.b[start] == '0' && s.i-start > 1) {
		return 0, errSlow
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, errSlow
		}
	}
	v, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return 0, errSlow
	}
	return v, nil
}

// skip passes over one value of any kind.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return errSlow
			}
		}
	case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return errSlow
				}
				return nil
			}
			s.i++
		}
		return errSlow
	}
	return errSlow
}

// digestChild is what a digest carries of a message it collapses: what a
// room needs to show it (IncidentID, EventID, Kind, State, Title, Text,
// Color), not its Fields, User or nested Digest.
func digestChild(m adapters.Message) adapters.Message {
	return adapters.Message{IncidentID: m.IncidentID, EventID: m.EventID, Kind: m.Kind, State: m.State, Title: m.Title, Text: m.Text, Color: m.Color}
}
