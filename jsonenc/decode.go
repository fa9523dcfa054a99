package jsonenc

import (
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// decodeOptions make github.com/go-json-experiment/json decode a record as
// encoding/json.Unmarshal does. It is set once and never changed (its
// unmarshalers keep a concurrency-safe cache of their own, as a compiled
// regexp does).
var decodeOptions = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),       // a repeated member is decoded again over the first
	jsontext.AllowInvalidUTF8(true),          // invalid UTF-8 and lone surrogates become U+FFFD
	json.MatchCaseInsensitiveNames(true),     // "ID" is the member "id"...
	jsonv1.MatchCaseSensitiveDelimiter(true), // ...but "entityid" is not "entity_id"
	jsonv1.MergeWithLegacySemantics(true),    // null leaves a string, number, time or struct as it is
	// A time is what time.Time.UnmarshalJSON reads (a string holding an
	// escape is not one), not go-json-experiment's own unquoting reading.
	json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, t *time.Time) error {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return t.UnmarshalJSON(v)
	})),
)

// Unmarshal decodes raw, one stored record, into v (a non-nil pointer) with
// github.com/go-json-experiment/json, and stores in v what
// encoding/json.Unmarshal would, or fails where it would. The struct tags
// are the only description of a record's members the decoding needs.
func Unmarshal(raw []byte, v any) error {
	return json.Unmarshal(raw, v, decodeOptions)
}
