// Package slacktest is an in-process fake of the parts of Slack's Web API
// and Socket Mode that sitrep uses, for tests. It checks what Slack checks:
// the bot token (Bearer), the channel and the bot's membership in it, text
// or blocks, Block Kit structure and limits, that chat.update names a
// message it posted in that channel, and the special rate limit of
// chat.postMessage (about one message per second per channel, with a short
// burst), answering 429 with Retry-After past it. It also plays Slack's side
// towards the app: signed requests to its Request URLs (button presses, slash
// commands, events), or the same over a Socket Mode connection when the app
// has one open, and it records what the app answers through response URLs.
package slacktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Tokens the fake takes unless told otherwise.
const (
	BotToken = "xoxb-test-token"
	AppToken = "xapp-test-token"
	BotID    = "B0SITREP"
	BotUser  = "U0SITREP"
)

// Limits Slack applies, which the fake enforces.
const (
	MaxBlocks       = 50
	MaxHeader       = 150
	MaxSectionText  = 3000
	MaxFields       = 10
	MaxFieldText    = 2000
	MaxActions      = 25
	MaxButtonText   = 75
	MaxActionID     = 255
	MaxButtonValue  = 2000
	MaxMessageText  = 40000
	MaxContextItems = 10
)

// Message is one message as the fake shows it in a channel.
type Message struct {
	TS        string
	Channel   string
	Text      string
	Blocks    []slack.Block
	ThreadTS  string // parent's ts for a thread reply
	Broadcast bool   // a thread reply also sent to the channel
	Updates   int
	Bot       bool // posted by the app (through the Web API), not typed by a person
	At        time.Time
}

// Actions are the action_ids of the message's buttons, in order.
func (m Message) Actions() []string {
	var out []string
	for _, b := range m.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok && a.Elements != nil {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn.ActionID)
				}
			}
		}
	}
	return out
}

// Response is what the app posted to a response URL, or as an ephemeral
// message.
type Response struct {
	Channel         string
	User            string
	Text            string
	ResponseType    string // "ephemeral" or "in_channel"
	ReplaceOriginal bool
	At              time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithRateLimit sets chat.postMessage's limit per channel: burst messages at
// once, then one every per (Slack's: about one per second, a short burst).
func WithRateLimit(burst int, per time.Duration) Option {
	return func(s *Server) { s.burst, s.per = burst, per }
}

// WithAfterPost calls fn with each message chat.postMessage posts, before
// Slack's answer is sent: a test can kill the app between Slack posting and
// the app hearing of it.
func WithAfterPost(fn func(Message)) Option {
	return func(s *Server) { s.afterPost = fn }
}

type bucket struct {
	tokens float64
	at     time.Time
}

type channel struct {
	member bool
	msgs   []*Message
	bucket bucket
}

// Server is the fake.
type Server struct {
	tb  testing.TB
	srv *httptest.Server

	burst     int
	per       time.Duration
	afterPost func(Message)

	mu         sync.Mutex
	channels   map[string]*channel
	users      map[string]string // ID → display name
	userCalls  int
	responses  []Response
	n429       int
	tsSeq      uint64
	appURL     string // the app's base URL for Request URLs
	secret     string // signing secret
	sockets    []*websocket.Conn
	acks       map[string]chan json.RawMessage
	envSeq     int
	socketOpen int // apps.connections.open calls
}

// New starts a fake. It is closed when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	s := &Server{
		tb: tb, burst: 3, per: time.Second,
		channels: map[string]*channel{}, users: map[string]string{},
		acks: map[string]chan json.RawMessage{}, tsSeq: uint64(time.Now().UnixMicro()),
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", s.auth(s.postMessage))
	mux.HandleFunc("POST /api/chat.update", s.auth(s.update))
	mux.HandleFunc("POST /api/chat.postEphemeral", s.auth(s.postEphemeral))
	mux.HandleFunc("/api/users.info", s.auth(s.usersInfo))
	mux.HandleFunc("POST /api/apps.connections.open", s.openConnection)
	mux.HandleFunc("GET /socket", s.socket)
	mux.HandleFunc("POST /response/{channel}/{user}", s.response)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { answer(w, "unknown_method") })
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the fake and drops any socket.
func (s *Server) Close() {
	s.DropSockets()
	s.srv.Close()
}

