// Package discordtest is a fake Discord for tests: the REST routes sitrep
// uses (messages, threads, direct messages, application commands,
// interaction webhooks), checked the way Discord checks them, and a gateway
// on gorilla/websocket that says HELLO, takes IDENTIFY or RESUME, answers
// heartbeats and dispatches MESSAGE_CREATE.
package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
)

// BotID is the fake bot's user ID, as READY reports it.
const BotID = "900000000000000001"

// Message is a message as the fake keeps it.
type Message struct {
	ID, ChannelID string
	Content       string
	Embeds        []*discordgo.MessageEmbed
	Buttons       []string // custom_ids, in order
	Nonce         string
	Mentions      json.RawMessage // allowed_mentions as sent
	Edits         int
	Author        string // user ID; BotID for sitrep's
}

// Text is what the message shows: its content, else its first embed's description.
func (m Message) Text() string {
	if m.Content != "" || len(m.Embeds) == 0 {
		return m.Content
	}
	return m.Embeds[0].Description
}

// Webhook is what sitrep sent through an interaction's webhook.
type Webhook struct {
	Method, Path string
	Body         map[string]any
}

// Fake is a fake Discord.
type Fake struct {
	Server *httptest.Server
	Token  string // the bot token it takes, without "Bot "
	// Limit and Per are each channel's rate limit, per route (default 5 per 5 s).
	Limit int
	Per   time.Duration

	mu          sync.Mutex
	next        uint64
	channels    map[string]string // channel ID → parent channel ID ("" for a channel); threads and DMs too
	dms         map[string]string // DM channel ID → user ID
	msgs        map[string]*Message
	order       []string
	nonces      map[string]string // channel ‖ nonce → message ID
	windows     map[string]*window
	requests    int
	limited     int // 429s served
	creates     int
	nonceUses   map[string]int // nonce → create requests that carried it
	afterCreate func(Message)
	commands    map[string][]map[string]any // "app/guild" → commands
	webhooks    []Webhook
	conns       map[*websocket.Conn]*sync.Mutex
	seq         int
	identify    int
	resumes     int
	heartbeats  int
}

type window struct {
	start time.Time
	count int
}

