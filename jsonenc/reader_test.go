package jsonenc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sitrep/sitrep/jsonenc/jsontest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkReaderString checks Reader.String against encoding/json on raw, the
// encoding of one value: where the reader succeeds, encoding/json must too,
// with the same string.
func checkReaderString(t *testing.T, raw []byte) {
	t.Helper()
	r := NewReader(raw)
	got, err := r.String()
	if err == nil {
		err = r.End()
	}
	if err != nil {
		require.ErrorIs(t, err, ErrSlow)
		return
	}
	var want string
	require.NoError(t, json.Unmarshal(raw, &want), "%q", raw)
	assert.Equal(t, want, got, "%q", raw)
}

func TestReaderString(t *testing.T) {
	for _, s := range jsontest.Tricky() {
		raw := AppendString(nil, s)
		checkReaderString(t, raw)
		r := NewReader(raw)
		_, err := r.String()
		require.NoError(t, err, "the reader takes what AppendString writes: %s", raw)
		// The same string written raw, invalid UTF-8 and control characters unescaped.
		checkReaderString(t, append(append([]byte{'"'}, s...), '"'))
	}
	for _, raw := range []string{
		`"\u00e9\ud83d\udd25\"\\\/\b\f\n\r\t"`, `"\ud83d"`, `"\ud83dx"`, `"\udd25\ud83d"`, `"\ud83d\u0041"`,
		`"\u0000"`, `"\x"`, `"\u12"`, `"\u12g4"`, `"\'"`, `"abc`, `"a` + "\x01" + `"`, ` "a" `, `"a" x`, `null`, `1`,
	} {
		checkReaderString(t, []byte(raw))
	}
}

func TestReaderValues(t *testing.T) {
	r := NewReader([]byte(` {"a" : 12, "b":[ "x" ,null], "c":{"k":"v","e\u0301":null,"k":"w"}, "d":null, "e":{}, "f":[],
		"t":"2026-11-23T08:00:00.5+01:30", "n":null, "z":[1,-0.5e+3,true,false,null,{"q":[]}]} `))
	var got []string
	err := r.Object(func(key []byte) error {
		got = append(got, string(key))
		switch string(key) {
		case "a":
			v, err := r.Uint()
			assert.Equal(t, uint64(12), v)
			return err
		case "b":
			v, err := r.StringSlice()
			assert.Equal(t, []string{"x", ""}, v)
			return err
		case "c":
			v, err := r.StringMap()
			assert.Equal(t, map[string]string{"k": "w", "e\u0301": ""}, v)
			return err
		case "d":
			v, err := r.StringMap()
			assert.Nil(t, v)
			return err
		case "e":
			v, err := r.StringMap()
			assert.Equal(t, map[string]string{}, v)
			return err
		case "f":
			v, err := r.StringSlice()
			assert.Equal(t, []string{}, v)
			return err
		case "t":
			v, err := r.Time()
			assert.True(t, v.Equal(time.Date(2026, 11, 23, 6, 30, 0, 5e8, time.UTC)), "%v", v)
			return err
		case "n":
			assert.True(t, r.Null())
			return nil
		}
		return r.Unknown(key, "A", "B")
	})
	require.NoError(t, err)
	require.NoError(t, r.End())
	assert.Equal(t, []string{"a", "b", "c", "d", "e", "f", "t", "n", "z"}, got)

	for _, raw := range []string{`-1`, `1.0`, `1e3`, `01`, `18446744073709551616`, `null`, `"1"`} {
		r := NewReader([]byte(raw))
		_, err := r.Uint()
		if err == nil {
			err = r.End()
		}
		assert.ErrorIs(t, err, ErrSlow, raw)
	}
	for _, raw := range []string{`null`, `"2026-11-23 08:00:00Z"`, `"2026\u002d11-23T08:00:00Z"`, `1`, `"10000-01-01T00:00:00Z"`} {
		r := NewReader([]byte(raw))
		_, err := r.Time()
		assert.ErrorIs(t, err, ErrSlow, raw)
	}
	r = NewReader([]byte(`{"Key":1}`))
	assert.ErrorIs(t, r.Object(func(key []byte) error { return r.Unknown(key, "key") }), ErrSlow, "a key encoding/json would fold onto a known one")
	r = NewReader([]byte(`{"k\u0065y":1}`))
	assert.ErrorIs(t, r.Object(func(key []byte) error { return r.Skip() }), ErrSlow, "an escaped key")
}

// checkSkip checks that what Skip accepts is valid JSON.
func checkSkip(t *testing.T, raw []byte) {
	t.Helper()
	r := NewReader(raw)
	if r.Skip() == nil && r.End() == nil {
		assert.True(t, json.Valid(raw), "%q", raw)
	}
}

func TestReaderSkip(t *testing.T) {
	valid := []string{`0`, `-0`, `-1.5e-3`, `1E+2`, `true`, `false`, `null`, `""`, `"\u00e9"`, `[]`, `{}`, `[1,[2,{"a":[]}]]`, ` {"a" : [ true , null ] } `}
	for _, raw := range valid {
		r := NewReader([]byte(raw))
		require.NoError(t, r.Skip(), raw)
		require.NoError(t, r.End(), raw)
	}
	for _, raw := range []string{`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `tru`, `nul`, `truex`, `[1,]`, `{"a":1,}`, `{"a"}`, `[1 2]`, `"\q"`, `{,}`, ``, `[`, `1 2`} {
		checkSkip(t, []byte(raw))
		r := NewReader([]byte(raw))
		err := r.Skip()
		if err == nil {
			err = r.End()
		}
		assert.ErrorIs(t, err, ErrSlow, raw)
	}
	deep := make([]byte, 0, 2*maxDepth+10)
	for range maxDepth + 1 {
		deep = append(deep, '[')
	}
	for range maxDepth + 1 {
		deep = append(deep, ']')
	}
	r := NewReader(deep)
	assert.ErrorIs(t, r.Skip(), ErrSlow)
}

func FuzzReaderString(f *testing.F) {
	for _, s := range jsontest.Tricky() {
		f.Add(AppendString(nil, s))
	}
	f.Add([]byte(`"\ud83d\udd25\ud83d\u0041\/"`))
	f.Fuzz(checkReaderString)
}

func FuzzReaderSkip(f *testing.F) {
	f.Add([]byte(`{"a":[1,-2.5e3,true,null,"x\u00e9"],"b":{}}`))
	f.Add([]byte(`[01]`))
	f.Fuzz(checkSkip)
}
