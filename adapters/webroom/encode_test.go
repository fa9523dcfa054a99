package webroom

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

func TestEncodedEntryMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC)
	full := adapters.Message{IncidentID: 42, EventID: 7, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "Disk <full> \u2028", Text: "a\n\"b\"\xff", Color: "red", User: "ann",
		Fields: map[string]string{"z": "1", "a": "2", "host": "db-1"}, Actions: []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}}
	for _, e := range []entry{
		{},
		{Time: now, Message: adapters.Message{Text: "x"}},
		{Time: now.In(time.FixedZone("x", 3600)), Rev: 3, Message: full},
		{Time: now, Message: adapters.Message{Kind: adapters.KindDigest, Text: "d", Digest: []adapters.Message{full, {Text: "y", EventID: 9}}}},
		{Time: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), Message: full},
	} {
		x := encodeEntry(e)
		want, wantErr := json.Marshal(e)
		got, err := x.stored()
		if wantErr != nil {
			assert.Error(t, err)
		} else {
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		}
		for _, typ := range []string{FrameMessage, FrameUpdate} {
			want, err := json.Marshal(entryFrame(typ, "ops-1", 17, e))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(x.frame(typ, "ops-1", 17)))
		}
	}
}
