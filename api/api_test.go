package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/logtest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const adminToken = "test-admin-token-0002"

type fakeOutbox struct {
	pending map[string]int
	dead    []outbox.DeadEntry
	err     error
}

func (f *fakeOutbox) Pending(room string) (int, error) { return f.pending[room], f.err }

func (f *fakeOutbox) Dead(int) ([]outbox.DeadEntry, error) { return f.dead, f.err }

type fixture struct {
	mux    *http.ServeMux
	rooms  *rooms.Store
	outbox *fakeOutbox
	logs   *logtest.Buffer
}

// newFixture serves the API over a store with rooms ops (the default, a web
// room), payments (a web room that a route sends to) and hc (HipChat).
func newFixture(t *testing.T, webRooms bool) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	rs, err := rooms.Open(db)
	require.NoError(t, err)
	for _, r := range []rooms.Room{
		{Name: "ops", Platform: "webroom", ID: "ops-room"},
		{Name: "payments", Platform: "webroom"},
		{Name: "hc", Platform: "hipchat", ID: "7", Token: "a-room-token-1234", NotifyToken: "a-notify-token-5678"},
	} {
		require.NoError(t, rs.Put(ctx, r))
	}
	routes, err := routing.OpenStore(ctx, db, []routing.Rule{{Name: "pay", Matchers: []string{`team="payments"`}, Rooms: []string{"payments"}}},
		routing.Options{RoomExists: rs.Exists, DefaultRooms: []string{"ops"}})
	require.NoError(t, err)
	f := &fixture{mux: http.NewServeMux(), rooms: rs, outbox: &fakeOutbox{pending: map[string]int{"payments": 3}}, logs: &logtest.Buffer{}}
	New(Options{
		AdminToken:  adminToken,
		DefaultRoom: "ops",
		Page: func(r rooms.Room) string {
			if !webRooms || r.Platform != "webroom" {
				return ""
			}
			return "/rooms/" + r.ID
		},
		DB:       db,
		Rooms:    rs,
		Routes:   routes,
		Timeline: timeline.New(db, timeline.Options{}),
		Outbox:   f.outbox,
		RoomUsable: func(r rooms.Room) (string, string) {
			if r.Platform == "slack" {
				return "platform", "platform slack is off"
			}
			return "", ""
		},
		Logger: f.logs.Logger(slog.LevelDebug),
	}).Register(f.mux)
	return f
}

type request struct {
	method, path, token, contentType, body string
}

func (f *fixture) do(t *testing.T, rq request) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	res := rec.Result()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return res, out
}

