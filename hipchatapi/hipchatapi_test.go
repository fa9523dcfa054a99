package hipchatapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/logtest"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
)

const (
	ingestToken = "test-ingest-token-0001"
	opsToken    = "ops-notify-token-0003"
	payToken    = "pay-notify-token-0004"
)

type fakeSink struct {
	mu      sync.Mutex
	notices map[string][]Notice
	err     error
}

func (f *fakeSink) Notice(_ context.Context, room rooms.Room, n Notice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.notices[room.Name] = append(f.notices[room.Name], n)
	return nil
}

func (f *fakeSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.notices {
		n += len(l)
	}
	return n
}

type fixture struct {
	mux  *http.ServeMux
	sink *fakeSink
	logs *logtest.Buffer
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "h.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	rs, err := rooms.Open(db)
	require.NoError(t, err)
	ctx := context.Background()
	for _, r := range []rooms.Room{
		{Name: "ops", Platform: "webroom", HipChatIDs: []string{"1234"}, NotifyToken: opsToken},
		{Name: "payments", Platform: "webroom", NotifyToken: payToken},
		{Name: "hc", Platform: "hipchat", ID: "77", Token: "hipchat-room-token-9999"},
	} {
		require.NoError(t, rs.Put(ctx, r))
	}
	f := &fixture{mux: http.NewServeMux(), sink: &fakeSink{notices: map[string][]Notice{}}, logs: &logtest.Buffer{},
		now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	New(Options{IngestToken: ingestToken, Rooms: rs, Sink: f.sink, Logger: f.logs.Logger(-4),
		Now: func() time.Time { return f.now }}).Register(f.mux)
	return f
}

type req struct {
	path, auth, contentType, body string
}

func (f *fixture) do(t *testing.T, rq req) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", rq.path, strings.NewReader(rq.body))
	if rq.contentType != "-" {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if rq.auth != "" {
		r.Header.Set("Authorization", "Bearer "+rq.auth)
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	var body map[string]any
	if w.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	}
	return w, body
}

func TestNotificationReachesTheRoom(t *testing.T) {
	tests := []struct {
		name, path, auth, room string
	}{
		{"by alias, token in the query", "/v2/room/1234/notification?auth_token=" + ingestToken, "", "ops"},
		{"by name, room token as bearer", "/v2/room/ops/notification", opsToken, "ops"},
		{"by a hipchat room's id", "/v2/room/77/notification", ingestToken, "hc"},
		{"URL-encoded name", "/v2/room/pay%6Dents/notification", payToken, "payments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			w, body := f.do(t, req{path: tt.path, auth: tt.auth, body: `{"color":"red","message":"db-1 <b>disk</b> full","notify":true,"message_format":"text","from":"alerts"}`})
			require.Equal(t, http.StatusNoContent, w.Code, "%v", body)
			assert.Equal(t, "30", w.Header().Get("X-FloodControl-Limit"))
			assert.Equal(t, "29", w.Header().Get("X-FloodControl-Remaining"))
			assert.Equal(t, strconv.FormatInt(f.now.Add(time.Minute).Unix(), 10), w.Header().Get("X-FloodControl-Reset"))
			require.Len(t, f.sink.notices[tt.room], 1)
			n := f.sink.notices[tt.room][0]
			assert.Equal(t, Notice{Text: "db-1 <b>disk</b> full", HTML: "db-1 &lt;b&gt;disk&lt;/b&gt; full", Format: "text",
				Color: "red", Notify: true, From: "alerts", Time: f.now}, n)
		})
	}
}

func TestAuthTest(t *testing.T) {
	f := newFixture(t)
	w, body := f.do(t, req{path: "/v2/room/ops/notification?auth_test=true&auth_token=" + opsToken, contentType: "-"})
	require.Equal(t, http.StatusAccepted, w.Code)
	assert.Equal(t, map[string]any{"success": map[string]any{"code": 202.0, "type": "Accepted",
		"message": "This auth_token has access to use this method."}}, body)
	w, _ = f.do(t, req{path: "/v2/room/ops/notification?auth_test=true&auth_token=" + payToken, contentType: "-"})
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Zero(t, f.sink.count())
}

