package jsonenc

import (
	"encoding/json"
	"testing"

	"github.com/sitrep/sitrep/jsonenc/jsontest"

	"github.com/stretchr/testify/assert"
)

// checkUnquoted checks AppendUnquoted against encoding/json on body, the
// bytes between the quotes of a JSON string; a body that is not valid JSON
// is none of AppendUnquoted's business.
func checkUnquoted(t *testing.T, body []byte) {
	t.Helper()
	var want string
	if json.Unmarshal(append(append([]byte{'"'}, body...), '"'), &want) != nil {
		return
	}
	assert.Equal(t, want, string(AppendUnquoted([]byte("x"), body))[1:], "%q", body)
}

func TestAppendUnquoted(t *testing.T) {
	for _, s := range jsontest.Tricky() {
		raw := AppendString(nil, s)
		checkUnquoted(t, raw[1:len(raw)-1])
		// The same string written raw, invalid UTF-8 and control characters unescaped.
		checkUnquoted(t, []byte(s))
	}
	for _, body := range []string{
		`\u00e9\ud83d\udd25\"\\\/\b\f\n\r\t`, `\ud83d`, `\ud83dx`, `\udd25\ud83d`, `\ud83d\u0041`, `\ud83d\ud83d\udd25`,
		`\u0000`, `é ☕`, "bad\xff\xfeutf8", "\xed\xa0\x80", `\uD83D\uDD25`,
	} {
		checkUnquoted(t, []byte(body))
	}
}

func TestIsEscapeU(t *testing.T) {
	for s, want := range map[string]bool{`\u00e9`: true, `\uABcd tail`: true, `\u12`: false, `\u12g4`: false, `\x0041`: false, `u0041`: false, ``: false} {
		assert.Equal(t, want, IsEscapeU([]byte(s)), "%q", s)
	}
}

func FuzzAppendUnquoted(f *testing.F) {
	for _, s := range jsontest.Tricky() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`\ud83d\udd25 \ud83d x\"`))
	f.Fuzz(checkUnquoted)
}
