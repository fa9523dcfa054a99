// Package hookpost posts a JSON body to a hook URL whose token is part of the
// URL (a status page's generic hook), or sends an outgoing webhook's request
// (Send), and turns the answer into the errors
// the outbox acts on: 429 waits for Retry-After, another 4xx is permanent
// with the page's reason, 5xx and network failures are retried. No error it
// returns shows the URL's query or path beyond its host.
package hookpost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/statuspage"
)

// maxReason is how much of an error body is kept as the reason.
const maxReason = 200

// DefaultRetryAfter is the wait after a 429 without a usable Retry-After.
const DefaultRetryAfter = 5 * time.Second

// Post sends body to rawURL as application/json with client.
func Post(ctx context.Context, client *http.Client, rawURL string, body []byte) error {
	if len(body) == 0 {
		return adapters.Permanent(errors.New("no payload to post"))
	}
	return Send(ctx, client, Request{Method: http.MethodPost, URL: rawURL,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body})
}

// Request is one request to a hook: an outgoing webhook's, with its own
// method, headers and body.
type Request struct {
	Method string // default POST
	URL    string
	Header http.Header
	Body   []byte // nil sends none
}

// Send sends req with client and turns the answer into the errors the
// outbox acts on, as Post does.
func Send(ctx context.Context, client *http.Client, r Request) error {
	shown := Shown(r.URL)
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return adapters.Permanent(fmt.Errorf("hook %s: bad URL or method", shown))
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, token and all
		}
		return fmt.Errorf("%s to %s: %w", strings.ToLower(method), shown, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		// Only a client that does not follow redirects sees one: a hook's
		// request (and its headers) is not sent to another URL.
		return adapters.Permanent(fmt.Errorf("%s answered %d (a redirect, not followed): point the hook at its new URL", shown, code))
	case code == http.StatusTooManyRequests:
		return &adapters.RetryAfterError{After: retryAfter(resp.Header.Get("Retry-After")), Err: fmt.Errorf("%s answered 429", shown)}
	case code >= 400 && code < 500:
		return adapters.Permanent(fmt.Errorf("%s answered %d: %s", shown, code, scrub(Reason(raw), r)))
	default:
		return fmt.Errorf("%s answered %d: %s", shown, code, scrub(Reason(raw), r))
	}
}

// minScrubbed is the shortest value scrub hides: shorter ones are words a
// reason may well hold for other reasons.
const minScrubbed = 8

// scrub hides in a receiver's reason what the request carried that is a
// credential, for a receiver that echoes the request back: the URL's query
// (and each value in it) and its long path segments (an incoming webhook's
// token), and the values, word by word too ("Bearer <token>"), of headers
// that are secret by their name or value, the signature among them.
func scrub(reason string, r Request) string {
	var creds []string
	if u, err := url.Parse(r.URL); err == nil {
		creds = append(creds, u.RawQuery)
		for _, vs := range u.Query() {
			creds = append(creds, vs...)
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			if len(seg) >= 16 {
				creds = append(creds, seg)
			}
		}
	}
	for k, vs := range r.Header {
		if !secret.Hides(k, strings.Join(vs, " ")) && !containsAny(strings.ToLower(k), "auth", "key", "sig") {
			continue
		}
		for _, v := range vs {
			creds = append(creds, v)
			creds = append(creds, strings.Fields(v)...)
		}
	}
	slices.SortFunc(creds, func(a, b string) int { return len(b) - len(a) }) // a value before its parts
	for _, c := range creds {
		if len(c) >= minScrubbed {
			reason = strings.ReplaceAll(reason, c, "****")
		}
	}
	return reason
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Shown is the URL as errors and logs show it: scheme and host only.
func Shown(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "the hook URL"
	}
	return u.Scheme + "://" + u.Host
}

// Reason is an error body cut to one line of at most maxReason bytes.
func Reason(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > maxReason {
		s = s[:maxReason]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s == "" {
		return "no reason given"
	}
	return s
}

func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return DefaultRetryAfter
}

// Chat is an adapters.Chat that posts each delivery's rendered payload
// (Message.Payload) to the URL in its Room.ID: a status page service or a
// webhook. It neither edits, threads nor shows buttons.
type Chat struct {
	kind   string
	client *http.Client
}

// NewChat returns a Chat for the platform kind that posts with client (one
// with a 30 s timeout that follows no redirect, if nil: a followed redirect
// would turn the POST into a GET elsewhere and count its 2xx as delivered).
func NewChat(kind string, client *http.Client) *Chat {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Chat{kind: kind, client: client}
}

// Platform is the kind NewChat was given.
func (c *Chat) Platform() string { return c.kind }

// Capabilities: a hook neither edits, threads nor shows buttons.
func (c *Chat) Capabilities() adapters.Capabilities { return adapters.Capabilities{} }

// Deliver posts d.Msg.Payload to the hook URL in d.Room.ID.
func (c *Chat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if err := Post(ctx, c.client, d.Room.ID, d.Msg.Payload); err != nil {
		return "", fmt.Errorf("%s %s: %w", c.kind, d.Room.Name, err)
	}
	return "", nil
}

// PageDescriptor is a status page kind for the platform list: pages of this
// kind are listed under status_pages (each with its own hook URL per service
// when kind.Services is set), render turns a page incident's updates into
// its request bodies, and the outbox delivers them through a Chat that posts
// each rendered update, like to any room.
func PageDescriptor(kind config.PageKind, name string, render statuspage.Renderer) platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:     name,
			Limit:    config.RateLimit{Messages: 30, Per: time.Minute},
			PageKind: &kind,
		},
		Render: render,
		Build:  func(platform.Env) (platform.Built, error) { return platform.Built{Chat: NewChat(name, nil)}, nil },
	}
}
