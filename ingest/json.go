package ingest

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/sitrep/sitrep/jsonenc"
)

// maxDepth bounds the nesting of objects and arrays in a body, as encoding/json
// does, so a hostile body cannot run the decoder's stack deep.
const maxDepth = 10000

// SyntaxError is a body that is not the JSON the endpoint takes.
type SyntaxError struct {
	Offset int64  // byte offset in the body where the problem was found
	Msg    string // what was wrong there
}

func (e *SyntaxError) Error() string {
	return "invalid JSON: " + e.Msg + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// valueKind is the JSON type of a value the scanner read.
type valueKind uint8

const (
	kindNull valueKind = iota
	kindString
	kindNumber
	kindBool
	kindObject
	kindArray
)

// scanner is a single forward pass over one JSON body. It validates as it goes
// (the same grammar encoding/json accepts) and hands values out as byte slices
// that alias the body or its scratch buffers, so the decoders copy only the
// strings they keep.
type scanner struct {
	data []byte
	pos  int
	str  []byte // scratch for strings with escapes or invalid UTF-8
	raw  []byte // scratch for compacted objects and arrays
}

func (s *scanner) errorAt(pos int, msg string) error {
	return &SyntaxError{Offset: int64(pos), Msg: msg}
}

// unexpected reports the byte at s.pos (or the end of input) where want was expected.
func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.errorAt(len(s.data), "unexpected end of input, expected "+want)
	}
	return s.errorAt(s.pos, fmt.Sprintf("invalid character %s, expected %s", quoteByte(s.data[s.pos]), want))
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// at reports whether the next non-space byte is c, leaving s.pos on it.
func (s *scanner) at(c byte) bool {
	s.skipSpace()
	return s.pos < len(s.data) && s.data[s.pos] == c
}

// beginBody expects the body to open a JSON object and reports whether it has members.
func (s *scanner) beginBody() (bool, error) {
	if s.at('{') {
		return s.beginObject()
	}
	if s.pos >= len(s.data) {
		return false, s.errorAt(s.pos, "empty body, expected one JSON object")
	}
	return false, s.unexpected("'{': the body must be one JSON object")
}

// endBody checks nothing but white space follows the body's object.
func (s *scanner) endBody() error {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.errorAt(s.pos, "unexpected data after the JSON object")
	}
	return nil
}

// beginObject consumes '{' (s.pos must be on it) and reports whether members follow.
func (s *scanner) beginObject() (bool, error) {
	s.pos++
	if s.at('}') {
		s.pos++
		return false, nil
	}
	return true, nil
}

// key reads a member's name and its ':' and leaves s.pos on the value.
// The slice is valid until the next string is read.
func (s *scanner) key() ([]byte, error) {
	if !s.at('"') {
		return nil, s.unexpected("'\"' to begin an object key")
	}
	k, err := s.readString()
	if err != nil {
		return nil, err
	}
	if !s.at(':') {
		return nil, s.unexpected("':' after an object key")
	}
	s.pos++
	s.skipSpace()
	return k, nil
}

// nextMember consumes the ',' or '}' after a member and reports whether another follows.
func (s *scanner) nextMember() (bool, error) {
	s.skipSpace()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			return true, nil
		case '}':
			s.pos++
			return false, nil
		}
	}
	return false, s.unexpected("',' or '}' after an object member")
}

// beginArray consumes '[' (s.pos must be on it) and reports whether elements follow.
func (s *scanner) beginArray() (bool, error) {
	s.pos++
	if s.at(']') {
		s.pos++
		return false, nil
	}
	return true, nil
}

// nextElement consumes the ',' or ']' after an element and reports whether another follows.
func (s *scanner) nextElement() (bool, error) {
	s.skipSpace()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
			return true, nil
		case ']':
			s.pos++
			return false, nil
		}
	}
	return false, s.unexpected("',' or ']' after an array element")
}

// value reads the value at s.pos and returns its kind and its text: a string's
// unescaped contents, a number or literal as written, an object or array as
// compact JSON. depth is the nesting level of the value. The slice is valid
// until the next value or string is read.
func (s *scanner) value(depth int) (valueKind, []byte, error) {
	if s.pos >= len(s.data) {
		return kindNull, nil, s.unexpected("a value")
	}
	switch c := s.data[s.pos]; c {
	case '"':
		v, err := s.readString()
		return kindString, v, err
	case '{', '[':
		raw, err := s.compact(s.raw[:0], depth)
		s.raw = raw
		if c == '{' {
			return kindObject, raw, err
		}
		return kindArray, raw, err
	case 't':
		v, err := s.literal("true")
		return kindBool, v, err
	case 'f':
		v, err := s.literal("false")
		return kindBool, v, err
	case 'n':
		_, err := s.literal("null")
		return kindNull, nil, err
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			v, err := s.number()
			return kindNumber, v, err
		}
		return kindNull, nil, s.unexpected("a value")
	}
}

