// Package discord connects sitrep to Discord, both ways, on discordgo.
//
// Outbound, an incident's card is one channel message with an embed (colour
// by state, title, the alert's fields, a link to the incident, a timestamp)
// and a row of buttons from Message.Actions. Every state change edits that
// message in place; other timeline events go into a thread started on it
// (Discord gives a thread started from a message the message's own ID, so the
// card's ID names its thread too). Each create carries a nonce derived from
// the outbox entry's key with enforce_nonce, so a retry after a crash gets
// the message already posted back instead of a second one. allowed_mentions
// is always empty: an alert saying @everyone pings nobody.
//
// REST goes through a discordgo Session whose http.Client sends Discord's
// host to Options.APIURL when set (a fake in tests) and which never sleeps
// or retries on its own: each route's bucket (X-RateLimit-Remaining,
// X-RateLimit-Reset-After), the global limit and a 429's retry_after come
// back to the outbox as an adapters.RetryAfterError, and Unknown Channel,
// missing access or permissions and an invalid form body as Permanent.
//
// Inbound, POST /discord/interactions takes Discord's interactions (button
// presses, the /sitrep command), each verified against the application's
// Ed25519 public key; Run keeps a gateway session that takes what responders
// type in a sitrep channel or in an alert's thread.
package discord

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Platform is the name rooms give Discord.
const Platform = "discord"

// Discord's limits.
const (
	MaxContent          = 2000
	MaxEmbedTitle       = 256
	MaxEmbedDescription = 4096
	MaxEmbedFields      = 25
	MaxEmbedFieldName   = 256
	MaxEmbedFieldValue  = 1024
	MaxEmbedTotal       = 6000
	MaxThreadName       = 100
	MaxNonce            = 25

	truncMarker = "…"
)

// Colours of the card by state (Discord takes an RGB integer).
const (
	colorRed    = 0xE01E5A
	colorYellow = 0xECB22E
	colorGreen  = 0x2EB67D
	colorPurple = 0x8E44AD
	colorGray   = 0x95A5A6
)

// Options configure a Client.
type Options struct {
	// Token is the bot token, without the "Bot " prefix.
	Token string
	// APIURL, if set, is where requests for Discord's host go instead
	// (scheme, host and an optional path prefix): a fake in tests.
	APIURL string
	// Transport is the HTTP transport under the redirect; default
	// http.DefaultTransport.
	Transport http.RoundTripper
	// PublicKey verifies interactions; nil serves none.
	PublicKey     ed25519.PublicKey
	ApplicationID string
	GuildID       string
	// Cards maps a card's message (and thread) to its incident; nil keeps no map.
	Cards *Cards
	// DB keeps the signatures of interactions taken, against replays, across
	// restarts; nil keeps them in memory.
	DB *storage.DB
	// Handler takes what responders type (sitrep's inbox).
	Handler adapters.Handler
	// Inbox takes interactions: each is stored before Discord is answered,
	// even with a deferral, and handled after. Nil: Handler takes them,
	// with nothing stored first.
	Inbox Inbox
	// Known reports whether a channel is a sitrep room; nil: every channel is.
	Known func(channelID string) bool
	// IncidentURL, if set, is the link a card's title carries.
	IncidentURL func(id uint64) string
	// AnswerWithin is how long an interaction waits for Handler before it
	// is deferred and completed later; default 2 s (Discord allows 3).
	AnswerWithin time.Duration
	Logger       *slog.Logger
	Now          func() time.Time
}

// Inbox stores an Inbound in its own commit and hands it over after, as
// *inbox.Inbox does.
type Inbox interface {
	Store(ctx context.Context, in adapters.Inbound) (inbox.Ticket, error)
	Handle(ctx context.Context, t inbox.Ticket, in adapters.Inbound) (adapters.Reply, error)
}

// handlerInbox is a plain Handler as an Inbox that stores nothing.
type handlerInbox struct{ h adapters.Handler }

