package webhooks

import (
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// minPathSecret is the shortest path segment of an incoming webhook's URL
// taken for its credential (Slack's and Discord's are 24 and 68 characters;
// the IDs before them, and words like generic_v2, are shorter).
const minPathSecret = 16

// RedactURL is a webhook URL (a template, or a rendered one) as every output
// shows it: its scheme and host, its path unless the path is an incoming
// webhook's credential (secret.LooksSecretValue: then its
// segments of 16 characters or more are redacted), and its query parameters'
// names, with every query value redacted that is not only placeholders (a
// template's ${{ALERT.key}} holds no secret; the value it renders to may). A
// fragment is redacted whole.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return secret.Redact(raw)
	}
	host, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = "****@" + host[i+1:]
	}
	tail, frag, hasFrag := strings.Cut(tail, "#")
	path, query, hasQuery := strings.Cut(tail, "?")
	var b strings.Builder
	b.WriteString(scheme + "://" + host)
	if len(path) > 1 && secret.LooksSecretValue(scheme+"://"+host+path) {
		segs := strings.Split(path, "/")
		for i, seg := range segs {
			if len(seg) >= minPathSecret && !onlyPlaceholders(seg) {
				segs[i] = secret.Redact(seg)
			}
		}
		path = strings.Join(segs, "/")
	}
	b.WriteString(path)
	if hasQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, v, hasV := strings.Cut(kv, "=")
			b.WriteString(k)
			if !hasV {
				continue
			}
			b.WriteByte('=')
			if v == "" || onlyPlaceholders(v) {
				b.WriteString(v)
			} else {
				b.WriteString(secret.Redact(v))
			}
		}
	}
	if hasFrag && frag != "" {
		b.WriteString("#" + secret.Redact(frag))
	}
	return b.String()
}

// shownURL is a URL as logs and error texts show it: scheme and host only.
func shownURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "the webhook URL"
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	return scheme + "://" + host
}
