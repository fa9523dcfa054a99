// Package accesslog writes one log line per HTTP request: method, path (never
// its query, which may hold a token), status, bytes, duration and remote
// address. Refusals (4xx, 5xx) and changes (what the caller's Change says,
// e.g. the admin API's writes) are logged at info, everything else at
// debug, so an accepted alert costs nothing unless debug logging is on.
package accesslog

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Handler wraps next. change reports whether an accepted request changed
// something worth an info line; nil counts every method but GET, HEAD and
// OPTIONS.
func Handler(next http.Handler, log *slog.Logger, change func(*http.Request) bool) http.Handler {
	if change == nil {
		change = func(r *http.Request) bool {
			return r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelDebug
		if status >= 400 || change(r) {
			level = slog.LevelInfo
		}
		if !log.Enabled(r.Context(), level) {
			return
		}
		path := r.URL.Path
		if len(path) > 256 {
			path = path[:256] + "…"
		}
		log.LogAttrs(context.WithoutCancel(r.Context()), level, "http",
			slog.String("method", r.Method), slog.String("path", path), slog.Int("status", status),
			slog.Int64("bytes", rec.bytes), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
	})
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush passes a flush on, for streaming responses.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes a hijack on, for websockets (which then answer 101).
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("accesslog: the response cannot be hijacked")
	}
	if r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
