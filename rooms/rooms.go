// Package rooms is sitrep's list of chat rooms: which platform each is on,
// the platform's ID for it, its own token where the platform has one, and
// the team it belongs to. Tokens are write-only: no output shows more than
// their last four characters.
package rooms

import (
	"fmt"
	"log/slog"
	"regexp"

	"github.com/sitrep/sitrep/secret"
)

// Platforms sitrep can deliver to.
const (
	PlatformWebRoom = "webroom"
	PlatformHipChat = "hipchat"
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
)

// Room is one chat room sitrep delivers to.
type Room struct {
	Name        string `json:"name" yaml:"name"`
	Platform    string `json:"platform" yaml:"platform"`
	ID          string `json:"id" yaml:"id"`
	Token       string `json:"token,omitempty" yaml:"token,omitempty"`
	Team        string `json:"team,omitempty" yaml:"team,omitempty"`
	DisplayName string `json:"display_name,omitempty" yaml:"display_name,omitempty"`
}

var (
	nameRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	platformRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
)

// FieldError names the field of a room that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks a room on its own; it returns a *FieldError.
func (r Room) Validate() error {
	if !nameRE.MatchString(r.Name) {
		return &FieldError{"name", fmt.Sprintf("%q is not a valid room name (letters, digits, '.', '_', '-'; up to 64)", r.Name)}
	}
	switch r.Platform {
	case PlatformWebRoom, PlatformSlack, PlatformDiscord:
		if r.Token != "" {
			return &FieldError{"token", fmt.Sprintf("platform %s takes no per-room token (its credentials are set once for the platform)", r.Platform)}
		}
	case PlatformHipChat:
	case "":
		return &FieldError{"platform", "required: one of webroom, hipchat, slack, discord"}
	default:
		// Which platforms this server has is the platform list's to say
		// (the admin API and start-up check it); a name is all rooms checks.
		if !platformRE.MatchString(r.Platform) {
			return &FieldError{"platform", fmt.Sprintf("%q is not a platform name (lower-case letters and digits), such as webroom or hipchat", r.Platform)}
		}
	}
	if r.ID == "" {
		if r.Platform != PlatformWebRoom {
			return &FieldError{"id", "required: the platform's room or channel ID"}
		}
	}
	if r.Platform == PlatformHipChat && !isDigits(r.ID) {
		// HipChat's webhooks name a room by its number: a room set up by name
		// would not know its own responders' chat, and echo it back.
		return &FieldError{"id", fmt.Sprintf("a HipChat room's id is its number (as in the room's URL and webhooks), not %q", r.ID)}
	}
	return nil
}

// WithDefaults fills what can be derived: a web room's ID is its name.
func (r Room) WithDefaults() Room {
	if r.ID == "" && r.Platform == PlatformWebRoom {
		r.ID = r.Name
	}
	return r
}

// Redacted is the room as every output shows it: the token cut to its last four characters.
func (r Room) Redacted() Room {
	r.Token = secret.Redact(r.Token)
	return r
}

// String never shows the token.
func (r Room) String() string {
	return fmt.Sprintf("%s (%s:%s)", r.Name, r.Platform, r.ID)
}

// LogValue keeps tokens out of structured logs.
func (r Room) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", r.Name), slog.String("platform", r.Platform),
		slog.String("id", r.ID), slog.String("token", secret.Redact(r.Token)))
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
