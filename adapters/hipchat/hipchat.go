// Package hipchat connects sitrep to HipChat (or a server speaking its v2 API).
//
// Outbound, each message is one room notification:
//
//	POST {base}/v2/room/{room_id_or_name}/notification
//	Authorization: Bearer <room token>
//	{"message": ..., "message_format": "html", "color": ..., "notify": ..., "from": "sitrep"}
//
// A room's own token (adapters.Room.Token, a HipChat room notification token)
// is used first, then Options.Token. Tokens only ever travel in the
// Authorization header: never in URLs, errors or logs.
//
// The message is sitrep's text HTML-escaped and sent as message_format "html",
// so nothing in an alert can inject markup, and HipChat does not expand
// @mentions (an alert saying "@all" pings nobody) or emoticons the way it
// does for "text" messages. It is cut to HipChat's 10,000 characters, ending
// in "…" when cut.
//
// HipChat answers a notification with 204 No Content and no message ID, and
// it cannot edit a message, nor thread, nor show buttons: its Capabilities
// are none, so sitrep sends it posts only, and every state change arrives as
// its own message. Post returns a synthetic ID, "hipchat:<room id>:<n>".
// Update, which sitrep never sends here, posts a new notification whose text
// starts with "update: " (without notifying the room) instead of editing.
//
// Inbound, Register serves HipChat's room_message webhook. Each message is
// handed to the Handler (sitrep's inbox, which stores it and drops HipChat's
// retries of it, by room and message ID); a non-empty reply is returned as the
// webhook's JSON response, which HipChat shows in the room.
package hipchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

// Limits and names from the HipChat v2 API.
const (
	Platform       = "hipchat"
	DefaultBaseURL = "https://api.hipchat.com"
	// From is the sender name sitrep's notifications carry. HipChat shows it
	// beside the message, and the room_message webhook reports it back as a
	// plain string, which is how sitrep recognises its own messages.
	From = "sitrep"
	// MaxMessage is the most characters HipChat accepts in a notification.
	MaxMessage = 10000
	// MaxWebhookBody is the largest webhook request body Register accepts.
	MaxWebhookBody = 64 << 10
	// UpdatePrefix starts the text of the notification Update posts.
	UpdatePrefix = "update: "

	truncMarker   = "…"
	maxErrBody    = 64 << 10 // how much of an error response is read
	maxErrMessage = 300      // runes of HipChat's error message kept in an error
	// maxRetryAfter caps a 429's wait against absurd headers: twice HipChat's
	// longest window (5 minutes, the per-token limit).
	maxRetryAfter = 10 * time.Minute
	minRetryAfter = time.Second // a 429's wait when it names none still ahead
	idPrefix      = "hipchat:"
)

// Options configure a Client.
type Options struct {
	BaseURL string // e.g. https://hipchat.example.com; default https://api.hipchat.com
	// Token is the server-wide token, used for rooms that carry none.
	Token string
	// WebhookToken, if set, must come with every webhook request, as ?token=
	// or "Authorization: Bearer".
	WebhookToken string
	HTTPClient   *http.Client // default: 30 s timeout
	Logger       *slog.Logger // default: discard
	Handler      adapters.Handler
	// Installs, if set, are the add-on installs whose signed webhooks are
	// accepted (VerifyWebhook); a webhook then needs a signature or, if
	// WebhookToken is set, the token.
	Installs *Installs
	// Known, if set, reports whether a HipChat room number is a sitrep room
	// or an install's; a webhook from any other room is refused.
	Known func(roomID string) bool
	Now   func() time.Time // default time.Now
}

// Client is a HipChat adapter. It is safe for concurrent use.
type Client struct {
	base         string
	token        string
	webhookToken string
	hc           *http.Client
	log          *slog.Logger
	handler      adapters.Handler
	installs     *Installs
	known        func(roomID string) bool
	now          func() time.Time

	idMu   sync.Mutex
	lastID int64
}

