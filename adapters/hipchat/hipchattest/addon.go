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
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenPath is HipChat's OAuth 2 token endpoint, where an add-on trades an
// install's credentials for a token; GET TokenPath/{token} is the token's
// session (get_session), naming the client and, for a room install, its room.
const TokenPath = "/v2/oauth/token"

// Installation is an add-on installed in a room, as the fake HipChat made it.
type Installation struct {
	OAuthID     string
	OAuthSecret string
	RoomID      int
	CallbackURL string // the descriptor's installable.callbackUrl
	WebhookURL  string // the descriptor's room_message webhook URL
}

// client is an install's OAuth client: its secret and the room HipChat
// issued it for.
type client struct {
	secret string
	room   int
}

// addonState is the fake's add-on installs: the credentials its token
// endpoint accepts, each tied to its room, and the tokens it granted. Its
// zero value is ready.
type addonState struct {
	mu      sync.Mutex
	clients map[string]client // oauthId → its client
	tokens  map[string]string // access token → oauthId
}

func (a *addonState) add(id, secret string, room int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients == nil {
		a.clients = map[string]client{}
	}
	a.clients[id] = client{secret: secret, room: room}
}

func (a *addonState) revoke(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, id)
	for tok, owner := range a.tokens {
		if owner == id {
			delete(a.tokens, tok)
		}
	}
}

// grant returns a new token for client id if secret is its secret.
func (a *addonState) grant(id, secret string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[id]
	if !ok || secret == "" || secret != c.secret {
		return "", false
	}
	if a.tokens == nil {
		a.tokens = map[string]string{}
	}
	tok := randomHex(20)
	a.tokens[tok] = id
	return tok, true
}

// session returns the client token was granted to.
func (a *addonState) session(tok string) (string, client, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.tokens[tok]
	if !ok {
		return "", client{}, false
	}
	c, ok := a.clients[id]
	return id, c, ok
}

// serveToken grants a token for an install's client credentials, as
// HipChat's token endpoint does, and refuses any others.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || r.FormValue("grant_type") != "client_credentials" {
		apiError(w, http.StatusUnauthorized, "", "Invalid OAuth client credentials")
		return
	}
	tok, ok := s.addon.grant(id, secret)
	if !ok {
		apiError(w, http.StatusUnauthorized, "", "Invalid OAuth client credentials")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3600, "token_type": "bearer",
		"scope": r.FormValue("scope")})
}

// serveSession answers GET TokenPath/{token} as HipChat's get_session does:
// the session of a token it granted, with the client's room, for a request
// authenticated with that token ("Authorization: Bearer" or auth_token).
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	auth := r.URL.Query().Get("auth_token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		auth = strings.TrimSpace(h)
	}
	id, c, ok := s.addon.session(tok)
	if !ok || auth != tok {
		apiError(w, http.StatusUnauthorized, "", "Invalid OAuth session")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3600, "group_id": 1,
		"scopes": []string{"send_notification", "view_messages"},
		"client": map[string]any{"client_id": id, "group_id": 1,
			"room": map[string]any{"id": c.room, "name": "room " + strconv.Itoa(c.room)}}})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Install installs the add-on whose capabilities descriptor is at
// descriptorURL in room, as HipChat does: it reads the descriptor, makes
// new OAuth credentials for room and posts them to its installed callback.
// It returns the install and the callback's status.
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
	s.addon.add(inst.OAuthID, inst.OAuthSecret, room)
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