func TestBadRequests(t *testing.T) {
	good := `{"message":"hello"}`
	tests := []struct {
		name       string
		rq         req
		code       int
		field      string
		validation string
	}{
		{"missing message", req{body: `{"color":"red"}`}, 400, "message", "required"},
		{"null message", req{body: `{"message":null}`}, 400, "message", "required"},
		{"empty message", req{body: `{"message":""}`}, 400, "message", "length"},
		{"10,001 characters", req{body: `{"message":"` + strings.Repeat("é", MaxMessage+1) + `"}`}, 400, "message", "length"},
		{"message not a string", req{body: `{"message":42}`}, 400, "message", "type"},
		{"unknown color", req{body: `{"message":"x","color":"blue"}`}, 400, "color", "choice"},
		{"unknown format", req{body: `{"message":"x","message_format":"markdown"}`}, 400, "message_format", "choice"},
		{"notify yes", req{body: `{"message":"x","notify":"yes"}`}, 400, "notify", "type"},
		{"notify a number", req{body: `{"message":"x","notify":1}`}, 400, "notify", "type"},
		{"from too long", req{body: `{"message":"x","from":"` + strings.Repeat("f", MaxFrom+1) + `"}`}, 400, "from", "length"},
		{"card not an object", req{body: `{"message":"x","card":"title"}`}, 400, "card", "type"},
		{"not JSON", req{body: `message=hello`}, 400, "", ""},
		{"a JSON array", req{body: `[{"message":"x"}]`}, 400, "", ""},
		{"wrong content type", req{body: good, contentType: "application/x-www-form-urlencoded"}, 400, "", ""},
		{"no content type", req{body: good, contentType: "-"}, 400, "", ""},
		{"no token", req{body: good, auth: "-"}, 401, "", ""},
		{"wrong token", req{body: good, auth: "not-the-token"}, 401, "", ""},
		{"another room's notify token", req{path: "/v2/room/payments/notification", body: good, auth: opsToken}, 401, "", ""},
		{"a hipchat room's own token", req{path: "/v2/room/77/notification", body: good, auth: "hipchat-room-token-9999"}, 401, "", ""},
		{"unknown room", req{path: "/v2/room/nowhere/notification", body: good}, 404, "", ""},
		{"unknown room, room token", req{path: "/v2/room/nowhere/notification", body: good, auth: opsToken}, 401, "", ""},
		{"body too large", req{body: `{"message":"x","pad":"` + strings.Repeat("p", MaxBody) + `"}`}, 413, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rq := tt.rq
			if rq.path == "" {
				rq.path = "/v2/room/ops/notification"
			}
			switch rq.auth {
			case "":
				rq.auth = ingestToken
			case "-":
				rq.auth = ""
			}
			w, body := f.do(t, rq)
			require.Equal(t, tt.code, w.Code, "%v", body)
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "HipChat's error shape: %v", body)
			assert.Equal(t, float64(tt.code), e["code"])
			assert.Equal(t, http.StatusText(tt.code), e["type"])
			assert.NotEmpty(t, e["message"])
			if tt.field != "" {
				assert.Equal(t, tt.field, e["field"])
				assert.Equal(t, tt.validation, e["validation"])
			} else {
				assert.NotContains(t, e, "field")
			}
			assert.Zero(t, f.sink.count(), "nothing is stored")
			for _, tok := range []string{ingestToken, opsToken, payToken} {
				assert.NotContains(t, w.Body.String(), tok)
				assert.NotContains(t, f.logs.String(), tok)
			}
		})
	}
}

func TestFloodControl(t *testing.T) {
	f := newFixture(t)
	reset := strconv.FormatInt(f.now.Add(time.Minute).Unix(), 10)
	post := func(room string) *httptest.ResponseRecorder {
		w, _ := f.do(t, req{path: "/v2/room/" + room + "/notification", auth: ingestToken, body: `{"message":"m"}`})
		return w
	}
	for i := 0; i < DefaultFloodLimit; i++ {
		require.Equal(t, http.StatusNoContent, post("ops").Code, "notice %d", i+1)
		f.now = f.now.Add(time.Second)
	}
	w := post("ops")
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "30", w.Header().Get("X-FloodControl-Limit"))
	assert.Equal(t, "0", w.Header().Get("X-FloodControl-Remaining"))
	assert.Equal(t, reset, w.Header().Get("X-FloodControl-Reset"))
	assert.Equal(t, "30", w.Header().Get("Retry-After"))
	var body map[string]map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, 429.0, body["error"]["code"])
	assert.Len(t, f.sink.notices["ops"], DefaultFloodLimit, "the notice over the limit is not stored")

	assert.Equal(t, http.StatusNoContent, post("payments").Code, "each room has its own limit")
	f.now = f.now.Add(30 * time.Second)
	assert.Equal(t, http.StatusNoContent, post("ops").Code, "a new minute, a new window")
}

func TestSinkFailureIs503(t *testing.T) {
	f := newFixture(t)
	f.sink.err = errors.New("disk full")
	w, body := f.do(t, req{path: "/v2/room/ops/notification", auth: ingestToken, body: `{"message":"m"}`})
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "Service Unavailable", body["error"].(map[string]any)["type"])
	assert.Contains(t, f.logs.String(), "disk full")
}
