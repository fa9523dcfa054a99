package hipchat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/logtest"
	"github.com/sitrep/sitrep/storage"
)

type addonFixture struct {
	hc     *hipchattest.Server
	client *hipchat.Client
	srv    *httptest.Server
	logs   *logtest.Buffer
	got    chan adapters.Inbound
}

func newAddon(t testing.TB) *addonFixture {
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	installs, err := hipchat.OpenInstalls(db)
	require.NoError(t, err)
	f := &addonFixture{hc: hipchattest.New(t), logs: &logtest.Buffer{}, got: make(chan adapters.Inbound, 16)}
	f.client = hipchat.New(hipchat.Options{BaseURL: f.hc.URL(), Installs: installs, Logger: f.logs.Logger(slog.LevelDebug),
		Handler: func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
			f.got <- in
			return adapters.Reply{}, nil
		}})
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.client.Register(mux, hipchat.WebhookPath)
	f.client.RegisterAddon(mux, hipchat.Addon{PublicURL: f.srv.URL, Room: "ops",
		RoomExists: func(name string) bool { return name == "ops" || name == "pay-hc" }})
	return f
}

func TestAddonInstallRoundTripKeepsTheSecretWriteOnly(t *testing.T) {
	ctx := context.Background()
	f := newAddon(t)
	inst, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath, 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, f.srv.URL+hipchat.InstalledPath, inst.CallbackURL)
	assert.Equal(t, f.srv.URL+hipchat.WebhookPath, inst.WebhookURL)

	code, err = inst.SendMessage(ctx, "m-1", "bob", "hello")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, code)
	in := <-f.got
	assert.Equal(t, "101", in.RoomID, "Inbound.RoomID stays HipChat's room number")
	assert.Equal(t, "bob", in.User)

	// What the install callback answers shows the secret redacted.
	body, _ := json.Marshal(map[string]any{"oauthId": "direct-1", "oauthSecret": "s3cret-value-0123456789", "roomId": 5, "groupId": 1,
		"capabilitiesUrl": f.hc.URL() + "/v2/capabilities"})
	resp, err := http.Post(f.srv.URL+hipchat.InstalledPath+"?room=pay-hc", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "HipChat never issued these credentials")
	assert.Equal(t, "oauthSecret", out["field"])
	assert.NotContains(t, f.logs.String(), "s3cret-value-0123456789")

	// The uninstall HipChat sends to a callback URL with ?room= in it.
	inst2, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath+"?room=pay-hc", 202)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, f.srv.URL+hipchat.InstalledPath+"?room=pay-hc", inst2.CallbackURL)
	for _, i := range []hipchattest.Installation{inst, inst2} {
		code, err = f.hc.Uninstall(ctx, i)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNoContent, code)
		code, err = i.SendMessage(ctx, "m-2", "bob", "still there?")
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, code)
	}
	logs := f.logs.String()
	assert.Contains(t, logs, "hipchat add-on installed")
	assert.Contains(t, logs, "****"+inst.OAuthSecret[len(inst.OAuthSecret)-4:])
	for _, s := range []string{inst.OAuthSecret, inst2.OAuthSecret} {
		assert.NotContains(t, logs, s)
	}
}

func TestAddonInstallRefusals(t *testing.T) {
	f := newAddon(t)
	caps := f.hc.URL() + "/v2/capabilities"
	good := map[string]any{"oauthId": "id-1", "oauthSecret": "secret-1", "roomId": 101, "groupId": 1, "capabilitiesUrl": caps}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name  string
		query string
		body  any
		code  int
		field string
	}{
		{"no oauthId", "", with("oauthId", nil), http.StatusBadRequest, "oauthId"},
		{"no oauthSecret", "", with("oauthSecret", nil), http.StatusBadRequest, "oauthSecret"},
		{"global install", "", with("roomId", nil), http.StatusBadRequest, "roomId"},
		{"room by name", "", with("roomId", "Ops"), http.StatusBadRequest, "roomId"},
		{"no groupId", "", with("groupId", nil), http.StatusBadRequest, "groupId"},
		{"no capabilitiesUrl", "", with("capabilitiesUrl", nil), http.StatusBadRequest, "capabilitiesUrl"},
		{"another HipChat", "", with("capabilitiesUrl", "https://evil.example/v2/capabilities"), http.StatusBadRequest, "capabilitiesUrl"},
		{"oauthId with a slash", "", with("oauthId", "a/b"), http.StatusBadRequest, "oauthId"},
		{"no such sitrep room", "?room=nowhere", good, http.StatusNotFound, "room"},
		{"not JSON", "", "nope", http.StatusBadRequest, "body"},
		{"too large", "", with("oauthSecret", string(make([]byte, hipchat.MaxInstallBody))), http.StatusRequestEntityTooLarge, ""},
		{"credentials HipChat never issued", "", good, http.StatusUnauthorized, "oauthSecret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := json.Marshal(c.body)
			resp, err := http.Post(f.srv.URL+hipchat.InstalledPath+c.query, "application/json", bytes.NewReader(raw))
			require.NoError(t, err)
			defer resp.Body.Close()
			var out map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			assert.Equal(t, c.code, resp.StatusCode)
			if c.field != "" {
				assert.Equal(t, c.field, out["field"])
			}
		})
	}
	req, _ := http.NewRequest(http.MethodDelete, f.srv.URL+hipchat.InstalledPath+"/id-1", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "nothing was installed")
}

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary tokens and bodies: it
// must never panic, and accept nothing not signed with the install's secret.
func FuzzVerifyWebhook(f *testing.F) {
	fx := newAddon(f)
	inst, code, err := fx.hc.Install(context.Background(), fx.srv.URL+hipchat.CapabilitiesPath, 101)
	require.NoError(f, err)
	require.Equal(f, http.StatusCreated, code)
	good := inst.Sign(inst.Claims(101, time.Now()))
	body := hipchattest.RoomMessage(101, "m-1", "bob", "hi")
	f.Add(good, body)
	f.Add(good, []byte(`{"event":"room_message"}`))
	f.Add("eyJhbGciOiJub25lIn0.e30.", body)
	f.Add(good[:len(good)-3], body)
	f.Add("", []byte("{"))
	f.Add("a.b.c", []byte(`null`))
	f.Fuzz(func(t *testing.T, token string, body []byte) {
		in, err := fx.client.VerifyWebhook(context.Background(), token, body)
		if err == nil {
			assert.Equal(t, "101", in.RoomID)
			assert.Contains(t, token, ".", "only a signed JWT passes")
		}
	})
}
