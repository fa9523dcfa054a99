package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/storage"
)

const testToken = "test-bot-token"

type fixture struct {
	fake *discordtest.Fake
	c    *Client
	srv  *httptest.Server // the interactions endpoint
	priv ed25519.PrivateKey
	db   *storage.DB
}

func newFixture(t testing.TB, handler adapters.Handler, tweak func(*Options)) *fixture {
	t.Helper()
	fake := discordtest.New(testToken)
	t.Cleanup(fake.Close)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	opts := Options{Token: testToken, APIURL: fake.URL(), PublicKey: pub, ApplicationID: "800000000000000001", Cards: NewCards(db), Handler: handler}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := New(opts)
	require.NoError(t, err)
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{fake: fake, c: c, srv: srv, priv: priv, db: db}
}

// runGateway runs the client's gateway until the test ends.
func (f *fixture) runGateway(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return f.fake.Connected() == 1 }, 5*time.Second, 5*time.Millisecond, "gateway up")
}

// sign signs body at ts with the fixture's key.
func (f *fixture) sign(req *http.Request, body []byte, ts time.Time) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(f.priv, append([]byte(stamp), body...))
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	req.Header.Set("X-Signature-Timestamp", stamp)
}

// post sends an interaction, signed now unless signed is false.
func (f *fixture) post(t testing.TB, body []byte, signed bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+InteractionsPath, bytes.NewReader(body))
	require.NoError(t, err)
	if signed {
		f.sign(req, body, time.Now())
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var userIDs = map[string]string{"alice": "700000000000000001", "bob": "700000000000000002", "carol": "700000000000000003"}

func userID(name string) string {
	if id, ok := userIDs[name]; ok {
		return id
	}
	return "700000000000000999"
}

var interactionSeq = time.Now().UnixNano()

// press is a button interaction on message in channel.
func press(channel, message, user, customID string) []byte {
	interactionSeq++
	raw, _ := json.Marshal(map[string]any{
		"id": strconv.FormatInt(interactionSeq, 10), "application_id": "800000000000000001", "type": 3, "token": "itoken-" + strconv.FormatInt(interactionSeq, 10),
		"channel_id": channel, "guild_id": "600000000000000001",
		"member":  map[string]any{"user": map[string]any{"id": userID(user), "username": user, "global_name": user}},
		"message": map[string]any{"id": message, "channel_id": channel, "embeds": []any{map[string]any{"title": "#42 card", "description": "card"}}},
		"data":    map[string]any{"custom_id": customID, "component_type": 2},
	})
	return raw
}

// command is a /sitrep interaction.
func command(channel, user, name, text string) []byte {
	interactionSeq++
	raw, _ := json.Marshal(map[string]any{
		"id": strconv.FormatInt(interactionSeq, 10), "application_id": "800000000000000001", "type": 2, "token": "itoken-" + strconv.FormatInt(interactionSeq, 10),
		"channel_id": channel, "guild_id": "600000000000000001",
		"member": map[string]any{"user": map[string]any{"id": userID(user), "username": user}},
		"data":   map[string]any{"id": "1", "name": name, "type": 1, "options": []any{map[string]any{"name": "text", "type": 3, "value": text}}},
	})
	return raw
}

func newHTTP(t testing.TB, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
