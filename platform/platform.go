// Package platform describes a chat platform to the rest of sitrep: its
// name, its default rate limit, the rules for a room on it, and how to build
// its adapter (its Chat, its HTTP routes, its background loop). Each adapter
// package offers one Descriptor; package platforms lists them, and nothing
// else in sitrep names a platform.
package platform

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/storage"
)

// Limit is a platform's default rate limit per room: Messages per Per.
type Limit struct {
	Messages int
	Per      time.Duration
}

// Env is what a platform's Build gets.
type Env struct {
	Config *config.Config
	DB     *storage.DB
	// Inbox takes what responders send; its Receive is an adapters.Handler
	// that stores, dedupes and hands over each Inbound.
	Inbox *inbox.Inbox
	// Mux is sitrep's HTTP server, for the platform's webhooks and pages.
	Mux *http.ServeMux
	Log *slog.Logger
	// RoomExists reports whether a sitrep room on this platform has the
	// platform ID id.
	RoomExists func(id string) bool
}

// Built is a platform's adapter as Build made it.
type Built struct {
	// Chat delivers to the platform; nil means the platform is off.
	Chat adapters.Chat
	// Off says, when Chat is nil, how to turn the platform on.
	Off string
	// Run, if set, is the platform's background loop (a gateway, a socket):
	// it runs until ctx ends.
	Run func(ctx context.Context) error
	// Close, if set, is called when sitrep stops, before storage closes.
	Close func()
}

// Descriptor is one platform.
type Descriptor struct {
	// Name is the platform's name in rooms and config ("webroom", "hipchat").
	Name string
	// Limit is the rate limit of a room on the platform unless rate_limits
	// sets one.
	Limit Limit
	// Room checks what the platform needs of a room beyond rooms.Room's own
	// rules, given the config (a HipChat room needs a token unless
	// hipchat.token is set); nil accepts every room.
	Room func(cfg *config.Config, r rooms.Room) *rooms.FieldError
	// Build makes the platform's adapter.
	Build func(env Env) (Built, error)
}

// List is the platforms sitrep knows, in the order they are built.
type List []Descriptor

// Get returns the descriptor named name.
func (l List) Get(name string) (Descriptor, bool) {
	for _, d := range l {
		if d.Name == name {
			return d, true
		}
	}
	return Descriptor{}, false
}

// Names lists the platforms' names.
func (l List) Names() []string {
	out := make([]string, len(l))
	for i, d := range l {
		out[i] = d.Name
	}
	return out
}