// New starts a fake that takes token.
func New(token string) *Fake {
	f := &Fake{Token: token, Limit: 5, Per: 5 * time.Second, next: 1000000000000000000,
		channels: map[string]string{}, dms: map[string]string{}, msgs: map[string]*Message{}, nonces: map[string]string{}, nonceUses: map[string]int{},
		windows: map[string]*window{}, commands: map[string][]map[string]any{}, conns: map[*websocket.Conn]*sync.Mutex{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v9/gateway", f.gateway)
	mux.HandleFunc("GET /api/v9/gateway/bot", f.gateway)
	mux.HandleFunc("POST /api/v9/channels/{ch}/messages", f.create)
	mux.HandleFunc("PATCH /api/v9/channels/{ch}/messages/{id}", f.edit)
	mux.HandleFunc("POST /api/v9/channels/{ch}/messages/{id}/threads", f.thread)
	mux.HandleFunc("POST /api/v9/users/@me/channels", f.dm)
	mux.HandleFunc("PUT /api/v9/applications/{app}/commands", f.putCommands)
	mux.HandleFunc("PUT /api/v9/applications/{app}/guilds/{guild}/commands", f.putCommands)
	mux.HandleFunc("/api/v9/webhooks/", f.webhook)
	mux.HandleFunc("/gateway/", f.serveGateway)
	f.Server = httptest.NewServer(mux)
	return f
}

// Close stops the fake.
func (f *Fake) Close() {
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.Server.Close()
}

// URL is the fake's base, for discord.api_url.
func (f *Fake) URL() string { return f.Server.URL }

// AddChannel makes a channel and returns its ID.
func (f *Fake) AddChannel() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.channels[id] = ""
	return id
}

func (f *Fake) id() string {
	f.next++
	return strconv.FormatUint(f.next, 10)
}

// Messages returns the channel's messages, oldest first (a thread's too,
// by the thread's ID).
func (f *Fake) Messages(channel string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, id := range f.order {
		if m := f.msgs[id]; m.ChannelID == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns one message.
func (f *Fake) Message(id string) (Message, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.msgs[id]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Parent returns the channel a thread hangs in; "" for a channel.
func (f *Fake) Parent(channel string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.channels[channel]
}

// DMs returns the texts sent to user by direct message.
func (f *Fake) DMs(user string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, id := range f.order {
		m := f.msgs[id]
		if u, ok := f.dms[m.ChannelID]; ok && u == user {
			out = append(out, m.Text())
		}
	}
	return out
}

// Counts are what the fake has served: requests, 429s and message creates.
func (f *Fake) Counts() (requests, limited, creates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.limited, f.creates
}

// NonceUses reports how many message creates carried nonce, whether they
// made a message or got the one it already made back.
func (f *Fake) NonceUses(nonce string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nonceUses[nonce]
}

// AfterCreate sets fn to run once a create has made its message and before
// the fake answers it (nil: nothing). A create answered with the message its
// nonce already made does not run it.
func (f *Fake) AfterCreate(fn func(Message)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterCreate = fn
}

// Commands returns the application commands registered for app (in guild, if set).
func (f *Fake) Commands(app, guild string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commands[app+"/"+guild]
}

// Webhooks returns what was sent through interaction webhooks.
func (f *Fake) Webhooks() []Webhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.webhooks)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

// authorized checks the Bot token; it counts the request.
func (f *Fake) authorized(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bot "+f.Token {
		apiError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
		return false
	}
	return true
}

// limit applies the channel's per-route limit; f.mu is held. It reports
// whether the request may go on, having answered 429 if not.
func (f *Fake) limit(w http.ResponseWriter, key string) bool {
	now := time.Now()
	win := f.windows[key]
	if win == nil || now.Sub(win.start) >= f.Per {
		win = &window{start: now}
		f.windows[key] = win
	}
	resetAfter := win.start.Add(f.Per).Sub(now).Seconds()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(f.Limit))
	h.Set("X-RateLimit-Bucket", key)
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(resetAfter, 'f', 3, 64))
	if win.count >= f.Limit {
		f.limited++
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Scope", "user")
		h.Set("Retry-After", strconv.Itoa(int(resetAfter+0.999)))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": resetAfter, "global": false})
		return false
	}
	win.count++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(f.Limit-win.count))
	return true
}

type sendBody struct {
	Content         *string                   `json:"content"`
	Embeds          []*discordgo.MessageEmbed `json:"embeds"`
	Components      []json.RawMessage         `json:"components"`
	AllowedMentions json.RawMessage           `json:"allowed_mentions"`
	Nonce           *string                   `json:"nonce"`
	EnforceNonce    bool                      `json:"enforce_nonce"`
	Reference       json.RawMessage           `json:"message_reference"`
}

// invalid checks content and embed limits; "" if the body is fine.
func invalid(b *sendBody) string {
	if b.Content != nil && utf8.RuneCountInString(*b.Content) > 2000 {
		return "content: Must be 2000 or fewer in length."
	}
	if len(b.Embeds) > 10 {
		return "embeds: Must be 10 or fewer in length."
	}
	total := 0
	for _, e := range b.Embeds {
		if e == nil {
			return "embeds: null embed"
		}
		if utf8.RuneCountInString(e.Title) > 256 {
			return "embeds.0.title: Must be 256 or fewer in length."
		}
		if utf8.RuneCountInString(e.Description) > 4096 {
			return "embeds.0.description: Must be 4096 or fewer in length."
		}
		if len(e.Fields) > 25 {
			return "embeds.0.fields: Must be 25 or fewer in length."
		}
		total += utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
		if e.Footer != nil {
			total += utf8.RuneCountInString(e.Footer.Text)
		}
		for _, fl := range e.Fields {
			if utf8.RuneCountInString(fl.Name) > 256 || utf8.RuneCountInString(fl.Value) > 1024 {
				return "embeds.0.fields: name or value too long"
			}
			total += utf8.RuneCountInString(fl.Name) + utf8.RuneCountInString(fl.Value)
		}
	}
	if total > 6000 {
		return "embeds: Embed size exceeds maximum size of 6000"
	}
	if b.Nonce != nil && len(*b.Nonce) > 25 {
		return "nonce: Must be 25 or fewer in length."
	}
	return ""
}

