package jsonenc

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSlow is what a Reader returns for input it does not decode itself: not
// JSON, or JSON whose decoding by encoding/json it does not reproduce exactly
// (an escaped object key, a key that matches a struct field only
// case-insensitively, a number that is not a plain unsigned integer, null
// where the caller must decide, nesting deeper than it cares to follow). A
// caller then decodes the whole input with encoding/json instead.
var ErrSlow = errors.New("jsonenc: not in the fast form")

// maxDepth bounds how deeply a Reader follows nested objects and arrays.
const maxDepth = 1000

// Reader decodes the JSON this package's appenders write, without
// reflection, for the stores that read records back on a hot path. It is a
// cursor over one input: each method reads one value at the cursor (after any
// whitespace) and moves past it.
//
// What a Reader accepts is valid JSON, and what it returns for it is what
// encoding/json.Unmarshal would store in a variable of the matching type
// (invalid UTF-8 becoming U+FFFD, lone surrogates too); anything else is
// ErrSlow. A decoder built on it (see Object) therefore either agrees with
// encoding/json or gives up and leaves the input to it, provided it also
// rejects what encoding/json treats specially: a key repeated with a map value
// (encoding/json merges the two maps), and null for a field it has already
// set (encoding/json leaves a field unchanged on null).
//
// The zero Reader reads an empty input; use NewReader.
type Reader struct {
	b     []byte
	i     int
	depth int
}

// NewReader returns a Reader at the start of b. b must not change while the
// Reader or the keys it passes to Object callbacks are in use.
func NewReader(b []byte) Reader { return Reader{b: b} }

func (r *Reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *Reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// End checks that nothing but whitespace follows the cursor, as
// encoding/json.Unmarshal requires after the top-level value.
func (r *Reader) End() error {
	r.ws()
	if r.i != len(r.b) {
		return ErrSlow
	}
	return nil
}

// Null reads a null if one is at the cursor and reports whether it did.
// encoding/json leaves a string, number, bool, struct or time.Time unchanged
// on null, and sets a pointer, map or slice to nil; the methods reading those
// kinds return ErrSlow for null so that a caller decides.
func (r *Reader) Null() bool {
	if r.peek() == 'n' && r.literal("null") {
		return true
	}
	return false
}

func (r *Reader) literal(lit string) bool {
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return true
	}
	return false
}

// Object reads an object, calling member for each key with the cursor at its
// value; member must read that value (with Skip if nothing else). key is the
// key as written, valid as long as the input; an escaped key is ErrSlow.
// member's errors are returned as they are.
func (r *Reader) Object(member func(key []byte) error) error {
	if r.peek() != '{' {
		return ErrSlow
	}
	if r.depth++; r.depth > maxDepth {
		return ErrSlow
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if r.peek() != '"' {
			return ErrSlow
		}
		key, esc, err := r.rawString()
		if err != nil || esc {
			return ErrSlow
		}
		if r.peek() != ':' {
			return ErrSlow
		}
		r.i++
		if err := member(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return nil
		default:
			return ErrSlow
		}
	}
}

// Unknown skips the value of a key the caller's struct has no field for
// (encoding/json ignores those), unless encoding/json would match key to one
// of known, the caller's keys, case-insensitively: that is ErrSlow.
func (r *Reader) Unknown(key []byte, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(string(key), k) {
			return ErrSlow
		}
	}
	return r.Skip()
}

// rawString reads a string, the cursor at its opening quote, and returns its
// bytes between the quotes and whether it holds escapes. It checks the
// string is valid JSON (escapes well formed, no control characters) but not
// its UTF-8, which encoding/json does not require either.
func (r *Reader) rawString() (body []byte, esc bool, err error) {
	r.i++ // opening quote
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			body = r.b[start:r.i]
			r.i++
			return body, esc, nil
		case c == '\\':
			esc = true
			if r.i+1 >= len(r.b) {
				return nil, false, ErrSlow
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				if r.i+6 > len(r.b) {
					return nil, false, ErrSlow
				}
				for _, h := range r.b[r.i+2 : r.i+6] {
					if unhex(h) < 0 {
						return nil, false, ErrSlow
					}
				}
				r.i += 6
			default:
				return nil, false, ErrSlow
			}
		case c < 0x20:
			return nil, false, ErrSlow
		default:
			r.i++
		}
	}
	return nil, false, ErrSlow
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// String reads a string. null is ErrSlow (see Null).
func (r *Reader) String() (string, error) {
	if r.peek() != '"' {
		return "", ErrSlow
	}
	body, esc, err := r.rawString()
	if err != nil {
		return "", err
	}
	if !esc && utf8.Valid(body) {
		return string(body), nil
	}
	return string(AppendUnquoted(make([]byte, 0, len(body)+utf8.UTFMax), body)), nil
}

