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

func TestInstallCredentialsFromAnotherRoomCannotTakeOverARoom(t *testing.T) {
	ctx := context.Background()
	f := newAddon(t)
	legit, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath, 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	mine, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath+"?room=pay-hc", 202)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	body, _ := json.Marshal(map[string]any{"oauthId": mine.OAuthID, "oauthSecret": mine.OAuthSecret, "roomId": 101, "groupId": 1,
		"capabilitiesUrl": f.hc.URL() + "/v2/capabilities"})
	resp, err := http.Post(f.srv.URL+hipchat.InstalledPath+"?room=ops", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	code, err = legit.SendMessage(ctx, "m-legit", "alice", "/ack 1")
	require.NoError(t, err)
	forged := mine
	forged.RoomID = 101
	tok := mine.Sign(mine.Claims(101, time.Now()))
	code2, _, err := forged.Send(ctx, tok, hipchattest.RoomMessage(101, "m-forged", "alice", "/resolve 1"))
	require.NoError(t, err)
	for drained := false; !drained; {
		select {
		case in := <-f.got:
			// the legit message may arrive; the forged one must not
			require.NotEqual(t, "/resolve 1", in.Text, "forged chat accepted")
		default:
			drained = true
		}
	}
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "an install must be for the room HipChat issued its credentials for")
	assert.Equal(t, "roomId", out["field"])
	require.Equal(t, http.StatusNoContent, code, "the real room's install still works")
	require.Equal(t, http.StatusUnauthorized, code2, "a JWT for another install's room is refused")

	// The attacker's own install is untouched, still in its own room.
	code, err = mine.SendMessage(ctx, "m-mine", "mallory", "hi")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code)
	assert.Equal(t, "202", (<-f.got).RoomID)
	logs := f.logs.String()
	assert.Contains(t, logs, "its credentials are for another HipChat room")
	for _, s := range []string{legit.OAuthSecret, mine.OAuthSecret} {
		assert.NotContains(t, logs, s)
	}
}

func TestAddonReinstallInTheSameRoomReplacesTheOldInstall(t *testing.T) {
	ctx := context.Background()
	f := newAddon(t)
	first, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath, 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	second, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath+"?room=pay-hc", 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, "HipChat confirms the re-install is for room 101")

	code, err = first.SendMessage(ctx, "m-1", "bob", "old install")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "the re-install replaced it")
	code, err = second.SendMessage(ctx, "m-2", "bob", "new install")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code)
	assert.Equal(t, "new install", (<-f.got).Text)
}

func TestInstallsRefuseAnOAuthIDStoredForAnotherRoom(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	installs, err := hipchat.OpenInstalls(db)
	require.NoError(t, err)
	a := hipchat.Install{OAuthID: "id-a", OAuthSecret: "secret-a", RoomID: "101", Room: "ops"}
	b := hipchat.Install{OAuthID: "id-b", OAuthSecret: "secret-b", RoomID: "202", Room: "pay-hc"}
	require.NoError(t, installs.Put(ctx, a))
	require.NoError(t, installs.Put(ctx, b))

	moved := b
	moved.RoomID = "101"
	err = installs.Put(ctx, moved)
	require.ErrorIs(t, err, hipchat.ErrOtherRoom)
	assert.NotContains(t, err.Error(), "secret-b")
	got, ok := installs.Get("id-a")
	require.True(t, ok, "room 101's install stays")
	assert.Equal(t, "101", got.RoomID)
	room, ok := installs.RoomOf("202")
	require.True(t, ok)
	assert.Equal(t, "pay-hc", room)
	assert.Equal(t, 2, installs.Len())

	// The same oauthId re-installed in its own room is an update.
	b.Room = "ops"
	require.NoError(t, installs.Put(ctx, b))
	room, _ = installs.RoomOf("202")
	assert.Equal(t, "ops", room)

	// And it all holds after a reload.
	reloaded, err := hipchat.OpenInstalls(db)
	require.NoError(t, err)
	assert.Equal(t, 2, reloaded.Len())
	room, _ = reloaded.RoomOf("101")
	assert.Equal(t, "ops", room)
}

