package hipchattest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// clock is a settable time for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// epoch is a whole Unix second, so Reset headers are exact in tests.
var epoch = time.Unix(1_366_037_820, 0)

func post(t *testing.T, s *hipchattest.Server, room, tok string) (int, http.Header) {
	t.Helper()
	code, h, _ := send(t, s, "POST", "/v2/room/"+room+"/notification", "application/json", tok, `{"message":"m"}`)
	return code, h
}

// reset is a Reset header for epoch+d.
func reset(d time.Duration) string { return strconv.FormatInt(epoch.Add(d).Unix(), 10) }

func TestLimits(t *testing.T) {
	type step struct {
		wait      time.Duration // clock moves this much first
		room, tok string
		code      int
		family    string // header prefix checked: "X-FloodControl-" or "X-Ratelimit-"
		limit     string
		remaining string
		reset     time.Duration // since epoch; < 0: no header
	}
	const fc, rl = "X-FloodControl-", "X-Ratelimit-"
	tests := []struct {
		name  string
		opts  []hipchattest.Option
		steps []step
	}{
		{"flood control per room: burst, then one back every per/n", []hipchattest.Option{hipchattest.WithFloodControl(2, 10*time.Second)}, []step{
			{0, "1", "t1", 204, fc, "2", "1", 5 * time.Second},
			{0, "1", "t1", 204, fc, "2", "0", 5 * time.Second},
			{0, "1", "t1", 429, fc, "2", "0", 5 * time.Second},
			{0, "2", "t2", 204, fc, "2", "1", 5 * time.Second}, // rooms are apart
			{4 * time.Second, "1", "t1", 429, fc, "2", "0", 5 * time.Second},
			{time.Second, "1", "t1", 204, fc, "2", "0", 10 * time.Second},
			{20 * time.Second, "1", "t1", 204, fc, "2", "1", 30 * time.Second},
		}},
		{"every response carries the token's count", []hipchattest.Option{hipchattest.WithFloodControl(1, time.Minute), hipchattest.WithRateLimit(3, time.Minute)}, []step{
			{0, "1", "t1", 204, rl, "3", "2", 20 * time.Second},
			{0, "1", "t1", 429, rl, "3", "1", 20 * time.Second}, // flood control's 429 is still a request
			{0, "1b", "t1", 204, rl, "3", "0", 20 * time.Second},
			{0, "1c", "t1", 429, rl, "3", "0", 20 * time.Second}, // the token's limit spans its rooms
			{0, "2", "t2", 204, rl, "3", "2", 20 * time.Second},  // tokens are apart
			{20 * time.Second, "1c", "t1", 204, rl, "3", "0", 40 * time.Second},
		}},
		{"HipChat's limits by default", nil, []step{
			{0, "1", "t1", 204, fc, "30", "29", 2 * time.Second},
			{0, "1", "t1", 204, rl, "500", "498", time.Second}, // 600 ms, rounded up
		}},
		{"limits off", []hipchattest.Option{hipchattest.WithFloodControl(0, 0), hipchattest.WithRateLimit(0, 0)}, []step{
			{0, "1", "t1", 204, fc, "", "", -1},
			{0, "1", "t1", 204, rl, "", "", -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: epoch}
			s := hipchattest.New(t, append([]hipchattest.Option{hipchattest.WithClock(c.now)}, tt.opts...)...)
			for _, r := range [][2]string{{"1", "t1"}, {"1b", "t1"}, {"1c", "t1"}, {"2", "t2"}} {
				s.AddRoom(r[0], r[1])
			}
			var elapsed time.Duration
			for i, st := range tt.steps {
				c.add(st.wait)
				elapsed += st.wait
				code, h := post(t, s, st.room, st.tok)
				assert.Equal(t, st.code, code, "step %d", i)
				assert.Equal(t, st.limit, h.Get(st.family+"Limit"), "step %d", i)
				assert.Equal(t, st.remaining, h.Get(st.family+"Remaining"), "step %d", i)
				want := ""
				if st.reset >= 0 {
					want = reset(st.reset)
				}
				assert.Equal(t, want, h.Get(st.family+"Reset"), "step %d (at +%s)", i, elapsed)
				assert.Empty(t, h.Get("Retry-After"), "step %d: HipChat names no Retry-After", i)
			}
		})
	}
}

func TestResetRoundsUp(t *testing.T) {
	c := &clock{t: epoch.Add(100 * time.Millisecond)}
	s := hipchattest.New(t, hipchattest.WithClock(c.now), hipchattest.WithFloodControl(1, 1500*time.Millisecond))
	s.AddRoom("1", "t1")
	code, _ := post(t, s, "1", "t1")
	require.Equal(t, 204, code)
	code, h := post(t, s, "1", "t1")
	require.Equal(t, 429, code)
	assert.Equal(t, reset(2*time.Second), h.Get("X-FloodControl-Reset"), "1.6 s rounds up to the next second")
	c.add(1400 * time.Millisecond)
	code, _ = post(t, s, "1", "t1")
	assert.Equal(t, 429, code, "a hair early")
	c.add(100 * time.Millisecond)
	code, _ = post(t, s, "1", "t1")
	assert.Equal(t, 204, code, "on time")
	assert.Equal(t, 2, s.Count429())
	assert.Len(t, s.Messages("1"), 2)
	assert.Equal(t, epoch.Add(1600*time.Millisecond), s.Messages("1")[1].At, "At is the server's clock")
}

func TestSetLimitAndFailNext(t *testing.T) {
	s := hipchattest.New(t)
	s.AddRoom("1", "t1")
	s.SetLimit(1, time.Hour)
	c, _ := post(t, s, "1", "t1")
	assert.Equal(t, 204, c)
	c, h := post(t, s, "1", "t1")
	assert.Equal(t, 429, c)
	assert.Equal(t, "0", h.Get("X-FloodControl-Remaining"))
	assert.Equal(t, 1, s.Count429())

	s.SetLimit(0, 0)
	s.FailNext(2, 503)
	c, _ = post(t, s, "1", "t1")
	assert.Equal(t, 503, c)
	c, _ = post(t, s, "1", "t1")
	assert.Equal(t, 503, c)
	c, _ = post(t, s, "1", "t1")
	assert.Equal(t, 204, c)
	s.FailNext(1, 429)
	c, h = post(t, s, "1", "t1")
	assert.Equal(t, 429, c)
	assert.Equal(t, "1", h.Get("Retry-After"))
	assert.Equal(t, 2, s.Count429())
}
