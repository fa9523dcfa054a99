package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/logtest"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/platforms"
)

const (
	ingestToken = "test-ingest-token-0001"
	adminToken  = "test-admin-token-0002"
)

// baseConfig is a config with two web rooms; extra YAML is appended.
func baseConfig(data string, extra string) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
data: %s
ingest_token: %s
admin_token: %s
default_room: ops
rooms:
  - name: ops
    platform: webroom
  - name: payments
    platform: webroom
    team: payments
%s`, data, ingestToken, adminToken, extra)
}

type testBot struct {
	*Bot
	URL    string
	cancel context.CancelFunc
	done   chan error
	logs   *logtest.Buffer
}

func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), "test.yaml", func(string) string { return "" }, platforms.All().Config()...)
	require.NoError(t, err)
	return cfg
}

// startBot runs a bot on a loopback port until the test ends.
func startBot(t testing.TB, yaml string) *testBot {
	t.Helper()
	return startBotWith(t, yaml, platforms.All())
}

// startBotWith is startBot with the platforms of list.
func startBotWith(t testing.TB, yaml string, list platform.List) *testBot {
	t.Helper()
	return startBotClock(t, yaml, list, time.Now)
}

// startBotClock is startBotWith on the clock now.
func startBotClock(t testing.TB, yaml string, list platform.List, now func() time.Time) *testBot {
	t.Helper()
	cfg := parseConfig(t, yaml)
	logs := &logtest.Buffer{}
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn
	}
	log := logs.Logger(level)
	b, err := newWith(cfg, log, list, now)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", cfg.Listen) // 127.0.0.1:0 unless a test needs its address in advance
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	tb := &testBot{Bot: b, URL: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { tb.done <- b.Run(ctx, ln) }()
	t.Cleanup(tb.stop)
	require.Eventually(t, func() bool { return b.ready.Load() }, 10*time.Second, 5*time.Millisecond)
	return tb
}

func (tb *testBot) stop() {
	if tb.cancel == nil {
		return
	}
	tb.cancel()
	<-tb.done
	tb.cancel = nil
}

func newDataPath(t testing.TB) string { return filepath.Join(t.TempDir(), "sitrep.db") }

func (tb *testBot) do(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	code, out, err := tb.request(method, path, token, body)
	require.NoError(t, err)
	return code, out
}

// request sends a JSON request and decodes a JSON reply.
func (tb *testBot) request(method, path, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, tb.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			return 0, nil, fmt.Errorf("%w: %s", err, raw)
		}
	}
	return resp.StatusCode, out, nil
}

func (tb *testBot) alert(t testing.TB, fields map[string]any) map[string]any {
	t.Helper()
	code, out := tb.do(t, http.MethodPost, "/v1/alerts", ingestToken, fields)
	require.Equal(t, http.StatusAccepted, code, "%v", out)
	return out
}

func (tb *testBot) incident(t testing.TB, id any) map[string]any {
	t.Helper()
	code, out := tb.do(t, http.MethodGet, fmt.Sprintf("/v1/incidents/%v", id), adminToken, nil)
	require.Equal(t, http.StatusOK, code, "%v", out)
	return out
}

// roomClient is a browser-less web room participant.
type roomClient struct {
	conn   *websocket.Conn
	frames chan map[string]any

	mu        sync.Mutex
	log       []map[string]any // every frame received, in order, but the open-incident ones
	incidents []map[string]any // the open-incident frames ("incident", "incidents"), in order
}

// countText counts the message frames received so far whose text holds sub.
func (c *roomClient) countText(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.log {
		if s, _ := f["text"].(string); f["type"] == "message" && strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (tb *testBot) join(t testing.TB, room string) *roomClient {
	t.Helper()
	return tb.joinWith(t, room, "")
}

// joinWith is join with a query, such as "key=...".
func (tb *testBot) joinWith(t testing.TB, room, query string) *roomClient {
	t.Helper()
	u := strings.Replace(tb.URL, "http://", "ws://", 1) + "/rooms/" + room + "/ws"
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	c := &roomClient{conn: conn, frames: make(chan map[string]any, 1024)}
	go func() {
		defer close(c.frames)
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			c.mu.Lock()
			if f["type"] == "incident" || f["type"] == "incidents" {
				c.incidents = append(c.incidents, f)
				c.mu.Unlock()
				continue
			}
			c.log = append(c.log, f)
			c.mu.Unlock()
			c.frames <- f
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *roomClient) say(t testing.TB, text string) {
	t.Helper()
	require.NoError(t, c.conn.WriteJSON(map[string]string{"text": text, "user": "alice"}))
}

// waitFor returns the first frame that satisfies ok, failing after timeout.
func (c *roomClient) waitFor(t testing.TB, timeout time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, open := <-c.frames:
			require.True(t, open, "room connection closed while waiting for %s", what)
			if ok(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no frame with %s within %s", what, timeout)
		}
	}
}

// drain returns the frames received within d.
func (c *roomClient) drain(d time.Duration) []map[string]any {
	var out []map[string]any
	deadline := time.After(d)
	for {
		select {
		case f, open := <-c.frames:
			if !open {
				return out
			}
			out = append(out, f)
		case <-deadline:
			return out
		}
	}
}

func textHas(sub string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		s, _ := f["text"].(string)
		return strings.Contains(s, sub)
	}
}
