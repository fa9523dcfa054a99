package jsonenc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sitrep/sitrep/jsonenc/jsontest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	require.NoError(t, err)
	got := AppendString(nil, s)
	assert.Equal(t, string(want), string(got), "%q", s)
	var back string
	require.NoError(t, json.Unmarshal(got, &back))
	var wantBack string
	require.NoError(t, json.Unmarshal(want, &wantBack))
	assert.Equal(t, wantBack, back)
}
func TestAppendString(t *testing.T) {
	for _, s := range jsontest.Tricky() {
		checkString(t, s)
	}
	for b := range 256 {
		checkString(t, string([]byte{'a', byte(b), 'z'}))
	}
}
func TestAppendStringMapNil(t *testing.T) {
	assert.Equal(t, "null", string(AppendStringMap(nil, nil)))
	many := map[string]string{}
	for i := range 40 {
		many[string(rune('a'+i%26))+string(rune('A'+i))] = "v"
	}
	want, _ := json.Marshal(many)
	assert.Equal(t, string(want), string(AppendStringMap(nil, many)))
}
func TestAppendTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC),
		time.Date(2026, 11, 23, 8, 0, 0, 120000000, time.FixedZone("x", -7*3600-30*60)),
		time.Now(),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for _, tm := range times {
		want, err := json.Marshal(tm)
		require.NoError(t, err)
		got, ok := AppendTime(nil, tm)
		require.True(t, ok)
		assert.Equal(t, string(want), string(got))
	}
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600)),
	} {
		_, err := json.Marshal(tm)
		require.Error(t, err)
		got, ok := AppendTime([]byte("x"), tm)
		assert.False(t, ok)
		assert.Equal(t, "x", string(got))
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range jsontest.Tricky() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}
