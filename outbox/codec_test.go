package outbox

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/render"
)

func codecEntries() []Entry {
	now := time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC)
	full := adapters.Message{IncidentID: 42, EventID: 7, Kind: "triggered", State: "triggered", Title: "Disk <full> \u2028", Text: "a\n\"b\"\xff", Color: "red", User: "ann",
		Fields: map[string]string{"z": "1", "a": "{\"x\":[1,2]}", "host_name": "db-1", "Kind": "no"}}
	return []Entry{
		{},
		{Seq: 1, Room: "ops", Msg: msg(1), Enqueued: now},
		{Seq: 1 << 60, Room: "ops \xfe", Msg: full, Enqueued: now.In(time.FixedZone("x", 5*3600+1800)), Attempts: 3, NextAt: now.Add(time.Second), LastError: "503 <bad>"},
		{Seq: 2, Room: "r", Msg: adapters.Message{Kind: adapters.KindDigest, Text: "d", Digest: []adapters.Message{full, msg(3)}}, Enqueued: now},
		{Seq: 4, Room: "statuspage:public/api", NoDigest: true, Msg: adapters.Message{Kind: "note", Text: "page", Payload: []byte(`{"id":"sitrep-1-api","state":"investigating"}`)}, Enqueued: now},
		{Seq: 3, Msg: adapters.Message{Text: "far future"}, Enqueued: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func TestAppendEntryMatchesEncodingJSON(t *testing.T) {
	for _, e := range codecEntries() {
		want, err := json.Marshal(e)
		if err != nil {
			_, err2 := appendEntry(nil, &e)
			assert.Error(t, err2)
			continue
		}
		got, err := appendEntry([]byte("prefix"), &e)
		require.NoError(t, err)
		assert.Equal(t, "prefix"+string(want), string(got))
	}
}

// checkDigestDecode checks decodeEntry and decodeForDigest against
// encoding/json on raw.
func checkDigestDecode(t *testing.T, raw []byte) {
	t.Helper()
	var full Entry
	fullErr := json.Unmarshal(raw, &full)
	var entry Entry
	entryErr := decodeEntry(raw, &entry)
	var got Entry
	err := decodeForDigest(raw, &got)
	if fullErr != nil {
		assert.Error(t, entryErr, "%q", raw)
		// decodeForDigest does not build, nor check the types of, the
		// members it skips (seq, fields, ...); what it decodes must agree.
		return
	}
	require.NoError(t, entryErr, "%q", raw)
	assert.Equal(t, full, entry, "%q", raw)
	require.NoError(t, err, "%s", raw)
	assert.True(t, full.Enqueued.Equal(got.Enqueued), "%s", raw)
	assert.Equal(t, render.DigestChild(full.Msg), got.Msg, "%s", raw)
}

func TestDecodeForDigest(t *testing.T) {
	for _, e := range codecEntries() {
		raw, err := json.Marshal(e)
		if err != nil {
			continue
		}
		checkDigestDecode(t, raw)
	}
	for _, raw := range []string{
		`{}`, ` { "msg" : { "text" : "x" , "kind":"k" } , "enqueued":"2026-11-23T08:00:00Z" } `,
		`{"msg":{"Kind":"upper","text":"t"}}`,
		`{"msg":{"incident_id":1e3,"text":"t"}}`,
		`{"msg":{"title":"esc \u00e9 \ud83d\udd25 \"q\"","text":null,"fields":{"a":[1,{"b":null}],"c":true}}}`,
		`{"MSG":{"text":"t"}}`,
		`{"msg":{"text":"t"},"extra":[1,2,{"x":"y"}],"attempts":2}`,
		`{"msg":{"text":"t","incident_id":007}}`,
		`{"msg":{"text":"a","kind":"k"},"msg":{"kind":"j"}}`, `{"msg":{"text":"a"},"msg":null}`, `{"msg":{"Text":"a","text":null}}`,
		`{"msg":{"text":"t","fields":1}}`, `{"msg":{"incidentid":1,"incident-id":2,"text":"t"}}`, `{"seq":"x","msg":{"text":"t"}}`,
		`{"enqueued":"2026\u002d11-23T08:00:00Z"}`, `{"enqueued":null}`, `{"enqueued":"2026-11-23T08:00:00+24:00"}`,
	} {
		checkDigestDecode(t, []byte(raw))
	}
}

func FuzzDecodeForDigest(f *testing.F) {
	for _, e := range codecEntries() {
		if raw, err := json.Marshal(e); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"msg":{"Kind":"upper","text":"t","fields":{"a":[1,{"b":null}]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDigestDecode(t, raw)
	})
}

func FuzzAppendEntry(f *testing.F) {
	f.Add("ops", "title", "text", "key", "val", uint64(1), int64(0))
	f.Add("o\xffps", "<t\u2028>", "a\x00b", "", "\xed\xa0\x80", uint64(1<<63), int64(1e18))
	f.Fuzz(func(t *testing.T, room, title, text, key, val string, id uint64, nanos int64) {
		e := Entry{Seq: id, Room: room, Enqueued: time.Unix(0, nanos).UTC(), Attempts: int(id % 7), LastError: val,
			Msg: adapters.Message{IncidentID: id, Title: title, Text: text, Fields: map[string]string{key: val}}}
		want, err := json.Marshal(e)
		require.NoError(t, err)
		got, err := appendEntry(nil, &e)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		var back, wantBack Entry
		require.NoError(t, json.Unmarshal(got, &back))
		require.NoError(t, json.Unmarshal(want, &wantBack))
		assert.Equal(t, wantBack, back)
		checkDigestDecode(t, got)
	})
}