// URL is the Web API base, for slack.OptionAPIURL (with a trailing slash
// added by the client) or the slack.api_url setting.
func (s *Server) URL() string { return s.srv.URL + "/api" }

// AddChannel adds channel id; member says whether the bot is in it.
func (s *Server) AddChannel(id string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[id] = &channel{member: member}
}

// UserID is the fake's Slack user ID for a responder called name.
func UserID(name string) string { return "U" + strings.ToUpper(hex.EncodeToString([]byte(name))) }

// AddUser adds a user whose display name is name, returning its ID.
func (s *Server) AddUser(name string) string {
	id := UserID(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = name
	return id
}

// UsersInfoCalls counts users.info calls.
func (s *Server) UsersInfoCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userCalls
}

// SetApp tells the fake where the app's Request URLs are (base + /slack/...)
// and the signing secret it signs them with.
func (s *Server) SetApp(baseURL, signingSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appURL, s.secret = strings.TrimRight(baseURL, "/"), signingSecret
}

// Messages returns channel's messages, oldest first.
func (s *Server) Messages(ch string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[ch]
	if c == nil {
		return nil
	}
	out := make([]Message, len(c.msgs))
	for i, m := range c.msgs {
		out[i] = *m
	}
	return out
}

// Message returns the message ts in channel.
func (s *Server) Message(ch, ts string) (Message, bool) {
	for _, m := range s.Messages(ch) {
		if m.TS == ts {
			return m, true
		}
	}
	return Message{}, false
}

// Responses returns what the app answered through response URLs and
// ephemeral messages, oldest first.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// Count429 counts the 429s the fake answered.
func (s *Server) Count429() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n429
}

// ConnectionsOpened counts apps.connections.open calls.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socketOpen
}

func answer(w http.ResponseWriter, errCode string) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": errCode})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return t
	}
	return r.FormValue("token")
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			answer(w, "invalid_form_data")
			return
		}
		switch t := bearer(r); t {
		case BotToken:
			next(w, r)
		case "":
			answer(w, "not_authed")
		default:
			answer(w, "invalid_auth")
		}
	}
}

// lookup finds the channel named in the request and checks the bot is in
// it; it answers the error itself.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *channel {
	c := s.channels[r.FormValue("channel")]
	switch {
	case r.FormValue("channel") == "":
		answer(w, "channel_not_found")
	case c == nil:
		answer(w, "channel_not_found")
	case !c.member:
		answer(w, "not_in_channel")
	default:
		return c
	}
	return nil
}

func (s *Server) nextTS() string {
	s.tsSeq++
	return fmt.Sprintf("%d.%06d", s.tsSeq/1e6, s.tsSeq%1e6)
}

// content checks text and blocks as Slack does; it answers the error itself.
func content(w http.ResponseWriter, r *http.Request) (string, []slack.Block, bool) {
	text := r.FormValue("text")
	var blocks []slack.Block
	if raw := r.FormValue("blocks"); raw != "" {
		var bs slack.Blocks
		if err := json.Unmarshal([]byte(raw), &bs); err != nil {
			answer(w, "invalid_blocks_format")
			return "", nil, false
		}
		if err := CheckBlocks(bs.BlockSet); err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks", "errors": []string{err.Error()}})
			return "", nil, false
		}
		blocks = bs.BlockSet
	}
	if strings.TrimSpace(text) == "" && len(blocks) == 0 {
		answer(w, "no_text")
		return "", nil, false
	}
	if utf8.RuneCountInString(text) > MaxMessageText {
		answer(w, "msg_too_long")
		return "", nil, false
	}
	return text, blocks, true
}

