// Package faulttest puts faults in front of a platform's fake: a reverse
// proxy that, per request and by a seeded random draw, refuses it with the
// platform's own 429 (Refusal: its headers and body), answers 503, or closes
// the connection without reading the request, and otherwise passes it on
// untouched. Down makes it refuse everything until Up, as a platform that is
// unreachable or down for a while. Nothing a fault refused reaches the fake,
// so a fault can make a delivery late but never double.
//
// With one proxy per fake and one room per fake, the n-th request a room
// sends meets the same fate on every run with the same seed, however the
// machine schedules it, so a test over a fixed seed is repeatable.
package faulttest

import (
	"encoding/json"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Faults are the shares of matching requests that meet each fault; the
// rest pass. The shares add up to at most 1.
type Faults struct {
	RateLimited float64 // answered 429 by the Refusal
	Unavailable float64 // answered 503 Service Unavailable
	Dropped     float64 // connection closed with the request unread
}

// Standard is the mix the delivery tests run under: 15% 429, 15% 503, 5%
// of connections dropped.
func Standard() Faults { return Faults{RateLimited: 0.15, Unavailable: 0.15, Dropped: 0.05} }

// Refusal writes a platform's 429 answer.
type Refusal func(w http.ResponseWriter, now time.Time)

// HipChat answers as HipChat's flood control does, with Retry-After: 1.
func HipChat(w http.ResponseWriter, _ time.Time) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{
		"code": http.StatusTooManyRequests, "type": "Too Many Requests",
		"message": "You have exceeded the flood control limit for this room. See https://www.hipchat.com/docs/apiv2/rate_limiting",
	}})
}

// Slack answers as Slack's Web API does past a method's limit.
func Slack(w http.ResponseWriter, _ time.Time) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
}

// Discord answers as Discord does when a route's bucket is empty: the
// bucket's headers (discordgo and sitrep read X-RateLimit-Reset-After and
// Retry-After) and the body with retry_after in seconds.
func Discord(w http.ResponseWriter, now time.Time) {
	h := w.Header()
	h.Set("Retry-After", "1")
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(now.Add(time.Second).UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", "1.000")
	h.Set("X-RateLimit-Bucket", "faulttest")
	h.Set("X-RateLimit-Scope", "user")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": 1.0, "global": false})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Outage is how a proxy that is down refuses requests.
type Outage int

const (
	// Unreachable closes every connection with its request unread.
	Unreachable Outage = iota
	// Unavailable answers every request 503.
	Unavailable
)

// Options configure a Proxy.
type Options struct {
	Faults Faults
	// Refuse writes the 429s; default a bare 429 with Retry-After: 1.
	Refuse Refusal
	// Seed seeds the draws; the same seed gives the same sequence of fates.
	Seed uint64
	// Match picks the requests faults apply to (nil: all). Down refuses
	// every request, matching or not.
	Match func(*http.Request) bool
}

// Counts are what a proxy did.
type Counts struct {
	Requests    int // every request that reached the proxy
	Passed      int // handed to the fake
	RateLimited int // answered 429
	Unavailable int // answered 503 by a fault
	Dropped     int // connection closed unread by a fault
	Down        int // refused while down
}

// Refused is how many requests a fault or an outage refused.
func (c Counts) Refused() int { return c.RateLimited + c.Unavailable + c.Dropped + c.Down }

// Proxy is a faulty way to a fake. Its methods are safe for concurrent use.
type Proxy struct {
	srv  *httptest.Server
	next http.Handler
	opts Options

	mu     sync.Mutex
	rng    *rand.Rand
	counts Counts
	down   bool
	outage Outage
}

// New starts a proxy to target (a fake's base URL), closed when tb ends.
func New(tb testing.TB, target string, opts Options) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		tb.Fatalf("faulttest: target %q is not an absolute URL", target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:  func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host}) },
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p := NewHandler(rp, opts)
	p.srv = httptest.NewServer(p)
	tb.Cleanup(p.srv.Close)
	return p
}

// NewHandler is a Proxy in front of next, served by whoever serves it
// (URL is then empty).
func NewHandler(next http.Handler, opts Options) *Proxy {
	return &Proxy{next: next, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
}

// URL is the proxy's base URL: the target's, with its path, goes behind it.
func (p *Proxy) URL() string {
	if p.srv == nil {
		return ""
	}
	return p.srv.URL
}

// Down makes the proxy refuse every request as how says until Up.
func (p *Proxy) Down(how Outage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.outage = true, how
}

// Up ends an outage: requests meet the faults again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Counts returns what the proxy did so far.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

type fate int

const (
	pass fate = iota
	rateLimited
	unavailable
	dropped
)

// decide draws r's fate and counts it.
func (p *Proxy) decide(r *http.Request) fate {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts.Requests++
	if p.down {
		p.counts.Down++
		if p.outage == Unavailable {
			return unavailable
		}
		return dropped
	}
	if p.opts.Match != nil && !p.opts.Match(r) {
		p.counts.Passed++
		return pass
	}
	f := p.opts.Faults
	x := p.rng.Float64()
	switch {
	case x < f.RateLimited:
		p.counts.RateLimited++
		return rateLimited
	case x < f.RateLimited+f.Unavailable:
		p.counts.Unavailable++
		return unavailable
	case x < f.RateLimited+f.Unavailable+f.Dropped:
		p.counts.Dropped++
		return dropped
	}
	p.counts.Passed++
	return pass
}

// ServeHTTP applies the request's fate.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.decide(r) {
	case rateLimited:
		refuse := p.opts.Refuse
		if refuse == nil {
			refuse = func(w http.ResponseWriter, _ time.Time) {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		}
		refuse(w, time.Now())
	case unavailable:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "upstream unavailable\n")
	case dropped:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler) // HTTP/2: the stream is reset
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
	default:
		p.next.ServeHTTP(w, r)
	}
}