// AppendUnquoted appends the decoded body of a JSON string (the bytes between
// its quotes, already checked to be a valid JSON string body) to dst, as
// encoding/json decodes it: escapes resolved, a surrogate escape not part of a
// valid pair and each byte of invalid UTF-8 replaced by U+FFFD.
func AppendUnquoted(dst, s []byte) []byte {
	b := dst
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := u4(s[i:])
				i += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, u4(s[i:])); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					rr = utf8.RuneError
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			rr, size := utf8.DecodeRune(s[i:])
			b = utf8.AppendRune(b, rr)
			i += size
		}
	}
	return b
}

// IsEscapeU reports whether s starts with a valid \uXXXX escape.
func IsEscapeU(s []byte) bool { return u4(s) >= 0 }

// u4 decodes the \uXXXX at the start of s, or returns -1.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var v rune
	for _, c := range s[2:6] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		v = v<<4 | h
	}
	return v
}

// Uint reads an unsigned integer written without fraction or exponent (as
// strconv.AppendUint writes it); anything else, null included, is ErrSlow.
func (r *Reader) Uint() (uint64, error) {
	r.ws()
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == start || (r.b[start] == '0' && r.i-start > 1) {
		return 0, ErrSlow
	}
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case '.', 'e', 'E':
			return 0, ErrSlow
		}
	}
	v, err := strconv.ParseUint(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		return 0, ErrSlow
	}
	return v, nil
}

// Time reads a time as time.Time.UnmarshalJSON does (a quoted RFC 3339
// time). null, an escaped string and a time it refuses are ErrSlow.
func (r *Reader) Time() (time.Time, error) {
	var t time.Time
	if r.peek() != '"' {
		return t, ErrSlow
	}
	start := r.i
	_, esc, err := r.rawString()
	if err != nil || esc {
		return t, ErrSlow
	}
	if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
		return time.Time{}, ErrSlow
	}
	return t, nil
}

// StringMap reads an object of strings as encoding/json decodes it into a
// fresh map[string]string: null is a nil map, a null member the empty string,
// a repeated key its last value. Unlike Object it takes escaped keys.
func (r *Reader) StringMap() (map[string]string, error) {
	if r.Null() {
		return nil, nil
	}
	if r.peek() != '{' {
		return nil, ErrSlow
	}
	r.i++
	// Collect the members first to size the map: growing it costs more.
	type member struct{ k, v string }
	var buf [24]member
	members := buf[:0]
	if r.peek() == '}' {
		r.i++
		return map[string]string{}, nil
	}
	for {
		k, err := r.String()
		if err != nil {
			return nil, err
		}
		if r.peek() != ':' {
			return nil, ErrSlow
		}
		r.i++
		v := ""
		if !r.Null() {
			if v, err = r.String(); err != nil {
				return nil, err
			}
		}
		members = append(members, member{k, v})
		switch r.peek() {
		case ',':
			r.i++
			continue
		case '}':
			r.i++
		default:
			return nil, ErrSlow
		}
		m := make(map[string]string, len(members))
		for _, kv := range members {
			m[kv.k] = kv.v
		}
		return m, nil
	}
}

// StringSlice reads an array of strings as encoding/json decodes it into a
// fresh []string: null is a nil slice, [] an empty one, a null element the
// empty string.
func (r *Reader) StringSlice() ([]string, error) {
	if r.Null() {
		return nil, nil
	}
	if r.peek() != '[' {
		return nil, ErrSlow
	}
	r.i++
	s := []string{}
	if r.peek() == ']' {
		r.i++
		return s, nil
	}
	for {
		v := ""
		if !r.Null() {
			var err error
			if v, err = r.String(); err != nil {
				return nil, err
			}
		}
		s = append(s, v)
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return s, nil
		default:
			return nil, ErrSlow
		}
	}
}

// Skip passes over one value of any kind, checking it is valid JSON.
func (r *Reader) Skip() error {
	switch c := r.peek(); {
	case c == '"':
		_, _, err := r.rawString()
		return err
	case c == '{':
		return r.Object(func([]byte) error { return r.Skip() })
	case c == '[':
		if r.depth++; r.depth > maxDepth {
			return ErrSlow
		}
		r.i++
		if r.peek() == ']' {
			r.i++
			r.depth--
			return nil
		}
		for {
			if err := r.Skip(); err != nil {
				return err
			}
			switch r.peek() {
			case ',':
				r.i++
			case ']':
				r.i++
				r.depth--
				return nil
			default:
				return ErrSlow
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	case c == 't' && r.literal("true"), c == 'f' && r.literal("false"), c == 'n' && r.literal("null"):
		return nil
	}
	return ErrSlow
}

// number reads a number per the JSON grammar.
func (r *Reader) number() error {
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.digits() == 0:
		return ErrSlow
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return ErrSlow
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return ErrSlow
		}
	}
	return nil
}

func (r *Reader) digits() int {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i - start
}
