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
// when the name looks secret, as it is otherwise.
func RedactField(name, val string) string {
	if LooksSecret(name) {
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
