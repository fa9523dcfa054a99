package jsonenc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type decodeRecord struct {
	ID     uint64            `json:"id"`
	Name   string            `json:"entity_id"`
	Fields map[string]string `json:"fields,omitempty"`
	Rooms  []string          `json:"rooms,omitempty"`
	At     time.Time         `json:"at"`
	Acked  *time.Time        `json:"acked,omitempty"`
	Inner  struct {
		A string `json:"a"`
		B string `json:"b"`
	} `json:"inner"`
}

// checkUnmarshal checks Unmarshal against encoding/json on raw.
func checkUnmarshal(t *testing.T, raw []byte) {
	t.Helper()
	var want, got decodeRecord
	wantErr := json.Unmarshal(raw, &want)
	err := Unmarshal(raw, &got)
	if wantErr != nil {
		assert.Error(t, err, "%q", raw)
		return
	}
	require.NoError(t, err, "%q", raw)
	assert.Equal(t, want, got, "%q", raw)
}

func TestUnmarshalMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`{"id":1,"entity_id":"e","fields":{"a":"1"},"rooms":["r"],"at":"2026-11-23T08:00:00.5+01:30","acked":"2026-11-23T08:00:00Z","inner":{"a":"x"}}`,
		`{"ID":1,"Entity_ID":"e","ENTITY_ID":"f"}`, `{"entityid":"e"}`, `{"entity-id":"e"}`, `{"ſd":1}`, `{"İd":1}`,
		`{"entity_id":"a","entity_id":null}`, `{"id":1,"id":null}`, `{"at":"2026-11-23T08:00:00Z","at":null}`,
		`{"inner":{"a":"x"},"inner":{"b":"y"}}`, `{"inner":{"a":"x"},"inner":null}`,
		`{"fields":{"a":"1"},"fields":{"b":"2"}}`, `{"fields":{"a":"1"},"fields":null}`, `{"fields":{"a":null}}`,
		`{"rooms":["a","b"],"rooms":["c"]}`, `{"rooms":["a","b"],"rooms":[null]}`, `{"rooms":["a"],"rooms":null}`, `{"rooms":["a",null]}`,
		`{"acked":"2026-11-23T08:00:00Z","acked":null}`, `{"acked":null}`,
		`{"entity_id":"a` + "\xff" + `b"}`, `{"entity_id":"\ud83d x"}`, `{"entity_id":"\ud83d\udd25"}`,
		`{"at":"2026\u002d11-23T08:00:00Z"}`, `{"at":"2026-11-23T8:00:00Z"}`, `{"at":"2026-11-23T08:00:00,5Z"}`,
		`{"at":"2026-11-23T08:00:00+24:00"}`, `{"at":1}`, `{"at":""}`,
		`{"id":1e3}`, `{"id":-1}`, `{"id":"1"}`, `{"id":18446744073709551616}`,
		`{"extra":[1,{"a":null}],"id":2}`, `{"id":1,}`, `{"id":1}x`, `null`, `[]`, ``,
	} {
		checkUnmarshal(t, []byte(raw))
	}
}
