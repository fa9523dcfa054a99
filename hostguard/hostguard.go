// Package hostguard refuses requests whose Host header names a server sitrep
// is not, which is what a DNS-rebinding page sends: a site whose name
// resolves to 127.0.0.1 would otherwise reach sitrep's rooms, websockets and
// API from the victim's browser, with a matching Origin.
//
// While sitrep listens on loopback only, a request's host must be a loopback
// name or address, public_url's host, or an allowed host. When it listens
// beyond loopback, the host is checked against public_url's and the allowed
// hosts if public_url was set or hosts are allowed, and not checked
// otherwise (serve warns then). Health checks and metrics, which hold
// nothing to steal, are always served: probes name the server by address.
package hostguard

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/sitrep/sitrep/httpjson"
)

// Options configure a Guard.
type Options struct {
	Listen string // the listen address
	// PublicURL is the URL people reach sitrep at; its host is allowed.
	PublicURL string
	// PublicURLSet says PublicURL was configured (not derived from Listen).
	PublicURLSet bool
	// Allowed are further host names (with or without a port).
	Allowed []string
	// Open are paths served whatever the host (health checks).
	Open []string
	Log  *slog.Logger
}

// Guard wraps next.
type Guard struct {
	next    http.Handler
	opts    Options
	allowed map[string]bool // lower-case host names, no port
	check   bool
	local   bool // listening on loopback only
}

// New returns a Guard in front of next.
func New(next http.Handler, opts Options) *Guard {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{next: next, opts: opts, allowed: map[string]bool{}, local: Loopback(opts.Listen)}
	for _, h := range opts.Allowed {
		g.allowed[hostname(h)] = true
	}
	if u, err := url.Parse(opts.PublicURL); err == nil && u.Host != "" && (g.local || opts.PublicURLSet) {
		g.allowed[hostname(u.Host)] = true
	}
	g.check = g.local || opts.PublicURLSet || len(opts.Allowed) > 0
	return g
}

// Checks reports whether the guard checks hosts at all (it does not when
// sitrep listens beyond loopback with no public_url and no allowed hosts).
func (g *Guard) Checks() bool { return g.check }

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.check || g.ok(r.Host) || g.open(r.URL.Path) {
		g.next.ServeHTTP(w, r)
		return
	}
	host := r.Host
	if len(host) > 255 {
		host = host[:255] + "…"
	}
	g.opts.Log.Warn("request for a host sitrep is not refused (DNS rebinding?)", "host", host, "path", r.URL.Path, "remote", r.RemoteAddr,
		"fix", "set public_url, or add the host to web.allowed_hosts")
	httpjson.Error(w, http.StatusForbidden, "Host", "sitrep does not serve host "+quote(host)+": set public_url or web.allowed_hosts to allow it")
}

func (g *Guard) ok(host string) bool {
	name := hostname(host)
	if name == "" {
		return false
	}
	if g.allowed[name] {
		return true
	}
	return g.local && isLoopbackName(name)
}

func (g *Guard) open(path string) bool {
	for _, p := range g.opts.Open {
		if path == p {
			return true
		}
	}
	return false
}

// hostname is host without its port, lower-case, without brackets or a trailing dot.
func hostname(host string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	return h
}

func isLoopbackName(name string) bool {
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// Loopback reports whether a listen address is reachable from this machine only.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	return isLoopbackName(strings.ToLower(host))
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
