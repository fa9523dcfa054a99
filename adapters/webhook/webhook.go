// Package webhook sends outgoing webhooks' requests (package webhooks) for
// the outbox: each delivery carries a request rendered when its event was
// recorded; the Chat signs it now, with the webhook's signing secret looked
// up by name at this moment (never stored in the entry), and sends it
// through hookpost, so 429 waits for Retry-After, 5xx and network failures
// are retried, and any other 4xx (or a redirect) is dead-lettered with the
// receiver's reason. No error shows a URL's path or query.
package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hookpost"
	"github.com/sitrep/sitrep/webhooks"
)

// Platform is the Chat's platform name, as metrics label it.
const Platform = "webhook"

// Options configure a Chat.
type Options struct {
	// Client sends the requests; default one with a 30 s timeout that
	// follows no redirect.
	Client *http.Client
	// Secret returns the signing secret of the webhook named name ("" for
	// none), and false when no such webhook is configured any more (its
	// pending deliveries are then dead-lettered).
	Secret func(name string) (string, bool)
	Now    func() time.Time // default time.Now
}

// Chat is the adapters.Chat of outgoing webhooks.
type Chat struct{ opts Options }

// New returns a Chat.
func New(opts Options) *Chat {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Secret == nil {
		opts.Secret = func(string) (string, bool) { return "", true }
	}
	return &Chat{opts: opts}
}

// Platform is "webhook".
func (c *Chat) Platform() string { return Platform }

// Capabilities: a webhook neither edits, threads nor shows buttons.
func (c *Chat) Capabilities() adapters.Capabilities { return adapters.Capabilities{} }

// Deliver signs and sends the request d.Msg.Payload carries.
func (c *Chat) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	name := strings.TrimPrefix(d.Room.Name, webhooks.RoomPrefix)
	secret, ok := c.opts.Secret(name)
	if !ok {
		return "", adapters.Permanent(fmt.Errorf("webhook %s is no longer configured", name))
	}
	req, err := webhooks.DecodeRequest(d.Msg.Payload)
	if err != nil {
		return "", adapters.Permanent(fmt.Errorf("webhook %s: %w", name, err))
	}
	h := http.Header{}
	for k, v := range req.Headers {
		h.Set(k, v)
	}
	var body []byte
	if req.ContentType != "" {
		h.Set("Content-Type", req.ContentType)
		body = []byte(req.Body)
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "sitrep-webhook")
	}
	h.Set(webhooks.HeaderEvent, req.Event)
	h.Set(webhooks.HeaderDelivery, d.Key)
	ts := c.opts.Now().Unix()
	h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(ts, 10))
	if secret != "" {
		h.Set(webhooks.HeaderSignature, webhooks.Sign(secret, ts, body))
	}
	if err := hookpost.Send(ctx, c.opts.Client, hookpost.Request{Method: req.Method, URL: req.URL, Header: h, Body: body}); err != nil {
		return "", fmt.Errorf("webhook %s: %w", name, err)
	}
	return "", nil
}