func buttons(raw []json.RawMessage) ([]string, error) {
	var out []string
	for _, row := range raw {
		var r struct {
			Type       int `json:"type"`
			Components []struct {
				Type     int    `json:"type"`
				CustomID string `json:"custom_id"`
				Label    string `json:"label"`
			} `json:"components"`
		}
		if err := json.Unmarshal(row, &r); err != nil || r.Type != 1 {
			return nil, fmt.Errorf("components: not an action row")
		}
		for _, c := range r.Components {
			if c.Type != 2 || c.CustomID == "" || c.Label == "" {
				return nil, fmt.Errorf("components: a button needs a custom_id and a label")
			}
			out = append(out, c.CustomID)
		}
	}
	return out, nil
}

func decodeSend(w http.ResponseWriter, r *http.Request) (*sendBody, []string, bool) {
	var b sendBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body")
		return nil, nil, false
	}
	if msg := invalid(&b); msg != "" {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body: "+msg)
		return nil, nil, false
	}
	btns, err := buttons(b.Components)
	if err != nil {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body: "+err.Error())
		return nil, nil, false
	}
	return &b, btns, true
}

func (m *Message) wire() map[string]any {
	out := map[string]any{"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "embeds": m.Embeds,
		"author": map[string]any{"id": m.Author, "username": "sitrep", "bot": m.Author == BotID}, "timestamp": time.Now().UTC().Format(time.RFC3339)}
	if m.Nonce != "" {
		out["nonce"] = m.Nonce
	}
	var rows []any
	if len(m.Buttons) > 0 {
		var comps []any
		for _, id := range m.Buttons {
			comps = append(comps, map[string]any{"type": 2, "style": 1, "label": id, "custom_id": id})
		}
		rows = append(rows, map[string]any{"type": 1, "components": comps})
	}
	out["components"] = rows
	return out
}

// begin checks the token, decodes a message body and checks the channel; on
// success it returns with f.mu held, for the caller to unlock.
func (f *Fake) begin(w http.ResponseWriter, r *http.Request) (*sendBody, []string, bool) {
	if !f.authorized(w, r) {
		return nil, nil, false
	}
	b, btns, ok := decodeSend(w, r)
	if !ok {
		return nil, nil, false
	}
	f.mu.Lock()
	if _, ok := f.channels[r.PathValue("ch")]; !ok {
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, discordgo.ErrCodeUnknownChannel, "Unknown Channel")
		return nil, nil, false
	}
	return b, btns, true
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	ch := r.PathValue("ch")
	b, btns, ok := f.begin(w, r)
	if !ok {
		return
	}
	m, after, ok := f.newMessage(w, ch, b, btns)
	f.mu.Unlock()
	if !ok {
		return
	}
	if after != nil {
		after(m)
	}
	writeJSON(w, http.StatusOK, m.wire())
}