// CheckBlocks checks blocks against Block Kit's structure and limits, for
// the kinds of block sitrep sends.
func CheckBlocks(blocks []slack.Block) error {
	if len(blocks) > MaxBlocks {
		return fmt.Errorf("%d blocks, at most %d", len(blocks), MaxBlocks)
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if b.Text == nil || b.Text.Type != slack.PlainTextType || b.Text.Text == "" {
				return fmt.Errorf("block %d: header needs plain_text", i)
			}
			if n := utf8.RuneCountInString(b.Text.Text); n > MaxHeader {
				return fmt.Errorf("block %d: header text %d chars, at most %d", i, n, MaxHeader)
			}
		case *slack.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("block %d: section needs text or fields", i)
			}
			if b.Text != nil {
				if n := utf8.RuneCountInString(b.Text.Text); n == 0 || n > MaxSectionText {
					return fmt.Errorf("block %d: section text %d chars, 1 to %d", i, n, MaxSectionText)
				}
			}
			if len(b.Fields) > MaxFields {
				return fmt.Errorf("block %d: %d fields, at most %d", i, len(b.Fields), MaxFields)
			}
			for _, f := range b.Fields {
				if n := utf8.RuneCountInString(f.Text); n == 0 || n > MaxFieldText {
					return fmt.Errorf("block %d: field text %d chars, 1 to %d", i, n, MaxFieldText)
				}
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > MaxContextItems {
				return fmt.Errorf("block %d: context has %d elements, 1 to %d", i, n, MaxContextItems)
			}
		case *slack.DividerBlock:
		case *slack.ActionBlock:
			if b.Elements == nil || len(b.Elements.ElementSet) == 0 || len(b.Elements.ElementSet) > MaxActions {
				return fmt.Errorf("block %d: actions need 1 to %d elements", i, MaxActions)
			}
			for _, e := range b.Elements.ElementSet {
				btn, ok := e.(*slack.ButtonBlockElement)
				if !ok {
					return fmt.Errorf("block %d: element %T not a button", i, e)
				}
				if btn.Text == nil || btn.Text.Type != slack.PlainTextType || btn.Text.Text == "" || utf8.RuneCountInString(btn.Text.Text) > MaxButtonText {
					return fmt.Errorf("block %d: button text must be 1 to %d plain_text chars", i, MaxButtonText)
				}
				if btn.ActionID == "" || len(btn.ActionID) > MaxActionID || ids[btn.ActionID] {
					return fmt.Errorf("block %d: action_id %q missing, too long or repeated", i, btn.ActionID)
				}
				ids[btn.ActionID] = true
				if len(btn.Value) > MaxButtonValue {
					return fmt.Errorf("block %d: button value too long", i)
				}
			}
		default:
			return fmt.Errorf("block %d: unexpected block type %T", i, b)
		}
	}
	return nil
}

// take spends a token of c's bucket, or says how long until one is there.
func (s *Server) take(c *channel, now time.Time) (time.Duration, bool) {
	b := &c.bucket
	if b.at.IsZero() {
		b.tokens, b.at = float64(s.burst), now
	}
	b.tokens = min(float64(s.burst), b.tokens+float64(now.Sub(b.at))/float64(s.per))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) * float64(s.per)), false
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookup(w, r)
	if c == nil {
		return
	}
	text, blocks, ok := content(w, r)
	if !ok {
		return
	}
	parent := r.FormValue("thread_ts")
	if parent != "" && !slices.ContainsFunc(c.msgs, func(m *Message) bool { return m.TS == parent }) {
		answer(w, "thread_not_found")
		return
	}
	now := time.Now()
	if wait, ok := s.take(c, now); !ok {
		s.n429++
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	m := &Message{TS: s.nextTS(), Channel: r.FormValue("channel"), Text: text, Blocks: blocks, ThreadTS: parent,
		Broadcast: parent != "" && r.FormValue("reply_broadcast") == "true", Bot: true, At: now}
	c.msgs = append(c.msgs, m)
	if s.afterPost != nil {
		s.afterPost(*m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS,
		"message": map[string]any{"text": text, "ts": m.TS, "bot_id": BotID, "type": "message"}})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookup(w, r)
	if c == nil {
		return
	}
	ts := r.FormValue("ts")
	i := slices.IndexFunc(c.msgs, func(m *Message) bool { return m.TS == ts })
	if ts == "" || i < 0 {
		answer(w, "message_not_found")
		return
	}
	text, blocks, ok := content(w, r)
	if !ok {
		return
	}
	m := c.msgs[i]
	m.Text, m.Blocks = text, blocks
	m.Updates++
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": text})
}