func (h handlerInbox) Store(context.Context, adapters.Inbound) (inbox.Ticket, error) { return 0, nil }

func (h handlerInbox) Handle(ctx context.Context, _ inbox.Ticket, in adapters.Inbound) (adapters.Reply, error) {
	return h.h(ctx, in)
}

// Client is Discord as an adapters.Chat.
type Client struct {
	s      *discordgo.Session
	opts   Options
	log    *slog.Logger
	limits *limiter
	replay *replays
	selfID atomic.Value // string: the bot's user ID, from READY

	mu      sync.Mutex
	threads map[string]bool // threads known to exist
}

// New returns a Client. It does not connect: Deliver speaks REST, Run keeps
// the gateway.
func New(opts Options) (*Client, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AnswerWithin <= 0 {
		opts.AnswerWithin = answerWithin
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := discordgo.New("Bot " + opts.Token)
	if err != nil {
		return nil, fmt.Errorf("discord: new session: %w", err)
	}
	next := opts.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if opts.APIURL != "" {
		base, err := url.Parse(opts.APIURL)
		if err != nil || base.Host == "" {
			return nil, fmt.Errorf("discord: api_url %q is not an absolute URL", opts.APIURL)
		}
		next = &redirect{base: base, next: next}
	}
	c := &Client{s: s, opts: opts, log: log, limits: newLimiter(opts.Now), replay: &replays{db: opts.DB, seen: map[string]time.Time{}}, threads: map[string]bool{}}
	if c.opts.Inbox == nil && c.opts.Handler != nil {
		c.opts.Inbox = handlerInbox{c.opts.Handler}
	}
	c.selfID.Store("")
	s.Client = &http.Client{Transport: &observer{limits: c.limits, next: next}, Timeout: 20 * time.Second}
	// sitrep's outbox paces and retries: discordgo must do neither.
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.StateEnabled = false
	s.Identify.Intents = discordgo.IntentsGuildMessages | discordgo.IntentsMessageContent
	s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		if r.User != nil {
			c.selfID.Store(r.User.ID)
		}
		c.log.Info("discord gateway ready")
	})
	s.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) { c.onMessage(m) })
	return c, nil
}

// Platform is "discord".
func (c *Client) Platform() string { return Platform }

// Capabilities: Discord edits messages, threads them, shows buttons and
// answers interactions with ephemeral messages.
func (c *Client) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Edit: true, Threads: true, Buttons: true, PrivateReplies: true}
}

// Session is the discordgo session, for tests.
func (c *Client) Session() *discordgo.Session { return c.s }

// Deliver posts, replies under or edits a card.
func (c *Client) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !isSnowflake(d.Room.ID) {
		return "", adapters.Permanent(fmt.Errorf("discord: room %q: channel ID %q is not a Discord ID", d.Room.Name, d.Room.ID))
	}
	switch d.Op {
	case adapters.OpPost:
		id, err := c.create(ctx, d.Room.ID, d.Msg, d.Key)
		if err != nil {
			return "", err
		}
		if isCard(d.Msg) {
			if err := c.remember(ctx, id, d.Room.ID, d.Msg.IncidentID); err != nil {
				return "", err
			}
		}
		return id, nil
	case adapters.OpReply:
		if !isSnowflake(d.Ref) {
			return "", adapters.Permanent(fmt.Errorf("discord: reply under %q: not a Discord message ID", d.Ref))
		}
		if err := c.startThread(ctx, d.Room.ID, d.Ref, d.Msg); err != nil {
			return "", err
		}
		return c.create(ctx, d.Ref, d.Msg, d.Key)
	case adapters.OpUpdate:
		if !isSnowflake(d.Ref) {
			return "", adapters.Permanent(fmt.Errorf("discord: update of %q: not a Discord message ID", d.Ref))
		}
		if err := c.edit(ctx, d.Room.ID, d.Ref, d.Msg); err != nil {
			return "", err
		}
		if err := c.remember(ctx, d.Ref, d.Room.ID, d.Msg.IncidentID); err != nil {
			return "", err
		}
		return d.Ref, nil
	}
	return "", adapters.Permanent(fmt.Errorf("discord: unknown op %s", d.Op))
}