// skip reads past the value at s.pos, checking it is valid JSON.
func (s *scanner) skip(depth int) error {
	_, _, err := s.value(depth)
	return err
}

func (s *scanner) literal(lit string) ([]byte, error) {
	end := s.pos + len(lit)
	if end > len(s.data) || string(s.data[s.pos:end]) != lit {
		for i := 0; i < len(lit); i++ {
			if s.pos+i >= len(s.data) || s.data[s.pos+i] != lit[i] {
				s.pos += i
				return nil, s.unexpected(fmt.Sprintf("%q", lit))
			}
		}
	}
	v := s.data[s.pos:end]
	s.pos = end
	return v, nil
}

// number reads a number as JSON writes it and returns its text unchanged.
func (s *scanner) number() ([]byte, error) {
	d, start, i := s.data, s.pos, s.pos
	digits := func() bool {
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return i > j
	}
	fail := func() ([]byte, error) {
		s.pos = i
		return nil, s.unexpected("a digit in a number")
	}
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if !digits() {
		return fail()
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return fail()
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return fail()
		}
	}
	s.pos = i
	return d[start:i], nil
}

// readString reads the string at s.pos (on its opening quote) and returns its
// unescaped contents. Like encoding/json, it turns invalid UTF-8 and unpaired
// surrogates into U+FFFD. The common case, no escapes and valid UTF-8, returns a
// slice of the body without copying.
func (s *scanner) readString() ([]byte, error) {
	start := s.pos + 1
	ascii := true
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			if ascii || utf8.Valid(s.data[start:i]) {
				s.pos = i + 1
				return s.data[start:i], nil
			}
			return s.readStringSlow(start)
		case c == '\\':
			return s.readStringSlow(start)
		case c < 0x20:
			return nil, s.errorAt(i, "control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, s.errorAt(len(s.data), "unexpected end of input in string")
}

func (s *scanner) readStringSlow(start int) ([]byte, error) {
	d := s.data
	for i := start; i < len(d); {
		switch c := d[i]; {
		case c == '"':
			s.str = jsonenc.AppendUnquoted(s.str[:0], d[start:i])
			s.pos = i + 1
			return s.str, nil
		case c == '\\':
			if i+1 >= len(d) {
				return nil, s.errorAt(len(d), "unexpected end of input in string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if !jsonenc.IsEscapeU(d[i:]) {
					return nil, s.errorAt(i, `invalid \u escape in string`)
				}
				i += 6
			default:
				return nil, s.errorAt(i, "invalid escape in string")
			}
		case c < 0x20:
			return nil, s.errorAt(i, "control character in string")
		default:
			i++
		}
	}
	return nil, s.errorAt(len(d), "unexpected end of input in string")
}

// compact appends the value at s.pos to out without insignificant white space,
// keeping everything else byte for byte, as json.Compact does.
func (s *scanner) compact(out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return out, s.errorAt(s.pos, "nested too deeply")
	}
	if s.pos >= len(s.data) {
		return out, s.unexpected("a value")
	}
	switch s.data[s.pos] {
	case '{':
		out = append(out, '{')
		more, _ := s.beginObject()
		for more {
			if !s.at('"') {
				return out, s.unexpected("'\"' to begin an object key")
			}
			start := s.pos
			if _, err := s.readString(); err != nil {
				return out, err
			}
			out = append(out, s.data[start:s.pos]...)
			if !s.at(':') {
				return out, s.unexpected("':' after an object key")
			}
			s.pos++
			s.skipSpace()
			out = append(out, ':')
			var err error
			if out, err = s.compact(out, depth+1); err != nil {
				return out, err
			}
			if more, err = s.nextMember(); err != nil {
				return out, err
			}
			if more {
				out = append(out, ',')
				s.skipSpace()
			}
		}
		return append(out, '}'), nil
	case '[':
		out = append(out, '[')
		more, _ := s.beginArray()
		for more {
			var err error
			if out, err = s.compact(out, depth+1); err != nil {
				return out, err
			}
			if more, err = s.nextElement(); err != nil {
				return out, err
			}
			if more {
				out = append(out, ',')
			}
		}
		return append(out, ']'), nil
	case '"':
		start := s.pos
		if _, err := s.readString(); err != nil {
			return out, err
		}
		return append(out, s.data[start:s.pos]...), nil
	default:
		_, v, err := s.value(depth)
		if err != nil {
			return out, err
		}
		if v == nil {
			return append(out, "null"...), nil
		}
		return append(out, v...), nil
	}
}