var _ adapters.Chat = (*Client)(nil)

// New returns a Client for opts.
func New(opts Options) *Client {
	base := strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/")
	base = strings.TrimSuffix(base, "/v2")
	if base == "" {
		base = DefaultBaseURL
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Client{base: base, token: opts.Token, webhookToken: opts.WebhookToken, hc: hc, log: log, handler: opts.Handler,
		installs: opts.Installs, known: opts.Known, now: now}
}

// Platform returns "hipchat".
func (c *Client) Platform() string { return Platform }

// notification is the body of a send_room_notification request.
type notification struct {
	Message       string `json:"message"`
	MessageFormat string `json:"message_format"`
	Color         string `json:"color"`
	Notify        bool   `json:"notify"`
	From          string `json:"from"`
}

// Post sends msg to room as a notification and returns a synthetic message
// ID (HipChat returns none).
func (c *Client) Post(ctx context.Context, room adapters.Room, msg adapters.Message) (string, error) {
	text, ok := Render(msg, "")
	if !ok {
		return "", adapters.Permanent(fmt.Errorf("hipchat post to room %s: empty message", roomLabel(room)))
	}
	n := notification{Message: text, MessageFormat: "html", Color: Color(msg), Notify: notifies(msg), From: From}
	if err := c.send(ctx, room, n); err != nil {
		return "", err
	}
	return c.newID(room.ID), nil
}

// Capabilities: HipChat cannot edit a notification, has no threads or
// buttons, and shows a webhook's reply to the whole room.
func (c *Client) Capabilities() adapters.Capabilities { return adapters.Capabilities{} }

// Deliver posts d.Msg as a notification (a reply too: HipChat has no
// threads). An update, which sitrep does not send to a platform that cannot
// edit, posts anew (see Update).
func (c *Client) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if d.Op == adapters.OpUpdate {
		return d.Ref, c.Update(ctx, d.Room, d.Ref, d.Msg)
	}
	return c.Post(ctx, d.Room, d.Msg)
}

// Update cannot edit in HipChat: it posts msg as a new notification whose
// text starts with "update: " and which does not notify the room. messageID
// must be one Post returned for this room.
func (c *Client) Update(ctx context.Context, room adapters.Room, messageID string, msg adapters.Message) error {
	if !validID(messageID, room.ID) {
		return adapters.Permanent(fmt.Errorf("hipchat update in room %s: %q is not a message ID this adapter gave for the room", roomLabel(room), messageID))
	}
	prefix := UpdatePrefix
	if msg.State != "" {
		prefix += "[" + string(msg.State) + "] "
	}
	text, ok := Render(msg, prefix)
	if !ok {
		return adapters.Permanent(fmt.Errorf("hipchat update in room %s: empty message", roomLabel(room)))
	}
	return c.send(ctx, room, notification{Message: text, MessageFormat: "html", Color: Color(msg), Notify: false, From: From})
}

// newID returns "hipchat:<room>:<n>", n growing strictly (wall-clock
// nanoseconds, so IDs stay unique across restarts too).
func (c *Client) newID(roomID string) string {
	c.idMu.Lock()
	n := time.Now().UnixNano()
	if n <= c.lastID {
		n = c.lastID + 1
	}
	c.lastID = n
	c.idMu.Unlock()
	return idPrefix + roomID + ":" + strconv.FormatInt(n, 10)
}

func validID(id, roomID string) bool {
	rest, ok := strings.CutPrefix(id, idPrefix+roomID+":")
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.ParseUint(rest, 10, 64)
	return err == nil
}