func (c *Client) remember(ctx context.Context, messageID, channelID string, incident uint64) error {
	if c.opts.Cards == nil || incident == 0 {
		return nil
	}
	if err := c.opts.Cards.Put(ctx, messageID, channelID, incident); err != nil {
		return fmt.Errorf("discord: remember card %s: %w", messageID, err)
	}
	return nil
}

// isCard reports whether a posted message is an incident's card, which its
// thread hangs under.
func isCard(m adapters.Message) bool {
	return m.IncidentID != 0 && (m.Kind == timeline.KindTriggered || len(m.Actions) > 0)
}

// createBody is a message create with the nonce discordgo's MessageSend lacks.
type createBody struct {
	*discordgo.MessageSend
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

// Nonce is the nonce a create carries for an outbox key: the same on every
// retry, at most MaxNonce characters. Empty for an empty key.
func Nonce(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12]) // 24 characters
}

func (c *Client) create(ctx context.Context, channelID string, m adapters.Message, key string) (string, error) {
	endpoint := discordgo.EndpointChannelMessages(channelID)
	if err := c.limits.check(http.MethodPost, endpoint); err != nil {
		return "", err
	}
	body := createBody{MessageSend: c.send(m)}
	if body.Nonce = Nonce(key); body.Nonce != "" {
		body.EnforceNonce = true
	}
	raw, err := c.s.RequestWithBucketID(http.MethodPost, endpoint, body, endpoint, discordgo.WithContext(ctx))
	if err != nil {
		return "", classify(ctx, "create message", err)
	}
	var msg discordgo.Message
	if err := json.Unmarshal(raw, &msg); err != nil || msg.ID == "" {
		return "", fmt.Errorf("discord: create message: no message in the answer: %w", errors.Join(err, errors.New("missing id")))
	}
	return msg.ID, nil
}

func (c *Client) edit(ctx context.Context, channelID, messageID string, m adapters.Message) error {
	endpoint := discordgo.EndpointChannelMessage(channelID, messageID)
	if err := c.limits.check(http.MethodPatch, endpoint); err != nil {
		return err
	}
	embed := c.embed(m)
	embeds := []*discordgo.MessageEmbed{embed}
	components := Components(m.IncidentID, m.Actions)
	empty := ""
	edit := &discordgo.MessageEdit{
		ID: messageID, Channel: channelID,
		Content: &empty, Embeds: &embeds, Components: &components,
		AllowedMentions: noMentions(),
	}
	if _, err := c.s.ChannelMessageEditComplex(edit, discordgo.WithContext(ctx)); err != nil {
		return classify(ctx, "edit message", err)
	}
	return nil
}

// startThread makes sure the card parent has its thread, whose ID is
// parent's own.
func (c *Client) startThread(ctx context.Context, channelID, parent string, m adapters.Message) error {
	c.mu.Lock()
	known := c.threads[parent]
	c.mu.Unlock()
	if known {
		return nil
	}
	endpoint := discordgo.EndpointChannelMessageThread(channelID, parent)
	if err := c.limits.check(http.MethodPost, endpoint); err != nil {
		return err
	}
	name := "#" + strconv.FormatUint(m.IncidentID, 10)
	if m.Title != "" {
		name += " " + m.Title
	}
	_, err := c.s.MessageThreadStartComplex(channelID, parent, &discordgo.ThreadStart{Name: clip(oneLine(name), MaxThreadName), AutoArchiveDuration: 1440}, discordgo.WithContext(ctx))
	if err != nil && restCode(err) != discordgo.ErrCodeThreadAlreadyCreatedForThisMessage {
		return classify(ctx, "start thread", err)
	}
	c.mu.Lock()
	c.threads[parent] = true
	c.mu.Unlock()
	return nil
}

