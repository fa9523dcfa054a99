// Package slack is sitrep's Slack adapter, on slack-go. Outbound, an
// incident's card is a Block Kit message (chat.postMessage) that every state
// change updates in place (chat.update, same ts); other events are thread
// replies under it, a resolve also broadcast to the channel. Inbound, signed
// requests to /slack/commands, /slack/interactions and /slack/events (or the
// same over Socket Mode when an app-level token is set) become
// adapters.Inbound handed to the inbox, which dedupes Slack's retries.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Platform is the platform's name, as rooms name it.
const Platform = "slack"

// DefaultCommand is the slash command sitrep answers unless slack.command says otherwise.
const DefaultCommand = "/sitrep"

// Options configure a Client.
type Options struct {
	Token         string // bot token (xoxb-…)
	SigningSecret string // verifies Slack's requests
	AppToken      string // app-level token (xapp-…), for Socket Mode
	APIURL        string // Web API base; default Slack's
	PublicURL     string // sitrep's public URL, for links to incidents
	// IncidentPath, if set, is the path under PublicURL of an incident's
	// page; default the admin API's, /v1/incidents/{id}.
	IncidentPath func(id uint64) string
	Command      string // the slash command, default DefaultCommand
	DB           *storage.DB
	// Inbox stores each Inbound before Slack is answered and then hands it
	// over. Without one, Handler takes Inbounds as they come, nothing
	// stored first.
	Inbox   Inbox
	Handler adapters.Handler
	// Known reports whether a channel ID is a sitrep room's.
	Known      func(id string) bool
	Logger     *slog.Logger
	HTTPClient *http.Client
	Now        func() time.Time
	// AckWithin is how long a slash command or button press may take before
	// Slack is answered and the result follows via response_url; default 2 s
	// (Slack allows 3).
	AckWithin time.Duration
}

// Inbox is where Inbounds wait until handled (an *inbox.Inbox): Store
// commits one (inbox.ErrDuplicate for a retry of one already stored),
// Handle hands it over.
type Inbox interface {
	Store(ctx context.Context, in adapters.Inbound) (inbox.Ticket, error)
	Handle(ctx context.Context, t inbox.Ticket, in adapters.Inbound) (adapters.Reply, error)
}

// handlerOnly is an Inbox that stores nothing: Handle calls the Handler.
type handlerOnly struct{ h adapters.Handler }

func (handlerOnly) Store(context.Context, adapters.Inbound) (inbox.Ticket, error) { return 0, nil }

func (o handlerOnly) Handle(ctx context.Context, _ inbox.Ticket, in adapters.Inbound) (adapters.Reply, error) {
	if o.h == nil {
		return adapters.Reply{}, nil
	}
	return o.h(ctx, in)
}

// Client is the Slack adapter: an adapters.Chat and the inbound handlers.
type Client struct {
	api       *slack.Client
	opts      Options
	log       *slog.Logger
	http      *http.Client
	known     func(string) bool
	users     *userCache
	warned    sync.Map // channel ‖ error code already logged
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    chan struct{}
}

// New returns a Client.
func New(o Options) *Client {
	if o.Command == "" {
		o.Command = DefaultCommand
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Inbox == nil {
		o.Inbox = handlerOnly{o.Handler}
	}
	if o.AckWithin <= 0 {
		o.AckWithin = 2 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []slack.Option{slack.OptionHTTPClient(hc)}
	if o.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(o.APIURL, "/")+"/"))
	}
	if o.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(o.AppToken))
	}
	known := o.Known
	if known == nil {
		known = func(string) bool { return true }
	}
	c := &Client{api: slack.New(o.Token, opts...), opts: o, log: log, http: hc, known: known, closed: make(chan struct{})}
	c.users = newUserCache(c.api, o.Now)
	return c
}

// Platform implements adapters.Chat.
func (c *Client) Platform() string { return Platform }

// Capabilities implements adapters.Chat: Slack edits, threads, has buttons
// and ephemeral messages.
func (c *Client) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Edit: true, Threads: true, Buttons: true, PrivateReplies: true}
}

// Close waits for slow answers still being sent through response URLs.
func (c *Client) Close() {
	c.closeOnce.Do(func() { close(c.closed) })
	c.wg.Wait()
}

// link is the incident's page on sitrep's server.
func (c *Client) link(id uint64) string {
	if c.opts.PublicURL == "" || id == 0 {
		return ""
	}
	path := "/v1/incidents/" + strconv.FormatUint(id, 10)
	if c.opts.IncidentPath != nil {
		path = c.opts.IncidentPath(id)
	}
	return strings.TrimRight(c.opts.PublicURL, "/") + path
}

