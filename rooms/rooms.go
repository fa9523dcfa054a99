// Package rooms is sitrep's list of chat rooms: which platform each is on,
// the platform's ID for it, its own token where the platform has one, and
// the team it belongs to, the HipChat room numbers it answers to, and the
// token that lets a client post to it through sitrep's HipChat-compatible API.
// Tokens are write-only: no output shows more than their last four characters.
package rooms

import (
	"fmt"
	"log/slog"
	"regexp"

	"github.com/sitrep/sitrep/secret"
)

// Room is one chat room sitrep delivers to.
type Room struct {
	Name        string `json:"name" yaml:"name"`
	Platform    string `json:"platform" yaml:"platform"`
	ID          string `json:"id" yaml:"id"`
	Token       string `json:"token,omitempty" yaml:"token,omitempty"`
	Team        string `json:"team,omitempty" yaml:"team,omitempty"`
	DisplayName string `json:"display_name,omitempty" yaml:"display_name,omitempty"`
	// Threads, where the platform has them, puts an incident's later events
	// in its card's thread; false posts them in the room. Default true.
	Threads *bool `json:"threads,omitempty" yaml:"threads,omitempty"`
	// HipChatIDs are HipChat room numbers this room also answers to on
	// sitrep's HipChat-compatible API, so webhooks written for a HipChat
	// room keep working after the room moves to another platform.
	HipChatIDs []string `json:"hipchat_ids,omitempty" yaml:"hipchat_ids,omitempty"`
	// NotifyToken is sitrep's own credential for posting to this room through
	// its HipChat-compatible API (unlike Token, which sitrep sends to the
	// platform). Write-only, like Token.
	NotifyToken string `json:"notify_token,omitempty" yaml:"notify_token,omitempty"`
}

// ThreadsOn reports whether the room wants an incident's events in its card's thread.
func (r Room) ThreadsOn() bool { return r.Threads == nil || *r.Threads }

var (
	nameRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	platformRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
	hipchatRE  = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

// FieldError names the field of a room that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks a room on its own; it returns a *FieldError. What a
// platform asks of its rooms (an ID's shape, a token) is the platform's to
// check (see package platform).
func (r Room) Validate() error {
	if !nameRE.MatchString(r.Name) {
		return &FieldError{"name", fmt.Sprintf("%q is not a valid room name (letters, digits, '.', '_', '-'; up to 64)", clip(r.Name))}
	}
	if r.Platform == "" {
		return &FieldError{"platform", "required: the chat platform the room is on, such as webroom or hipchat"}
	}
	if !platformRE.MatchString(r.Platform) {
		return &FieldError{"platform", fmt.Sprintf("%q is not a platform name (lower-case letters and digits), such as webroom or hipchat", clip(r.Platform))}
	}
	seen := make(map[string]bool, len(r.HipChatIDs))
	for _, id := range r.HipChatIDs {
		if !hipchatRE.MatchString(id) {
			return &FieldError{"hipchat_ids", fmt.Sprintf("%q is not a HipChat room number (digits, no leading zero)", id)}
		}
		if seen[id] {
			return &FieldError{"hipchat_ids", fmt.Sprintf("%q is listed twice", id)}
		}
		seen[id] = true
	}
	return nil
}

// WithDefaults fills what can be derived: a room with no ID takes its name
// as its platform ID (a web room's ID is its name; other platforms check
// that it has the shape of theirs).
func (r Room) WithDefaults() Room {
	if r.ID == "" {
		r.ID = r.Name
	}
	return r
}

// Redacted is the room as every output shows it: the tokens cut to their last four characters.
func (r Room) Redacted() Room {
	r.Token = secret.Redact(r.Token)
	r.NotifyToken = secret.Redact(r.NotifyToken)
	return r
}

// String never shows the tokens.
func (r Room) String() string {
	return fmt.Sprintf("%s (%s:%s)", r.Name, r.Platform, r.ID)
}

// LogValue keeps tokens out of structured logs.
func (r Room) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", r.Name), slog.String("platform", r.Platform),
		slog.String("id", r.ID), slog.String("token", secret.Redact(r.Token)),
		slog.String("notify_token", secret.Redact(r.NotifyToken)))
}

// clip cuts what a message echoes of a bad value to 64 runes.
func clip(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}
