package hipchat_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
)

const (
	hookPath  = "/hooks/hipchat"
	hookToken = "webhook-token-secret-9999"
)

const goodHook = `{
  "event": "room_message",
  "item": {
    "message": {
      "date": "2015-01-20T22:45:06.662545+00:00",
      "from": {"id": 1661743, "mention_name": "ann", "name": "Ann Smith"},
      "id": "224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b",
      "mentions": [],
      "message": "ack 12",
      "type": "message"
    },
    "room": {"id": 1147567, "name": "ops"}
  },
  "oauth_client_id": "abc",
  "webhook_id": 578829
}`

type hookFixture struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []adapters.Inbound
}

func newHook(t *testing.T, token string, reply string, herr error) *hookFixture {
	t.Helper()
	f := &hookFixture{}
	c := hipchat.New(hipchat.Options{WebhookToken: token, Handler: func(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got = append(f.got, in)
		return adapters.Reply{Text: reply}, herr
	}})
	mux := http.NewServeMux()
	c.Register(mux, hookPath)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *hookFixture) inbound() []adapters.Inbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]adapters.Inbound(nil), f.got...)
}

func (f *hookFixture) post(t *testing.T, query, auth, body string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+hookPath+query, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]string{}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
		assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	}
	return resp.StatusCode, out
}

func TestWebhookGoodPayload(t *testing.T) {
	f := newHook(t, hookToken, "acknowledged #12", nil)
	code, out := f.post(t, "?token="+hookToken, "", goodHook)
	require.Equal(t, http.StatusOK, code, "%v", out)
	assert.Equal(t, map[string]string{"message": "acknowledged #12", "message_format": "text"}, out)
	got := f.inbound()
	require.Len(t, got, 1)
	assert.Equal(t, adapters.Inbound{
		Platform:  "hipchat",
		RoomID:    "1147567",
		User:      "ann",
		Text:      "ack 12",
		MessageID: "224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b",
		Key:       "1147567:224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b",
		Time:      time.Date(2015, 1, 20, 22, 45, 6, 662545000, time.UTC),
	}, normalize(got[0]))
}

func normalize(in adapters.Inbound) adapters.Inbound {
	in.Time = in.Time.UTC()
	return in
}

func TestWebhookVariants(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		code    int
		handled bool
		user    string
		roomID  string
	}{
		{"no reply is 204", goodHook, http.StatusNoContent, true, "ann", "1147567"},
		{"name when no mention name", strings.Replace(goodHook, `"mention_name": "ann", `, "", 1), http.StatusNoContent, true, "Ann Smith", "1147567"},
		{"string room id", strings.Replace(goodHook, `"id": 1147567`, `"id": "ops-room"`, 1), http.StatusNoContent, true, "ann", "ops-room"},
		{"a notification (from is a string) is ignored", strings.Replace(goodHook, `{"id": 1661743, "mention_name": "ann", "name": "Ann Smith"}`, `"sitrep"`, 1), http.StatusNoContent, false, "", ""},
		{"another integration's notification is ignored", strings.Replace(goodHook, `{"id": 1661743, "mention_name": "ann", "name": "Ann Smith"}`, `"Jenkins"`, 1), http.StatusNoContent, false, "", ""},
		{"a user named sitrep is ignored", strings.Replace(goodHook, `"mention_name": "ann", "name": "Ann Smith"`, `"name": "sitrep"`, 1), http.StatusNoContent, false, "", ""},
		{"other events are ignored", strings.Replace(goodHook, `"room_message"`, `"room_enter"`, 1), http.StatusNoContent, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHook(t, "", "", nil)
			code, out := f.post(t, "", "", tt.body)
			require.Equal(t, tt.code, code, "%v", out)
			got := f.inbound()
			if !tt.handled {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, tt.user, got[0].User)
			assert.Equal(t, tt.roomID, got[0].RoomID)
		})
	}
}

func TestWebhookMalformed(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"not json", `{"event":`, "body"},
		{"array", `[]`, "body"},
		{"trailing value", goodHook + `{}`, "body"},
		{"no event", strings.Replace(goodHook, `"event": "room_message",`, "", 1), "event"},
		{"event not a string", strings.Replace(goodHook, `"event": "room_message"`, `"event": 7`, 1), "event"},
		{"no room id", strings.Replace(goodHook, `"id": 1147567, `, "", 1), "item.room.id"},
		{"negative room id", strings.Replace(goodHook, `1147567`, `-4`, 1), "item.room.id"},
		{"room id object", strings.Replace(goodHook, `1147567`, `{}`, 1), "item.room.id"},
		{"no message", strings.Replace(goodHook, `"message": "ack 12",`, "", 1), "item.message.message"},
		{"message not a string", strings.Replace(goodHook, `"message": "ack 12"`, `"message": 12`, 1), "item.message.message"},
		{"no from", strings.Replace(goodHook, `"from": {"id": 1661743, "mention_name": "ann", "name": "Ann Smith"},`, "", 1), "item.message.from"},
		{"from a number", strings.Replace(goodHook, `{"id": 1661743, "mention_name": "ann", "name": "Ann Smith"}`, `5`, 1), "item.message.from"},
		{"from nameless", strings.Replace(goodHook, `"mention_name": "ann", "name": "Ann Smith"`, `"name": ""`, 1), "item.message.from.mention_name"},
		{"bad date", strings.Replace(goodHook, `2015-01-20T22:45:06.662545+00:00`, `yesterday`, 1), "item.message.date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHook(t, "", "reply", nil)
			code, out := f.post(t, "", "", tt.body)
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, tt.field, out["field"], "%v", out)
			assert.NotEmpty(t, out["error"])
			assert.Empty(t, f.inbound())
		})
	}
}

