package hipchattest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
)

func send(t *testing.T, s *hipchattest.Server, method, path, ctype, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, resp.Header, out
}

func errField(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func TestChecks(t *testing.T) {
	const j = "application/json"
	ok := `{"message":"hi"}`
	tests := []struct {
		name, method, path, ctype, auth, body string
		code                                  int
		field                                 string
	}{
		{"ok", "POST", "/v2/room/1/notification", j, "t1", ok, 204, ""},
		{"ok with charset and query token", "POST", "/v2/room/1/notification?auth_token=t1", j + "; charset=utf-8", "", ok, 204, ""},
		{"room by escaped name", "POST", "/v2/room/my%20room/notification", j, "t3", ok, 204, ""},
		{"GET", "GET", "/v2/room/1/notification", j, "t1", ok, 405, ""},
		{"wrong path", "POST", "/v2/room/1/message", j, "t1", ok, 404, ""},
		{"no token", "POST", "/v2/room/1/notification", j, "", ok, 401, ""},
		{"other room's token", "POST", "/v2/room/1/notification", j, "t2", ok, 401, ""},
		{"unknown token", "POST", "/v2/room/1/notification", j, "zz", ok, 401, ""},
		{"unknown room", "POST", "/v2/room/9/notification", j, "t1", ok, 404, ""},
		{"form body", "POST", "/v2/room/1/notification", "application/x-www-form-urlencoded", "t1", ok, 400, ""},
		{"not json", "POST", "/v2/room/1/notification", j, "t1", `hi`, 400, "body"},
		{"no message", "POST", "/v2/room/1/notification", j, "t1", `{"color":"red"}`, 400, "message"},
		{"empty message", "POST", "/v2/room/1/notification", j, "t1", `{"message":""}`, 400, "message"},
		{"message too long", "POST", "/v2/room/1/notification", j, "t1", `{"message":"` + strings.Repeat("é", 10001) + `"}`, 400, "message"},
		{"message at the limit", "POST", "/v2/room/1/notification", j, "t1", `{"message":"` + strings.Repeat("é", 10000) + `"}`, 204, ""},
		{"bad format", "POST", "/v2/room/1/notification", j, "t1", `{"message":"m","message_format":"markdown"}`, 400, "message_format"},
		{"bad color", "POST", "/v2/room/1/notification", j, "t1", `{"message":"m","color":"orange"}`, 400, "color"},
		{"notify not bool", "POST", "/v2/room/1/notification", j, "t1", `{"message":"m","notify":"yes"}`, 400, "notify"},
		{"from not string", "POST", "/v2/room/1/notification", j, "t1", `{"message":"m","from":1}`, 400, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := hipchattest.New(t)
			s.AddRoom("1", "t1")
			s.AddRoom("2", "t2")
			s.AddRoom("my room", "t3")
			code, _, out := send(t, s, tt.method, tt.path, tt.ctype, tt.auth, tt.body)
			assert.Equal(t, tt.code, code, "%v", out)
			if code != 204 {
				require.NotNil(t, out)
				e, _ := out["error"].(map[string]any)
				assert.NotEmpty(t, e["message"])
				assert.EqualValues(t, code, e["code"])
				assert.Empty(t, s.Messages("1"))
			}
			assert.Equal(t, tt.field, errField(out))
		})
	}
}

func TestRecordsDefaults(t *testing.T) {
	s := hipchattest.New(t)
	s.AddRoom("1", "t1")
	code, _, _ := send(t, s, "POST", "/v2/room/1/notification", "application/json", "t1", `{"message":"a"}`)
	require.Equal(t, 204, code)
	code, _, _ = send(t, s, "POST", "/v2/room/1/notification", "application/json", "t1", `{"message":"b","color":"red","message_format":"text","notify":true,"from":"me"}`)
	require.Equal(t, 204, code)
	got := s.Messages("1")
	require.Len(t, got, 2)
	assert.Equal(t, hipchattest.Notification{Message: "a", Color: "yellow", Format: "html", Token: "t1", At: got[0].At}, got[0])
	assert.Equal(t, hipchattest.Notification{Message: "b", Color: "red", Format: "text", Notify: true, From: "me", Token: "t1", At: got[1].At}, got[1])
	assert.WithinDuration(t, time.Now(), got[1].At, time.Minute)
}

func TestLimitAndFailNext(t *testing.T) {
	s := hipchattest.New(t)
	s.AddRoom("1", "t1")
	s.AddRoom("2", "t2")
	s.SetLimit(2, 10*time.Second)
	post := func(room, tok string) (int, http.Header) {
		code, h, _ := send(t, s, "POST", "/v2/room/"+room+"/notification", "application/json", tok, `{"message":"m"}`)
		return code, h
	}
	c, h := post("1", "t1")
	assert.Equal(t, 204, c)
	assert.Equal(t, "1", h.Get("X-Ratelimit-Remaining"))
	c, _ = post("1", "t1")
	assert.Equal(t, 204, c)
	c, h = post("1", "t1")
	assert.Equal(t, 429, c)
	assert.Equal(t, "10", h.Get("Retry-After"))
	assert.NotEmpty(t, h.Get("X-Ratelimit-Reset"))
	c, _ = post("2", "t2")
	assert.Equal(t, 204, c, "the limit is per room")
	assert.Equal(t, 1, s.Count429())
	assert.Len(t, s.Messages("1"), 2)

	s.SetLimit(0, 0)
	s.FailNext(2, 503)
	c, _ = post("1", "t1")
	assert.Equal(t, 503, c)
	c, _ = post("1", "t1")
	assert.Equal(t, 503, c)
	c, _ = post("1", "t1")
	assert.Equal(t, 204, c)
	s.FailNext(1, 429)
	c, h = post("1", "t1")
	assert.Equal(t, 429, c)
	assert.Equal(t, "1", h.Get("Retry-After"))
	assert.Equal(t, 2, s.Count429())
}
