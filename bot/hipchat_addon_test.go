package bot

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/storage"
)

// addonConfig is hipchatConfig on a port known in advance, so the add-on
// descriptor can name sitrep's public URL; extra goes into the hipchat block.
func addonConfig(t *testing.T, data, hipchatURL, extra string) (string, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := strings.Replace(hipchatConfig(data, hipchatURL), "listen: 127.0.0.1:0", "listen: "+addr+"\npublic_url: http://"+addr, 1)
	cfg = strings.Replace(cfg, "hipchat:\n", "hipchat:\n"+extra, 1)
	return cfg, "http://" + addr
}

// inboxSeen reports whether the inbox took a HipChat message with this key.
func inboxSeen(t *testing.T, tb *testBot, key string) bool {
	var seen bool
	require.NoError(t, tb.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(storage.BucketInboxSeen).Get([]byte("hipchat\x00"+key)) != nil
		return nil
	}))
	return seen
}

func TestHipChatAddonInstallSignedChatAndUninstall(t *testing.T) {
	ctx := context.Background()
	hc := newHipChat(t)
	data := newDataPath(t)
	cfg, public := addonConfig(t, data, hc.URL(), "")
	tb := startBot(t, cfg)
	ops := tb.join(t, "ops")

	code, desc := tb.do(t, http.MethodGet, "/hipchat/capabilities.json?room=pay-hc", "", nil)
	require.Equal(t, http.StatusOK, code)
	caps := desc["capabilities"].(map[string]any)
	assert.Equal(t, public+"/hipchat/installed?room=pay-hc", caps["installable"].(map[string]any)["callbackUrl"])
	assert.Equal(t, false, caps["installable"].(map[string]any)["allowGlobal"])
	assert.Equal(t, []any{"send_notification", "view_messages"}, caps["hipchatApiConsumer"].(map[string]any)["scopes"])
	assert.Equal(t, []any{map[string]any{"event": "room_message", "url": public + "/hooks/hipchat", "name": "sitrep chat", "authentication": "jwt"}}, caps["webhook"])
	code, _ = tb.do(t, http.MethodGet, "/hipchat/capabilities.json?room=nowhere", "", nil)
	assert.Equal(t, http.StatusNotFound, code)

	inst, code, err := hc.Install(ctx, public+"/hipchat/capabilities.json?room=pay-hc", 101)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)
	// HipChat room 303 is no sitrep room's: its install attributes it to "payments".
	other, code, err := hc.Install(ctx, public+"/hipchat/capabilities.json?room=payments", 303)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code)

	id := num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "signed", "routing_key": "payments", "entity_display_name": "Checkout down",
		"runbook_url": "https://wiki/checkout"})["incident_id"])
	waitMessages(t, hc, "101", 1)

	code, err = inst.SendMessage(ctx, "m-1", "bob", fmt.Sprintf("#%d rolling back the deploy", id))
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, code)
	ops.waitFor(t, 5*time.Second, "the signed HipChat line in the web room", textHas("bob: rolling back the deploy"))
	code, err = other.SendMessage(ctx, "m-2", "carol", fmt.Sprintf("#%d from the war room", id))
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, code)
	ops.waitFor(t, 5*time.Second, "the installed room's line", textHas("carol: from the war room"))
	events := tb.incident(t, id)["events"].([]any)
	assert.Equal(t, "pay-hc", events[len(events)-2].(map[string]any)["origin"].(map[string]any)["room"])
	assert.Equal(t, "payments", events[len(events)-1].(map[string]any)["origin"].(map[string]any)["room"], "the install maps HipChat room 303")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := inst.Claims(101, now)
		if edit != nil {
			edit(c)
		}
		return c
	}
	replayed := inst.Sign(claims(nil))
	msg := func(key string, room int) []byte {
		return hipchattest.RoomMessage(room, key, "mallory", fmt.Sprintf("/resolve %d", id))
	}
	code, _, err = inst.Send(ctx, replayed, hipchattest.RoomMessage(101, "r-0", "bob", fmt.Sprintf("#%d first look", id)))
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, code)

	cases := []struct {
		name, token string
		room        int
		field       string
	}{
		{"bad signature", hipchattest.Installation{OAuthSecret: "not-the-secret"}.Sign(claims(nil)), 101, "authorization"},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), 101, "authorization"},
		{"RS256", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil)).SignedString(rsaKey)
			return s
		}(), 101, "authorization"},
		{"expired", inst.Sign(claims(func(c jwt.MapClaims) { c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix() })), 101, "exp"},
		{"no exp", inst.Sign(claims(func(c jwt.MapClaims) { delete(c, "exp") })), 101, "exp"},
		{"no iat", inst.Sign(claims(func(c jwt.MapClaims) { delete(c, "iat") })), 101, "iat"},
		{"iat in the future", inst.Sign(claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), 101, "iat"},
		{"no jti", inst.Sign(claims(func(c jwt.MapClaims) { delete(c, "jti") })), 101, "jti"},
		{"unknown iss", inst.Sign(claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" })), 101, "iss"},
		{"JWT for another room", inst.Sign(claims(func(c jwt.MapClaims) { c["context"] = map[string]any{"room_id": 202} })), 202, "context.room_id"},
		{"body names another room", inst.Sign(claims(nil)), 202, "item.room.id"},
		{"replayed jti", replayed, 101, "jti"},
		{"unsigned, no webhook token", "", 101, "authorization"},
	}
	before := len(tb.incident(t, id)["events"].([]any))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprintf("bad-%d", i)
			code, raw, err := inst.Send(ctx, c.token, msg(key, c.room))
			require.NoError(t, err)
			assert.Equal(t, http.StatusUnauthorized, code)
			var body map[string]string
			require.NoError(t, json.Unmarshal(raw, &body))
			assert.Equal(t, c.field, body["field"])
			assert.NotEmpty(t, body["error"])
			assert.False(t, inboxSeen(t, tb, fmt.Sprintf("%d:%s", c.room, key)), "nothing stored")
		})
	}
	assert.Len(t, tb.incident(t, id)["events"].([]any), before, "nothing handled")
	assert.Equal(t, "triggered", tb.incident(t, id)["state"])

	logs := tb.logs.String()
	assert.Contains(t, logs, "hipchat webhook refused")
	for _, secret := range []string{inst.OAuthSecret, other.OAuthSecret, replayed} {
		assert.NotContains(t, logs, secret)
	}

	// A restart does not reopen the replay.
	tb.stop()
	tb = startBot(t, cfg)
	code, raw, err := inst.Send(ctx, replayed, msg("r-1", 101))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, "%s", raw)
	assert.Contains(t, string(raw), `"field":"jti"`)
	// The install survived the restart.
	code, err = inst.SendMessage(ctx, "m-3", "bob", fmt.Sprintf("#%d after the restart", id))
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code)

	// Uninstall: the room's signed webhooks are refused from then on.
	code, err = hc.Uninstall(ctx, inst)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, code)
	code, err = hc.Uninstall(ctx, inst)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, code)
	code, raw, err = inst.Send(ctx, inst.Sign(inst.Claims(101, time.Now())), msg("m-4", 101))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, string(raw), `"field":"iss"`)
	assert.NotContains(t, tb.logs.String(), inst.OAuthSecret)
}

func TestHipChatUnsignedWebhookFromAnUnmappedRoomIsRefused(t *testing.T) {
	hc := newHipChat(t)
	cfg, _ := addonConfig(t, newDataPath(t), hc.URL(), "  webhook_token: hook-token-0123456789\n")
	tb := startBot(t, cfg)
	for _, c := range []struct {
		room int
		want int
	}{{999, http.StatusForbidden}, {101, http.StatusNoContent}} {
		body := hipchattest.RoomMessage(c.room, "u-1", "bob", "just chatting")
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		code, out := tb.do(t, http.MethodPost, "/hooks/hipchat?token=hook-token-0123456789", "", v)
		assert.Equal(t, c.want, code, "room %d", c.room)
		if c.want == http.StatusForbidden {
			assert.Equal(t, "item.room.id", out["field"])
			assert.False(t, inboxSeen(t, tb, fmt.Sprintf("%d:u-1", c.room)), "nothing stored")
		}
	}
}