func roomLabel(r adapters.Room) string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// send posts one notification and maps HipChat's answer to sitrep's errors.
func (c *Client) send(ctx context.Context, room adapters.Room, n notification) error {
	if room.ID == "" {
		return adapters.Permanent(fmt.Errorf("hipchat: room %q has no HipChat room id", room.Name))
	}
	token := room.Token
	if token == "" {
		token = c.token
	}
	if token == "" {
		return adapters.Permanent(fmt.Errorf("hipchat: no token for room %s", roomLabel(room)))
	}
	body, err := json.Marshal(n)
	if err != nil {
		return adapters.Permanent(fmt.Errorf("hipchat: encode notification: %w", err))
	}
	u := c.base + "/v2/room/" + url.PathEscape(room.ID) + "/notification"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return adapters.Permanent(scrub(fmt.Errorf("hipchat: request for room %s: %w", room.ID, err), token))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "sitrep")
	req.Header.Set("Authorization", "Bearer "+token)

	resp, err := c.hc.Do(req)
	if err != nil {
		err = scrub(fmt.Errorf("hipchat: notify room %s: %w", room.ID, err), token)
		c.log.Debug("hipchat notification failed", "room", room.ID, "err", err)
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrBody)) // let the connection be reused

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		c.log.Debug("hipchat notification sent", "room", room.ID, "status", code)
		return nil
	}
	detail := strconv.Itoa(code) + " " + http.StatusText(code)
	if m := apiMessage(raw); m != "" {
		detail += ": " + m
	}
	base := scrub(fmt.Errorf("hipchat: notify room %s: %s", room.ID, detail), token)
	c.log.Debug("hipchat notification refused", "room", room.ID, "status", code, "err", base)
	switch {
	case code == http.StatusTooManyRequests:
		return &adapters.RetryAfterError{After: retryAfter(resp.Header, time.Now()), Err: base}
	case code >= 500, code == http.StatusRequestTimeout:
		return base
	case code >= 400:
		if code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound {
			c.log.Warn("hipchat refused the room's notification", "room", room.ID, "status", code)
		}
		return adapters.Permanent(base)
	default:
		return base
	}
}

// apiMessage pulls the message out of HipChat's error body,
// {"error": {"code": 404, "message": "Room not found", "type": "Not Found"}}.
func apiMessage(raw []byte) string {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) != nil || body.Error.Message == "" {
		return ""
	}
	m := body.Error.Message
	if body.Error.Field != "" && !strings.Contains(m, body.Error.Field) {
		m += " (field " + body.Error.Field + ")"
	}
	m = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, m)
	if utf8.RuneCountInString(m) > maxErrMessage {
		m = string([]rune(m)[:maxErrMessage]) + truncMarker
	}
	return m
}

// retryAfter reads how long a 429 asks sitrep to wait: until the latest
// reset it names, never less than nothing asked and never more than
// maxRetryAfter.
//
// HipChat's v2 API ("HipChat REST API rate limits",
// https://developer.atlassian.com/server/hipchat/hipchat-rest-api-rate-limits/)
// has two limits, each reported in its own headers: 500 requests per 5
// minutes per token (X-Ratelimit-Limit, -Remaining, -Reset) and 30
// notifications per minute per room, "flood control" (X-FloodControl-Limit,
// -Remaining, -Reset). Each Reset is "the next time (as a Unix timestamp) the
// limit will be updated", in seconds. A family counts when its Remaining is 0
// or absent (a response may carry the other family's headers with requests
// to spare); the wait is until the latest counting Reset, or Retry-After
// (seconds or an HTTP date, which HipChat-compatible proxies send) if that is
// later. A reset already past, or no usable header, waits minRetryAfter: the
// headers' own resolution, so a clock running ahead of HipChat's cannot turn
// into a burst of 429s.
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			d = time.Duration(min(max(n, 0), int64(maxRetryAfter/time.Second))) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = until(t, now)
		}
	}
	for _, family := range []string{"X-FloodControl-", "X-Ratelimit-"} {
		if rem, err := strconv.ParseInt(strings.TrimSpace(h.Get(family+"Remaining")), 10, 64); err == nil && rem > 0 {
			continue
		}
		if t, ok := unixReset(h.Get(family+"Reset"), now); ok {
			d = max(d, until(t, now))
		}
	}
	if d <= 0 {
		return minRetryAfter
	}
	return d
}