// newMessage makes the message a create asks for, or finds the one its
// nonce already made; f.mu is held. It returns a copy of the message and,
// for a new one, the hook to run; having answered an error, ok is false.
func (f *Fake) newMessage(w http.ResponseWriter, ch string, b *sendBody, btns []string) (_ Message, after func(Message), ok bool) {
	if !f.limit(w, "POST "+ch) {
		return Message{}, nil, false
	}
	if b.Nonce != nil {
		f.nonceUses[*b.Nonce]++
	}
	if b.Nonce != nil && b.EnforceNonce {
		if id, ok := f.nonces[ch+"\x00"+*b.Nonce]; ok {
			return *f.msgs[id], nil, true
		}
	}
	if (b.Content == nil || *b.Content == "") && len(b.Embeds) == 0 {
		apiError(w, http.StatusBadRequest, 50006, "Cannot send an empty message")
		return Message{}, nil, false
	}
	m := &Message{ID: f.id(), ChannelID: ch, Embeds: b.Embeds, Buttons: btns, Mentions: b.AllowedMentions, Author: BotID}
	if b.Content != nil {
		m.Content = *b.Content
	}
	if b.Nonce != nil {
		m.Nonce = *b.Nonce
		if b.EnforceNonce {
			f.nonces[ch+"\x00"+*b.Nonce] = m.ID
		}
	}
	f.msgs[m.ID] = m
	f.order = append(f.order, m.ID)
	f.creates++
	return *m, f.afterCreate, true
}

func (f *Fake) edit(w http.ResponseWriter, r *http.Request) {
	ch, id := r.PathValue("ch"), r.PathValue("id")
	b, btns, ok := f.begin(w, r)
	if !ok {
		return
	}
	defer f.mu.Unlock()
	m, ok := f.msgs[id]
	if !ok || m.ChannelID != ch || m.Author != BotID {
		apiError(w, http.StatusNotFound, discordgo.ErrCodeUnknownMessage, "Unknown Message")
		return
	}
	if !f.limit(w, "PATCH "+ch) {
		return
	}
	if b.Content != nil {
		m.Content = *b.Content
	}
	if b.Embeds != nil {
		m.Embeds = b.Embeds
	}
	if b.Components != nil {
		m.Buttons = btns
	}
	m.Edits++
	writeJSON(w, http.StatusOK, m.wire())
}

func (f *Fake) thread(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	ch, id := r.PathValue("ch"), r.PathValue("id")
	var b struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Name == "" || utf8.RuneCountInString(b.Name) > 100 {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body: name")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.msgs[id]
	if !ok || m.ChannelID != ch {
		apiError(w, http.StatusNotFound, discordgo.ErrCodeUnknownMessage, "Unknown Message")
		return
	}
	if _, ok := f.channels[id]; ok {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeThreadAlreadyCreatedForThisMessage, "A thread has already been created for this message")
		return
	}
	f.channels[id] = ch // a thread started from a message has the message's ID
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "parent_id": ch, "type": 11, "name": b.Name})
}

func (f *Fake) dm(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var b struct {
		RecipientID string `json:"recipient_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.RecipientID == "" {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body: recipient_id")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, u := range f.dms {
		if u == b.RecipientID {
			writeJSON(w, http.StatusOK, map[string]any{"id": ch, "type": 1})
			return
		}
	}
	ch := f.id()
	f.channels[ch] = ""
	f.dms[ch] = b.RecipientID
	writeJSON(w, http.StatusOK, map[string]any{"id": ch, "type": 1})
}

func (f *Fake) putCommands(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var cmds []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&cmds); err != nil {
		apiError(w, http.StatusBadRequest, discordgo.ErrCodeInvalidFormBody, "Invalid Form Body")
		return
	}
	f.mu.Lock()
	f.commands[r.PathValue("app")+"/"+r.PathValue("guild")] = cmds
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, cmds)
}

// webhook takes interaction follow-ups and edits of the original response
// (which need no bot token).
func (f *Fake) webhook(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.requests++
	f.webhooks = append(f.webhooks, Webhook{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v9"), Body: body})
	id := f.id()
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "channel_id": "0", "content": body["content"]})
}

func (f *Fake) gateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": "ws" + strings.TrimPrefix(f.Server.URL, "http") + "/gateway"})
}