func TestReplies(t *testing.T) {
	tests := []struct {
		name   string
		req    request
		status int
		field  string // of an error reply
		error  string // part of the error message
	}{
		{"no token", request{method: "GET", path: "/v1/rooms"}, 401, "", "missing admin token"},
		{"wrong token", request{method: "GET", path: "/v1/routes", token: "wrong"}, 401, "", "invalid admin token"},
		{"bad state", request{method: "GET", path: "/v1/incidents?state=sleeping", token: adminToken}, 400, "state", "state must be"},
		{"bad limit", request{method: "GET", path: "/v1/incidents?limit=0", token: adminToken}, 400, "limit", "limit must be"},
		{"bad incident id", request{method: "GET", path: "/v1/incidents/x", token: adminToken}, 400, "id", "positive number"},
		{"no incident", request{method: "GET", path: "/v1/incidents/%2399", token: adminToken}, 404, "id", "no incident #99"},
		{"no room", request{method: "GET", path: "/v1/rooms/nowhere", token: adminToken}, 404, "name", `no room "nowhere"`},
		{"room the server cannot reach", request{method: "PUT", path: "/v1/rooms/chat", token: adminToken,
			body: `{"platform": "slack", "id": "C1"}`}, 400, "platform", "slack is off"},
		{"room named twice", request{method: "PUT", path: "/v1/rooms/chat", token: adminToken,
			body: `{"name": "other", "platform": "webroom"}`}, 400, "name", "body names room"},
		{"redacted token matching nothing", request{method: "PUT", path: "/v1/rooms/hc", token: adminToken,
			body: `{"platform": "hipchat", "id": "7", "token": "****0000"}`}, 400, "token", "redacted value"},
		{"redacted notify token matching nothing", request{method: "PUT", path: "/v1/rooms/hc", token: adminToken,
			body: `{"platform": "hipchat", "id": "7", "notify_token": "****0000"}`}, 400, "notify_token", "redacted value"},
		{"redacted notify token for a new room", request{method: "PUT", path: "/v1/rooms/new", token: adminToken,
			body: `{"platform": "webroom", "notify_token": "****5678"}`}, 400, "notify_token", "redacted value"},
		{"delete the default room", request{method: "DELETE", path: "/v1/rooms/ops", token: adminToken}, 409, "name", "default room"},
		{"delete a routed room", request{method: "DELETE", path: "/v1/rooms/payments", token: adminToken}, 409, "name", `route "pay"`},
		{"delete no room", request{method: "DELETE", path: "/v1/rooms/nowhere", token: adminToken}, 404, "name", `no room "nowhere"`},
		{"routes without routes", request{method: "PUT", path: "/v1/routes", token: adminToken, body: `{}`}, 400, "routes", "body must be"},
		{"route to no room", request{method: "PUT", path: "/v1/routes", token: adminToken,
			body: `{"routes": [{"name": "x", "rooms": ["nowhere"]}]}`}, 400, "routes[0].rooms[0]", "nowhere"},
		{"bad outbox state", request{method: "GET", path: "/v1/outbox?state=lost", token: adminToken}, 400, "state", "pending or dead"},
		{"not JSON", request{method: "PUT", path: "/v1/routes", token: adminToken, contentType: "text/plain", body: "{}"}, 415, "", "Content-Type"},
		{"empty body", request{method: "POST", path: "/v1/routes/test", token: adminToken}, 400, "", "empty body"},
		{"unknown field", request{method: "PUT", path: "/v1/rooms/chat", token: adminToken, body: `{"colour": "red"}`}, 400, "colour", "unknown field"},
		{"wrong type", request{method: "POST", path: "/v1/incidents/1/events", token: adminToken, body: `{"kind": 1}`}, 400, "kind", "invalid JSON"},
		{"two values", request{method: "POST", path: "/v1/routes/test", token: adminToken, body: `{} {}`}, 400, "", "more than one"},
		{"body over 1 MiB", request{method: "POST", path: "/v1/routes/test", token: adminToken,
			body: `{"a": "` + strings.Repeat("x", maxAdminBody) + `"}`}, 413, "", "over 1 MiB"},
		{"bad event kind", request{method: "POST", path: "/v1/incidents/1/events", token: adminToken, body: `{"kind": "snooze"}`}, 400, "kind", "kind must be"},
		{"empty note", request{method: "POST", path: "/v1/incidents/1/events", token: adminToken, body: `{"kind": "note"}`}, 400, "text", "needs text"},
		{"event on no incident", request{method: "POST", path: "/v1/incidents/1/events", token: adminToken, body: `{"kind": "ack"}`}, 404, "id", "no incident #1"},
	}
	f := newFixture(t, true)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, tt.req)
			assert.Equal(t, tt.status, res.StatusCode, "%v", body)
			assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Contains(t, body["error"], tt.error)
			if tt.field == "" {
				assert.NotContains(t, body, "field")
			} else {
				assert.Equal(t, tt.field, body["field"])
			}
		})
	}
}

func TestRoomPutCreatesThenUpdatesAndKeepsTheToken(t *testing.T) {
	f := newFixture(t, true)
	res, body := f.do(t, request{method: "PUT", path: "/v1/rooms/chat", token: adminToken, body: `{"platform": "webroom"}`})
	assert.Equal(t, http.StatusCreated, res.StatusCode, "%v", body)
	res, body = f.do(t, request{method: "PUT", path: "/v1/rooms/chat", token: adminToken, body: `{"platform": "webroom", "team": "web"}`})
	assert.Equal(t, http.StatusOK, res.StatusCode, "%v", body)
	assert.Equal(t, "web", body["team"])

	_, shown := f.do(t, request{method: "GET", path: "/v1/rooms/hc", token: adminToken})
	assert.Equal(t, "****1234", shown["token"])
	assert.Equal(t, "****5678", shown["notify_token"])
	raw, err := json.Marshal(shown)
	require.NoError(t, err)
	res, body = f.do(t, request{method: "PUT", path: "/v1/rooms/hc", token: adminToken, body: string(raw)})
	assert.Equal(t, http.StatusOK, res.StatusCode, "%v", body)
	assert.Equal(t, "****1234", body["token"], "the stored token stays, shown redacted")
	assert.Equal(t, "****5678", body["notify_token"], "the stored notify token stays, shown redacted")
	res, body = f.do(t, request{method: "PUT", path: "/v1/rooms/hc", token: adminToken, body: `{"platform": "hipchat", "id": "7"}`})
	assert.Equal(t, http.StatusOK, res.StatusCode, "%v", body)
	assert.Equal(t, "****5678", body["notify_token"], "left out, the notify token stays")
	stored, _ := f.rooms.Get("hc")
	assert.Equal(t, "a-notify-token-5678", stored.NotifyToken)
	res, body = f.do(t, request{method: "PUT", path: "/v1/rooms/hc", token: adminToken, body: `{"platform": "hipchat", "id": "7", "notify_token": "a-new-notify-token-9999"}`})
	assert.Equal(t, http.StatusOK, res.StatusCode, "%v", body)
	assert.Equal(t, "****9999", body["notify_token"])

	res, _ = f.do(t, request{method: "DELETE", path: "/v1/rooms/chat", token: adminToken})
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
}