// unixReset parses a Reset header, Unix seconds (fractions and, from
// compatible servers, milliseconds tolerated); one beyond maxRetryAfter is
// taken as maxRetryAfter from now.
func unixReset(v string, now time.Time) (time.Time, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false
	}
	if f > 1e12 { // milliseconds
		f /= 1000
	}
	if f >= float64(now.Add(maxRetryAfter).Unix()) {
		return now.Add(maxRetryAfter), true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// until is how long from now to t, within [0, maxRetryAfter].
func until(t, now time.Time) time.Duration {
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// scrubbedError is err with every copy of a token replaced by "****".
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), token, "****"), err: errors.Unwrap(err)}
}

// Color is the HipChat palette color for msg: msg.Color if it is one
// (yellow, green, red, purple, gray, random; "grey" too), else by state:
// triggered red, acknowledged yellow, resolved green, anything else gray.
func Color(msg adapters.Message) string {
	switch c := strings.ToLower(strings.TrimSpace(msg.Color)); c {
	case "yellow", "green", "red", "purple", "gray", "random":
		return c
	case "grey":
		return "gray"
	}
	switch msg.State {
	case timeline.StateTriggered:
		return "red"
	case timeline.StateAcknowledged:
		return "yellow"
	case timeline.StateResolved:
		return "green"
	}
	return "gray"
}

// notifies reports whether msg should notify the room: it opens an incident,
// or is a digest holding one that does.
func notifies(msg adapters.Message) bool {
	if msg.Kind == timeline.KindTriggered || (msg.Kind == "" && msg.State == timeline.StateTriggered) {
		return true
	}
	for _, m := range msg.Digest {
		if m.Kind == timeline.KindTriggered {
			return true
		}
	}
	return false
}

// Render returns msg as a HipChat "html" message: prefix, the text (the title
// if there is no text; sitrep's texts already name the incident) and the fields (sorted, one a
// line), HTML-escaped, newlines as <br>, cut to MaxMessage characters (ending
// in "…" when cut). ok is false when there is nothing to say.
func Render(msg adapters.Message, prefix string) (out string, ok bool) {
	text := msg.Text
	if strings.TrimSpace(text) == "" {
		text = strings.TrimSpace(msg.Title) // sitrep's texts carry the title already
	}
	if text == "" {
		return "", false
	}
	parts := []string{text}
	if len(msg.Fields) > 0 {
		keys := make([]string, 0, len(msg.Fields))
		for k := range msg.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(k + ": " + msg.Fields[k])
		}
		parts = append(parts, sb.String())
	}
	plain := prefix + strings.Join(parts, "\n")
	plain = strings.ReplaceAll(plain, "\r\n", "\n")
	return escapeCut(plain, MaxMessage), true
}

// escapeCut HTML-escapes s and cuts it to at most max characters (UTF-16
// units, which is never fewer than runes), never inside an escape.
func escapeCut(s string, max int) string {
	var sb strings.Builder
	n := 0
	limit := max - utf16Len(truncMarker)
	for i, r := range s {
		var piece string
		switch r {
		case '\n':
			piece = "<br>"
		case '\r':
			piece = ""
		case utf8.RuneError:
			piece = "\uFFFD"
		default:
			piece = html.EscapeString(string(r))
		}
		l := utf16Len(piece)
		if n+l > limit {
			// Does the rest fit without a marker?
			if n+escapedLen(s[i:]) <= max {
				limit = max
			} else {
				sb.WriteString(truncMarker)
				return sb.String()
			}
		}
		sb.WriteString(piece)
		n += l
	}
	return sb.String()
}

func escapedLen(s string) int {
	n := 0
	for _, r := range s {
		switch r {
		case '\n':
			n += 4
		case '\r':
		default:
			n += utf16Len(html.EscapeString(string(r)))
		}
	}
	return n
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