func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// send renders m: a card (a triggered or updated alert, or anything with
// buttons) as an embed with buttons, any other message as plain content.
func (c *Client) send(m adapters.Message) *discordgo.MessageSend {
	ms := &discordgo.MessageSend{AllowedMentions: noMentions()}
	if m.Kind == timeline.KindTriggered || m.Kind == timeline.KindUpdated || len(m.Actions) > 0 {
		ms.Embeds = []*discordgo.MessageEmbed{c.embed(m)}
		ms.Components = Components(m.IncidentID, m.Actions)
		return ms
	}
	ms.Content = clip(m.Text, MaxContent)
	if strings.TrimSpace(ms.Content) == "" {
		ms.Content = "(empty)"
	}
	if len(m.Mentions) > 0 {
		// Only the people named are pinged: no @everyone, roles or other users.
		ms.Content = clip(adapters.Mention(ms.Content, m.Mentions, func(id string) string { return "<@" + id + ">" }), MaxContent)
		for _, id := range m.Mentions {
			ms.AllowedMentions.Users = append(ms.AllowedMentions.Users, id)
		}
		slices.Sort(ms.AllowedMentions.Users)
	}
	return ms
}

// embed renders m as a card's embed, within Discord's limits.
func (c *Client) embed(m adapters.Message) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{
		Type:        discordgo.EmbedTypeRich,
		Title:       clip(oneLine(title(m)), MaxEmbedTitle),
		Description: clip(m.Text, MaxEmbedDescription),
		Color:       Color(m),
		Timestamp:   c.opts.Now().UTC().Format(time.RFC3339),
	}
	if c.opts.IncidentURL != nil && m.IncidentID != 0 {
		e.URL = c.opts.IncidentURL(m.IncidentID)
	}
	if m.State != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: "sitrep · " + string(m.State)}
	}
	keys := make([]string, 0, len(m.Fields))
	for k, v := range m.Fields {
		if strings.TrimSpace(k) != "" && strings.TrimSpace(v) != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(e.Fields) == MaxEmbedFields {
			break
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: clip(k, MaxEmbedFieldName), Value: clip(m.Fields[k], MaxEmbedFieldValue), Inline: true})
	}
	// 6,000 characters in all: drop fields from the end, then cut the description.
	for embedLen(e) > MaxEmbedTotal && len(e.Fields) > 0 {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
	if over := embedLen(e) - MaxEmbedTotal; over > 0 {
		e.Description = clip(e.Description, utf8.RuneCountInString(e.Description)-over)
	}
	return e
}

func title(m adapters.Message) string {
	t := m.Title
	if m.IncidentID != 0 {
		t = strings.TrimSpace("#" + strconv.FormatUint(m.IncidentID, 10) + " " + t)
	}
	if t == "" {
		t = "sitrep"
	}
	return t
}