func (s *Server) postEphemeral(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lookup(w, r); c == nil {
		return
	}
	user := r.FormValue("user")
	if _, ok := s.users[user]; !ok {
		answer(w, "user_not_found")
		return
	}
	text, _, ok := content(w, r)
	if !ok {
		return
	}
	s.responses = append(s.responses, Response{Channel: r.FormValue("channel"), User: user, Text: text, ResponseType: "ephemeral", At: time.Now()})
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message_ts": s.nextTS()})
}

func (s *Server) usersInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userCalls++
	id := r.FormValue("user")
	name, ok := s.users[id]
	if !ok {
		answer(w, "user_not_found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "user": map[string]any{
		"id": id, "name": name, "real_name": name, "profile": map[string]any{"display_name": name, "real_name": name},
	}})
}

// response records what the app posted to a response URL.
func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text            string `json:"text"`
		ResponseType    string `json:"response_type"`
		ReplaceOriginal bool   `json:"replace_original"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	if body.ResponseType == "" {
		body.ResponseType = "ephemeral" // Slack's default for response URLs
	}
	s.mu.Lock()
	s.responses = append(s.responses, Response{Channel: r.PathValue("channel"), User: r.PathValue("user"), Text: body.Text,
		ResponseType: body.ResponseType, ReplaceOriginal: body.ReplaceOriginal, At: time.Now()})
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// ResponseURL is the response URL the fake gives a request from user in channel.
func (s *Server) ResponseURL(ch, user string) string {
	return s.srv.URL + "/response/" + ch + "/" + user
}

// Sign returns the headers Slack signs a request body with.
func Sign(secret string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write([]byte("v0:" + ts + ":"))
	_, _ = mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// ErrNoApp means SetApp was not called and no socket is open.
var ErrNoApp = errors.New("slacktest: no Request URL set and no Socket Mode connection")

// Reply is what the app answered Slack: the HTTP status and body, or a
// Socket Mode ack's payload (Status 200).
type Reply struct {
	Status int
	Body   []byte
}

// deliver sends a request to the app the way Slack would: over a Socket
// Mode connection if the app has one, else signed to path on its Request URL.
func (s *Server) deliver(ctx context.Context, typ, path, contentType string, httpBody []byte, payload any) (Reply, error) {
	s.mu.Lock()
	open := len(s.sockets) > 0
	base, secret := s.appURL, s.secret
	s.mu.Unlock()
	if open {
		return s.sendSocket(ctx, typ, payload)
	}
	if base == "" {
		return Reply{}, ErrNoApp
	}
	return Post(ctx, base+path, contentType, secret, time.Now(), httpBody, nil)
}

// Post sends a signed request to url, with extra headers.
func Post(ctx context.Context, url, contentType, secret string, at time.Time, body []byte, extra http.Header) (Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return Reply{}, err
	}
	for k, v := range Sign(secret, at, body) {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Status: resp.StatusCode, Body: b}, nil
}

// ButtonValue is the value of the button actionID on m ("" if none).
func (m Message) ButtonValue(actionID string) string {
	for _, b := range m.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok && a.Elements != nil {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == actionID {
					return btn.Value
				}
			}
		}
	}
	return ""
}

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// Shown is a message text as Slack shows it: its escapes (&amp; &lt; &gt;)
// read back as the characters they stand for.
func Shown(text string) string { return unescaper.Replace(text) }
