// Package secret holds the two rules sitrep applies to every token:
// compare in constant time, and never show more than its last four characters.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Equal reports whether got matches want in time independent of their contents.
// An empty want never matches, so an unset token cannot be satisfied by an empty one.
func Equal(got, want string) bool {
	if want == "" {
		return false
	}
	// Comparing digests keeps the time independent of the lengths too.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Redact returns a form of s safe to show: "****" plus its last four characters,
// or just "****" when s is too short for that to hide most of it. Empty stays empty.
func Redact(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) < 12:
		return "****"
	default:
		return "****" + s[len(s)-4:]
	}
}

// LooksSecret reports whether a field name names a credential, so its value must be redacted.
func LooksSecret(name string) bool {
	for _, w := range []string{"token", "secret", "password", "passwd", "api_key", "api-key", "apikey", "private_key", "privatekey", "credential", "authorization", "bearer", "cookie"} {
		if containsFold(name, w) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	n, m := len(s), len(sub)
	for i := 0; i+m <= n; i++ {
		match := true
		for j := 0; j < m; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// IsRedacted reports whether s has the form Redact gives: "****" and at most
// four more characters.
func IsRedacted(s string) bool {
	rest, ok := strings.CutPrefix(s, "****")
	return ok && len(rest) <= 4
}

// RedactField returns val as outputs show the field called name: redacted
// when the name or the value looks secret (Hides), as it is otherwise.
func RedactField(name, val string) string {
	if Hides(name, val) {
		return Redact(val)
	}
	return val
}

// RedactFields returns a copy of fields with every secret-looking value
// redacted (RedactField); nil stays nil.
func RedactFields(fields map[string]string) map[string]string {
	if fields == nil {
		return nil
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = RedactField(k, v)
	}
	return out
}

// Bearer returns the token of an "Authorization: Bearer <token>" header (the
// scheme matched case-insensitively, as RFC 7235 has it), and whether r has one.
func Bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// tokenPrefixes begin well-known credentials, whatever field holds them.
var tokenPrefixes = [...]string{
	"xoxb-", "xoxp-", "xoxa-", "xoxe-", "xoxs-", "xapp-", // Slack
	"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", // GitHub
	"glpat-",                      // GitLab
	"sk_live_", "rk_live_", "sk-", // Stripe, OpenAI-style keys
	"AKIA", "ASIA", // AWS access key IDs
	"Bearer ", "Basic ", // an Authorization header value
	"-----BEGIN", // a PEM private key
}

// webhookPaths are path shapes of incoming-webhook URLs, whose path is the credential.
var webhookPaths = [...]string{
	"/services/",     // Slack (hooks.slack.com/services/T…/B…/…)
	"/api/webhooks/", // Discord
	"/webhookb2/",    // Microsoft Teams
	"/webhook/",      // Teams (outlook.office.com/webhook/…)
	"/hooks/",        // Mattermost, Rocket.Chat, generic
}

// LooksSecretValue reports whether a value looks like a credential whatever
// field holds it: a URL carrying user info, a token/key/secret/signature
// query parameter or an incoming-webhook path, or a well-known token prefix.
func LooksSecretValue(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) < 8 {
		return false
	}
	for _, p := range tokenPrefixes {
		if len(v) > len(p)+4 && strings.HasPrefix(v, p) {
			return true
		}
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/?#") {
		return false
	}
	authority, path, _ := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return true // user info
	}
	path = "/" + path
	path, query, _ := strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	for _, p := range webhookPaths {
		if i := strings.Index(path, p); i >= 0 && len(path) > i+len(p) {
			return true
		}
	}
	for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		name, val, _ := strings.Cut(kv, "=")
		if val != "" && (LooksSecret(name) || containsFold(name, "key") || containsFold(name, "sig") || containsFold(name, "auth")) {
			return true
		}
	}
	return false
}

// Hides reports whether the field called name with value v must be redacted
// in every output: its name or its value looks like a credential.
func Hides(name, v string) bool { return LooksSecret(name) || LooksSecretValue(v) }