func TestIndex(t *testing.T) {
	tests := []struct {
		name     string
		webRooms bool
		query    string
		location string // "" for the JSON reply
	}{
		{"web rooms on", true, "", "/rooms/ops-room"},
		{"web rooms on, with the key", true, "?key=s3cret", "/rooms/ops-room?key=s3cret"},
		{"web rooms off", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := newFixture(t, tt.webRooms).do(t, request{method: "GET", path: "/" + tt.query})
			if tt.location == "" {
				assert.Equal(t, http.StatusOK, res.StatusCode)
				assert.Equal(t, map[string]any{"service": "sitrep"}, body)
				return
			}
			assert.Equal(t, http.StatusFound, res.StatusCode)
			assert.Equal(t, tt.location, res.Header.Get("Location"))
		})
	}
}

func TestOutbox(t *testing.T) {
	dead := []outbox.DeadEntry{{Room: "ops", Entry: outbox.Entry{Room: "ops", Seq: 4}, Error: "gone"}}
	tests := []struct {
		name   string
		query  string
		err    error
		status int
		want   map[string]any
	}{
		{"pending by default", "", nil, 200, map[string]any{"pending": map[string]any{"ops": 0.0, "payments": 3.0, "hc": 0.0}}},
		{"pending", "?state=pending", nil, 200, map[string]any{"pending": map[string]any{"ops": 0.0, "payments": 3.0, "hc": 0.0}}},
		{"dead", "?state=dead", nil, 200, asJSON(t, map[string]any{"dead": dead})},
		{"store failing", "?state=dead", errors.New("disk on fire"), 500, map[string]any{"error": "internal error; see the server log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			f.outbox.err = tt.err
			f.outbox.dead = dead
			res, body := f.do(t, request{method: "GET", path: "/v1/outbox" + tt.query, token: adminToken})
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Equal(t, tt.want, body)
			if tt.err != nil {
				assert.Contains(t, f.logs.String(), "disk on fire")
			}
		})
	}
}

// asJSON is v as a JSON reply decodes.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// Every admin change leaves an audit line: what, by whom, before and after,
// with no secret in it.
func TestAdminChangesAreAudited(t *testing.T) {
	f := newFixture(t, true)
	for _, rq := range []request{
		{http.MethodPut, "/v1/rooms/hc", adminToken, "application/json", `{"platform":"hipchat","id":"7","display_name":"HipChat ops"}`},
		{http.MethodPut, "/v1/rooms/new-room", adminToken, "application/json", `{"platform":"webroom"}`},
		{http.MethodDelete, "/v1/rooms/new-room", adminToken, "", ""},
		{http.MethodPut, "/v1/routes", adminToken, "application/json", `{"routes":[{"name":"pay2","matchers":["team=\"payments\""],"rooms":["payments"]}]}`},
	} {
		res, out := f.do(t, rq)
		require.Less(t, res.StatusCode, 300, "%s %s: %v", rq.method, rq.path, out)
	}
	logs := f.logs.String()
	for _, want := range []string{`action=room.put by="admin token"`, "room=hc before.name=hc", "room=new-room after.name=new-room", "action=room.delete", "action=routes.put", "before=[pay] after=[pay2]"} {
		assert.Contains(t, logs, want)
	}
	assert.NotContains(t, logs, "a-room-token-1234", "secrets never reach the audit log")
	assert.NotContains(t, logs, "a-notify-token-5678")
}