// TestInstallWithoutARoomSessionIsRefused: a HipChat whose session for the
// install's token names no room (a global install) or another room.
func TestInstallWithoutARoomSessionIsRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		session string
		code    int
		field   string
	}{
		{"global", `{"client":{"client_id":"id-1","room":null}}`, http.StatusBadRequest, "roomId"},
		{"another room", `{"client":{"client_id":"id-1","room":{"id":202}}}`, http.StatusBadRequest, "roomId"},
		{"room as a string", `{"client":{"client_id":"id-1","room":{"id":"101"}}}`, http.StatusCreated, ""},
		{"not JSON", `nope`, http.StatusUnauthorized, "oauthSecret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sessionAuth string
			hc := http.NewServeMux()
			hc.HandleFunc("POST /v2/oauth/token", func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"access_token":"granted-token-123","token_type":"bearer","expires_in":3600}`))
			})
			hc.HandleFunc("GET /v2/oauth/token/{token}", func(w http.ResponseWriter, r *http.Request) {
				sessionAuth = r.PathValue("token") + " " + r.Header.Get("Authorization")
				_, _ = w.Write([]byte(c.session))
			})
			hcSrv := httptest.NewServer(hc)
			t.Cleanup(hcSrv.Close)
			db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			installs, err := hipchat.OpenInstalls(db)
			require.NoError(t, err)
			logs := &logtest.Buffer{}
			client := hipchat.New(hipchat.Options{BaseURL: hcSrv.URL, Installs: installs, Logger: logs.Logger(slog.LevelDebug)})
			mux := http.NewServeMux()
			client.RegisterAddon(mux, hipchat.Addon{PublicURL: "http://sitrep", Room: "ops", RoomExists: func(string) bool { return true }})
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			body, _ := json.Marshal(map[string]any{"oauthId": "id-1", "oauthSecret": "install-secret-0123", "roomId": 101, "groupId": 1,
				"capabilitiesUrl": hcSrv.URL + "/v2/capabilities"})
			resp, err := http.Post(srv.URL+hipchat.InstalledPath, "application/json", bytes.NewReader(body))
			require.NoError(t, err)
			var out map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			resp.Body.Close()
			assert.Equal(t, c.code, resp.StatusCode)
			if c.field != "" {
				assert.Equal(t, c.field, out["field"])
				assert.Equal(t, 0, installs.Len())
			}
			assert.Equal(t, "granted-token-123 Bearer granted-token-123", sessionAuth, "the granted token's session, asked with that token")
			for _, s := range []string{"install-secret-0123", "granted-token-123"} {
				assert.NotContains(t, logs.String(), s)
			}
		})
	}
}

func TestSignedWebhookLifetimeIsCapped(t *testing.T) {
	ctx := context.Background()
	f := newAddon(t)
	inst, code, err := f.hc.Install(ctx, f.srv.URL+hipchat.CapabilitiesPath, 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	now := time.Now()
	for _, c := range []struct {
		name     string
		lifetime time.Duration
		code     int
	}{
		{"HipChat's few minutes", 5 * time.Minute, http.StatusNoContent},
		{"at the cap", hipchat.MaxSignedLifetime, http.StatusNoContent},
		{"past the cap", hipchat.MaxSignedLifetime + time.Second, http.StatusUnauthorized},
		{"a year", 365 * 24 * time.Hour, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := inst.Claims(101, now)
			claims["exp"] = now.Add(c.lifetime).Unix()
			code, raw, err := inst.Send(ctx, inst.Sign(claims), hipchattest.RoomMessage(101, "m-"+c.name, "bob", "hi"))
			require.NoError(t, err)
			assert.Equal(t, c.code, code, "%s", raw)
			if c.code == http.StatusUnauthorized {
				assert.Contains(t, string(raw), `"field":"exp"`)
			} else {
				<-f.got
			}
		})
	}
}