func TestWebhookToken(t *testing.T) {
	tests := []struct {
		name, query, auth string
		code              int
	}{
		{"none", "", "", http.StatusUnauthorized},
		{"wrong query", "?token=nope", "", http.StatusUnauthorized},
		{"wrong bearer", "", "Bearer nope", http.StatusUnauthorized},
		{"prefix of the token", "?token=" + hookToken[:10], "", http.StatusUnauthorized},
		{"not bearer", "", "Basic " + hookToken, http.StatusUnauthorized},
		{"query", "?token=" + hookToken, "", http.StatusOK},
		{"bearer", "", "Bearer " + hookToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHook(t, hookToken, "ok", nil)
			code, out := f.post(t, tt.query, tt.auth, goodHook)
			assert.Equal(t, tt.code, code, "%v", out)
			if tt.code == http.StatusUnauthorized {
				assert.Empty(t, f.inbound())
				assert.NotContains(t, out["error"], hookToken)
			}
		})
	}
}

func TestWebhookLimitsAndErrors(t *testing.T) {
	f := newHook(t, "", "ok", nil)
	big := `{"event":"room_message","pad":"` + strings.Repeat("x", hipchat.MaxWebhookBody) + `"}`
	code, _ := f.post(t, "", "", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)

	resp, err := http.Get(f.srv.URL + hookPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	failing := newHook(t, "", "", errors.New("database on fire"))
	code, out := failing.post(t, "", "", goodHook)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.NotContains(t, out["error"], "fire", "internal errors stay internal")

	long := newHook(t, "", strings.Repeat("r", hipchat.MaxMessage+50), nil)
	code, out = long.post(t, "", "", goodHook)
	assert.Equal(t, http.StatusOK, code)
	assert.LessOrEqual(t, len([]rune(out["message"])), hipchat.MaxMessage)
}

func FuzzWebhook(f *testing.F) {
	f.Add([]byte(goodHook))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"event":"room_message","item":{"message":{"message":"x","from":"sitrep"},"room":{"id":"1"}}}`))
	f.Add([]byte(`{"event":"room_message","item":{"message":{"message":"x","from":{"name":"a"},"date":"2020-01-01T00:00:00Z"},"room":{"id":1e3}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := hipchat.ParseWebhook(body)
		if err != nil {
			var fe *hipchat.FieldError
			if !hipchat.IsIgnored(err) && !errors.As(err, &fe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if in.Platform != "hipchat" || in.RoomID == "" || in.User == "" || in.User == "sitrep" {
			t.Fatalf("bad inbound %+v from %q", in, body)
		}
	})
}

// HipChat retries a webhook it got no answer to with the same message ID:
// the Inbound's dedupe key is the room and that ID, so sitrep applies it once.
func TestWebhookDedupeKey(t *testing.T) {
	tests := []struct {
		name, body, key string
	}{
		{"room and message id", goodHook, "1147567:224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b"},
		{"string room id", strings.Replace(goodHook, `"id": 1147567`, `"id": "ops-room"`, 1), "ops-room:224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b"},
		{"no message id, no key", strings.Replace(goodHook, `"id": "224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b",`, "", 1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := hipchat.ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			again, err := hipchat.ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.key, first.Key)
			assert.Equal(t, first.Key, again.Key, "a retry has the same key")
		})
	}
	other, err := hipchat.ParseWebhook([]byte(strings.Replace(goodHook, `"id": 1147567`, `"id": 7`, 1)))
	require.NoError(t, err)
	assert.Equal(t, "7:224f7b2e-3b4c-4b5c-9c8a-5c7d1e2f3a4b", other.Key, "the same message id in another room is another key")
}

// HipChat has no private replies: a Reply asking for one is still the
// webhook's response, which the room shows.
func TestWebhookPrivateReplyShowsInTheRoom(t *testing.T) {
	c := hipchat.New(hipchat.Options{Handler: func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "incident #12 acknowledged", Private: true, Replace: true}, nil
	}})
	require.False(t, c.Capabilities().PrivateReplies)
	mux := http.NewServeMux()
	c.Register(mux, hookPath)
	f := &hookFixture{srv: httptest.NewServer(mux)}
	t.Cleanup(f.srv.Close)
	code, out := f.post(t, "", "", goodHook)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{"message": "incident #12 acknowledged", "message_format": "text"}, out)
}
