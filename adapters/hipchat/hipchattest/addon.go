package hipchattest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenPath is HipChat's OAuth 2 token endpoint, where an add-on trades an
// install's credentials for a token.
const TokenPath = "/v2/oauth/token"

// Installation is an add-on installed in a room, as the fake HipChat made it.
type Installation struct {
	OAuthID     string
	OAuthSecret string
	RoomID      int
	CallbackURL string // the descriptor's installable.callbackUrl
	WebhookURL  string // the descriptor's room_message webhook URL
}

// addonState is the fake's add-on installs: the credentials its token
// endpoint accepts. Its zero value is ready.
type addonState struct {
	mu      sync.Mutex
	secrets map[string]string // oauthId → oauthSecret
}

func (a *addonState) add(id, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.secrets == nil {
		a.secrets = map[string]string{}
	}
	a.secrets[id] = secret
}

func (a *addonState) revoke(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.secrets, id)
}

func (a *addonState) valid(id, secret string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	want, ok := a.secrets[id]
	return ok && secret != "" && secret == want
}

// serveToken grants a token for an install's client credentials, as
// HipChat's token endpoint does, and refuses any others.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || r.FormValue("grant_type") != "client_credentials" || !s.addon.valid(id, secret) {
		apiError(w, http.StatusUnauthorized, "", "Invalid OAuth client credentials")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + id, "expires_in": 3600, "token_type": "bearer",
		"scope": r.FormValue("scope")})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Install installs the add-on whose capabilities descriptor is at
// descriptorURL in room, as HipChat does: it reads the descriptor, makes
// new OAuth credentials and posts them to its installed callback. It
// returns the install and the callback's status.
func (s *Server) Install(ctx context.Context, descriptorURL string, room int) (Installation, int, error) {
	var d struct {
		Capabilities struct {
			Installable struct {
				CallbackURL string `json:"callbackUrl"`
			} `json:"installable"`
			Webhook []struct {
				Event, URL, Authentication string
			} `json:"webhook"`
		} `json:"capabilities"`
	}
	if err := getJSON(ctx, descriptorURL, &d); err != nil {
		return Installation{}, 0, err
	}
	inst := Installation{OAuthID: randomHex(16), OAuthSecret: randomHex(20), RoomID: room, CallbackURL: d.Capabilities.Installable.CallbackURL}
	for _, h := range d.Capabilities.Webhook {
		if h.Event == "room_message" && h.Authentication == "jwt" {
			inst.WebhookURL = h.URL
		}
	}
	s.addon.add(inst.OAuthID, inst.OAuthSecret)
	body, _ := json.Marshal(map[string]any{"oauthId": inst.OAuthID, "oauthSecret": inst.OAuthSecret, "roomId": room,
		"groupId": 1, "capabilitiesUrl": s.URL() + "/v2/capabilities"})
	code, err := do(ctx, http.MethodPost, inst.CallbackURL, body, "")
	return inst, code, err
}

// Uninstall removes inst as HipChat does: its credentials stop working and
// the callback URL gets DELETE {callbackUrl}/{oauthId}. It returns the status.
func (s *Server) Uninstall(ctx context.Context, inst Installation) (int, error) {
	s.addon.revoke(inst.OAuthID)
	return do(ctx, http.MethodDelete, inst.CallbackURL+"/"+inst.OAuthID, nil, "")
}

// Claims are the claims HipChat signs a webhook to inst in room with, valid
// from now for 5 minutes, with a new jti. Tests change them to forge one.
func (inst Installation) Claims(room int, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iss": inst.OAuthID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": randomHex(12), "prn": "7", "context": map[string]any{"room_id": room, "user_tz": "UTC"}}
}

// Sign signs claims with inst's secret, HS256, as HipChat does.
func (inst Installation) Sign(claims jwt.MapClaims) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(inst.OAuthSecret))
	if err != nil {
		panic(err) // HS256 with a []byte key does not fail
	}
	return tok
}

// RoomMessage is a room_message webhook body: user's text in room, as
// message id.
func RoomMessage(room int, id, user, text string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "room_message", "oauth_client_id": "c", "webhook_id": 1, "item": map[string]any{
		"message": map[string]any{"id": id, "date": time.Now().UTC().Format(time.RFC3339), "message": text,
			"from": map[string]any{"id": 7, "mention_name": user, "name": user}},
		"room": map[string]any{"id": room, "name": "room " + strconv.Itoa(room)}}})
	return b
}

// Send posts a room_message webhook body to inst's webhook URL with token
// as "Authorization: JWT" (none if empty), and returns the status and reply.
func (inst Installation) Send(ctx context.Context, token string, body []byte) (int, []byte, error) {
	auth := ""
	if token != "" {
		auth = "JWT " + token
	}
	return doBody(ctx, http.MethodPost, inst.WebhookURL, body, auth)
}

// SendMessage sends user's text in the install's room, signed as HipChat
// signs it; it returns the status.
func (inst Installation) SendMessage(ctx context.Context, id, user, text string) (int, error) {
	code, _, err := inst.Send(ctx, inst.Sign(inst.Claims(inst.RoomID, time.Now())), RoomMessage(inst.RoomID, id, user, text))
	return code, err
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func do(ctx context.Context, method, url string, body []byte, auth string) (int, error) {
	code, _, err := doBody(ctx, method, url, body, auth)
	return code, err
}

func doBody(ctx context.Context, method, url string, body []byte, auth string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}