// embedLen counts what Discord counts toward an embed's 6,000 characters.
func embedLen(e *discordgo.MessageEmbed) int {
	n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	if e.Footer != nil {
		n += utf8.RuneCountInString(e.Footer.Text)
	}
	if e.Author != nil {
		n += utf8.RuneCountInString(e.Author.Name)
	}
	for _, f := range e.Fields {
		n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	return n
}

// Color is the embed colour of m: by its state, or its palette colour.
func Color(m adapters.Message) int {
	switch m.State {
	case timeline.StateAcknowledged:
		return colorYellow
	case timeline.StateResolved:
		return colorGreen
	}
	switch m.Color {
	case "yellow":
		return colorYellow
	case "green":
		return colorGreen
	case "purple":
		return colorPurple
	case "gray":
		return colorGray
	}
	return colorRed
}

// StateColor is the colour of a card in state s.
func StateColor(s timeline.State) int { return Color(adapters.Message{State: s}) }

// Components are the button row for verbs on incident id; none for none.
func Components(id uint64, verbs []adapters.Verb) []discordgo.MessageComponent {
	var buttons []discordgo.MessageComponent
	for _, v := range verbs {
		b := discordgo.Button{CustomID: CustomID(v, id)}
		switch v {
		case adapters.VerbAck:
			b.Label, b.Style = "Acknowledge", discordgo.PrimaryButton
		case adapters.VerbResolve:
			b.Label, b.Style = "Resolve", discordgo.SuccessButton
		default:
			continue
		}
		buttons = append(buttons, b)
	}
	if len(buttons) == 0 {
		return []discordgo.MessageComponent{}
	}
	return []discordgo.MessageComponent{discordgo.ActionsRow{Components: buttons}}
}

// CustomID is a button's custom_id: "sitrep:<verb>:<incident>".
func CustomID(v adapters.Verb, id uint64) string {
	return "sitrep:" + string(v) + ":" + strconv.FormatUint(id, 10)
}

// ParseCustomID reverses CustomID.
func ParseCustomID(s string) (adapters.Verb, uint64, bool) {
	rest, ok := strings.CutPrefix(s, "sitrep:")
	if !ok {
		return "", 0, false
	}
	verb, num, ok := strings.Cut(rest, ":")
	if !ok || (verb != string(adapters.VerbAck) && verb != string(adapters.VerbResolve)) {
		return "", 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil || id == 0 {
		return "", 0, false
	}
	return adapters.Verb(verb), id, true
}

// classify turns a REST failure into what the outbox acts on.
func classify(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("discord: %s: %w", what, ctxErr)
	}
	if _, ok := adapters.RetryAfter(err); ok {
		return err
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) && rl.RateLimit != nil && rl.TooManyRequests != nil {
		return &adapters.RetryAfterError{After: max(rl.RetryAfter, 0), Err: fmt.Errorf("discord: %s: %w", what, scrub(err))}
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) {
		wrapped := fmt.Errorf("discord: %s: %s", what, restSummary(re))
		if re.Message != nil {
			switch re.Message.Code {
			case discordgo.ErrCodeUnknownChannel, discordgo.ErrCodeUnknownMessage, discordgo.ErrCodeMissingAccess,
				discordgo.ErrCodeMissingPermissions, discordgo.ErrCodeInvalidFormBody:
				return adapters.Permanent(wrapped)
			}
		}
		if re.Response != nil {
			switch re.Response.StatusCode {
			case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
				return adapters.Permanent(wrapped)
			}
		}
		return wrapped
	}
	return fmt.Errorf("discord: %s: %w", what, scrub(err))
}

// scrub is err without the request's URL, which for an interaction's
// webhook holds the interaction's token: a transport failure's *url.Error
// gives way to its cause, a rate limit to a summary, a REST error to its
// status and Discord's message.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		if rl.RateLimit != nil && rl.TooManyRequests != nil {
			return fmt.Errorf("rate limited, retry after %s", rl.RetryAfter)
		}
		return errors.New("rate limited")
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) {
		return errors.New(restSummary(re))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Err == nil {
			return errors.New("request failed")
		}
		return scrub(ue.Err)
	}
	return err
}

// restSummary is a REST error's status and Discord's message, without the
// request (its headers hold the token).
func restSummary(re *discordgo.RESTError) string {
	s := "no response"
	if re.Response != nil {
		s = re.Response.Status
	}
	if re.Message != nil {
		s += fmt.Sprintf(": %d %s", re.Message.Code, clip(re.Message.Message, 200))
	}
	return s
}

func restCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// clip cuts s to n runes, ending in the marker when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + truncMarker
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isSnowflake reports whether s looks like a Discord ID.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}
