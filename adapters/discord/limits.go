package discord

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitrep/sitrep/adapters"
)

// discordHost is the host discordgo's endpoints name.
const discordHost = "discord.com"

// redirect sends requests for Discord's host to base instead, so a session
// can speak to a fake without touching discordgo's package-level endpoints.
type redirect struct {
	base *url.URL
	next http.RoundTripper
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != discordHost {
		return r.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = r.base.Scheme, r.base.Host
	u.Path = strings.TrimRight(r.base.Path, "/") + u.Path
	if u.RawPath != "" {
		u.RawPath = strings.TrimRight(r.base.Path, "/") + u.RawPath
	}
	out.URL, out.Host = &u, r.base.Host
	return r.next.RoundTrip(out)
}

// limiter keeps Discord's rate limits as its answers state them: per route,
// the time its bucket refills once empty, and the global limit's.
type limiter struct {
	now    func() time.Time
	mu     sync.Mutex
	routes map[string]time.Time // route → empty until
	global time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, routes: map[string]time.Time{}}
}

// Route is the rate limit route of a request: its method and path with the
// message ID (not a major parameter) generalised.
func Route(method, rawURL string) string {
	u, err := url.Parse(rawURL)
	path := rawURL
	if err == nil {
		path = u.Path
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 1; i < len(parts); i++ {
		if parts[i-1] == "messages" && isSnowflake(parts[i]) {
			parts[i] = ":id"
		}
	}
	// Drop the API prefix ("api/v9"), wherever the request went.
	for len(parts) > 0 && (parts[0] == "api" || strings.HasPrefix(parts[0], "v") && isSnowflake(parts[0][1:])) {
		parts = parts[1:]
	}
	return method + " /" + strings.Join(parts, "/")
}

var errBucketEmpty = errors.New("discord: rate limit bucket empty")

// check returns a RetryAfterError while route's bucket, or the global
// limit, is empty: the outbox waits exactly that long, and discordgo is
// never asked to sleep.
func (l *limiter) check(method, rawURL string) error {
	route := Route(method, rawURL)
	now := l.now()
	l.mu.Lock()
	until := l.routes[route]
	if l.global.After(until) {
		until = l.global
	}
	l.mu.Unlock()
	if wait := until.Sub(now); wait > 0 {
		return &adapters.RetryAfterError{After: wait, Err: errBucketEmpty}
	}
	return nil
}

// observe records what an answer says of its route's bucket.
func (l *limiter) observe(route string, resp *http.Response) {
	h := resp.Header
	after, ok := seconds(h.Get("X-RateLimit-Reset-After"))
	if resp.StatusCode == http.StatusTooManyRequests {
		if ra, ok2 := seconds(h.Get("Retry-After")); ok2 && (!ok || ra > after) {
			after, ok = ra, true
		}
	}
	if !ok {
		return
	}
	global := h.Get("X-RateLimit-Global") != "" || h.Get("X-RateLimit-Scope") == "global"
	empty := h.Get("X-RateLimit-Remaining") == "0" || resp.StatusCode == http.StatusTooManyRequests
	until := l.now().Add(after)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case global && resp.StatusCode == http.StatusTooManyRequests:
		l.global = until
	case empty:
		l.routes[route] = until
	default:
		delete(l.routes, route)
	}
}

func seconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 3600 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// observer is the session's transport: it feeds every answer's rate limit
// headers to the limiter.
type observer struct {
	limits *limiter
	next   http.RoundTripper
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	if err == nil {
		o.limits.observe(Route(req.Method, req.URL.String()), resp)
	}
	return resp, err
}