// Deliver implements adapters.Chat: OpPost is chat.postMessage, OpReply the
// same in the card's thread (thread_ts; a resolve also broadcast to the
// channel), OpUpdate chat.update of the card. It returns the message's ts.
// Every message sitrep posts about an incident is remembered (channel, ts →
// incident), so replies in its thread are chat on that incident.
func (c *Client) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if d.Room.ID == "" {
		return "", adapters.Permanent(errors.New("slack: room has no channel ID"))
	}
	blocks, text := Render(d.Msg, c.link(d.Msg.IncidentID))
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	var ts string
	var err error
	switch d.Op {
	case adapters.OpUpdate:
		if d.Ref == "" {
			return "", adapters.Permanent(errors.New("slack: update names no message"))
		}
		_, ts, _, err = c.api.UpdateMessageContext(ctx, d.Room.ID, d.Ref, opts...)
		if err == nil && ts == "" {
			ts = d.Ref
		}
	case adapters.OpReply:
		if d.Ref == "" {
			return "", adapters.Permanent(errors.New("slack: reply names no parent message"))
		}
		opts = append(opts, slack.MsgOptionTS(d.Ref))
		if d.Msg.Kind == timeline.KindResolved {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
		_, ts, err = c.api.PostMessageContext(ctx, d.Room.ID, opts...)
	default:
		_, ts, err = c.api.PostMessageContext(ctx, d.Room.ID, opts...)
	}
	if err != nil {
		return "", c.classify(d, err)
	}
	if d.Op != adapters.OpUpdate && d.Msg.IncidentID != 0 && d.Msg.Kind != adapters.KindDigest && c.opts.DB != nil {
		if err := c.remember(context.WithoutCancel(ctx), d.Room.ID, ts, d.Msg.IncidentID); err != nil {
			// The post stands: only chat in its thread will not be tied to the incident.
			c.log.Warn("slack: remember posted message", "channel", d.Room.ID, "ts", ts, "err", err)
		}
	}
	return ts, nil
}

// permanentCodes are Slack's errors that no retry can cure.
var permanentCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true, "token_expired": true,
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "msg_too_long": true,
	"no_text": true, "invalid_blocks": true, "invalid_blocks_format": true, "message_not_found": true,
	"cant_update_message": true, "edit_window_closed": true, "thread_not_found": true, "missing_scope": true,
	"restricted_action": true,
}

// classify maps slack-go's errors to the outbox's: a 429 to RetryAfterError
// with Slack's Retry-After, Slack's hopeless error codes to Permanent (each
// logged once per channel), anything else retried.
func (c *Client) classify(d adapters.Delivery, err error) error {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &adapters.RetryAfterError{After: rl.RetryAfter, Err: fmt.Errorf("slack %s: %w", d.Op, err)}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && permanentCodes[se.Err] {
		if _, seen := c.warned.LoadOrStore(d.Room.ID+"\x00"+se.Err, true); !seen {
			c.log.Warn("slack refused a delivery; it is dead-lettered", "room", d.Room.Name, "channel", d.Room.ID, "error", se.Err)
		}
		return adapters.Permanent(fmt.Errorf("slack %s: %w", d.Op, err))
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && sc.Code >= 400 && sc.Code < 500 && sc.Code != http.StatusRequestTimeout {
		return adapters.Permanent(fmt.Errorf("slack %s: %w", d.Op, err))
	}
	return fmt.Errorf("slack %s: %w", d.Op, err)
}

func messageKey(channel, ts string) []byte {
	return append(append([]byte(channel), 0), ts...)
}

// remember records that message ts in channel is about incident id.
func (c *Client) remember(ctx context.Context, channel, ts string, id uint64) error {
	return c.opts.DB.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(storage.BucketSlackMessages).Put(messageKey(channel, ts), storage.U64(id))
	})
}

// incidentOf returns the incident of a message sitrep posted in channel.
func (c *Client) incidentOf(channel, ts string) (uint64, bool) {
	if c.opts.DB == nil || ts == "" {
		return 0, false
	}
	var id uint64
	_ = c.opts.DB.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(storage.BucketSlackMessages).Get(messageKey(channel, ts)); len(v) == 8 {
			id = storage.ParseU64(v)
		}
		return nil
	})
	return id, id != 0
}

// userCache maps Slack user IDs to display names (users.info), for an hour.
type userCache struct {
	api *slack.Client
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedUser
}

type cachedUser struct {
	name string
	at   time.Time
}

const userTTL = time.Hour

func newUserCache(api *slack.Client, now func() time.Time) *userCache {
	return &userCache{api: api, now: now, m: map[string]cachedUser{}}
}

// name returns user id's display name, or fallback (the name the payload
// gave) when users.info cannot say.
func (u *userCache) name(ctx context.Context, id, fallback string) string {
	u.mu.Lock()
	e, ok := u.m[id]
	u.mu.Unlock()
	if ok && u.now().Sub(e.at) < userTTL {
		return e.name
	}
	info, err := u.api.GetUserInfoContext(ctx, id)
	if err != nil {
		if fallback != "" {
			return fallback
		}
		return id
	}
	name := info.Profile.DisplayName
	for _, n := range []string{info.Profile.RealName, info.RealName, info.Name, fallback, id} {
		if name != "" {
			break
		}
		name = n
	}
	u.mu.Lock()
	if len(u.m) > 10000 {
		clear(u.m)
	}
	u.m[id] = cachedUser{name: name, at: u.now()}
	u.mu.Unlock()
	return name
}

// MessageIncident is the incident a stored message entry (a value of
// storage.BucketSlackMessages) names, 0 if none: for the retention sweep.
func MessageIncident(raw []byte) uint64 { return storage.ParseU64(raw) }
