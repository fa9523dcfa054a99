// Package platform describes a chat platform to the rest of sitrep: its
// name, its default rate limit, the rules for a room on it, and how to build
// its adapter (its Chat, its HTTP routes, its background loop). Each adapter
// package offers one Descriptor; package platforms lists them, and nothing
// else in sitrep names a platform.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/statuspage"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

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
	// RoomNamed reports whether a sitrep room (on any platform) is called name.
	RoomNamed func(name string) bool
	// Room returns the sitrep room on this platform with platform ID id.
	Room func(id string) (rooms.Room, bool)
	// RoomByName returns the sitrep room (on any platform) called name.
	RoomByName func(name string) (rooms.Room, bool)
	// Timeline is sitrep's timeline, for a platform that shows incidents
	// itself (the web room's incident pages).
	Timeline *timeline.Timeline
	// IncidentPath is the path, on sitrep's own server, of the page a
	// message links its incident to: the web room's readable one where a
	// platform serves it (Built.IncidentPage), else the admin API's. Call
	// it when linking, not at Build: it is settled once every platform is built.
	IncidentPath func(id uint64) string
	// StatusPages says what each status page shows of an incident, one
	// line per page incident ("StatusHub public/api: identified, down"),
	// for a platform that shows incidents itself.
	StatusPages func(incident uint64) []string
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
	// Page, if set, is the path of a room's page on sitrep's own server
	// (the web room's), for links and the index page.
	Page func(r rooms.Room) string
	// IncidentPage, if set, is the path of an incident's readable page on
	// sitrep's own server (the web room's), which every platform's messages
	// then link to (Env.IncidentPath).
	IncidentPage func(id uint64) string
	// RoomOf, if set, maps a platform room ID that no sitrep room has to the
	// sitrep room it speaks for (HipChat's add-on installs), so what
	// responders send from it is attributed to that room.
	RoomOf func(id string) (string, bool)
}

// Descriptor is one platform: what the config knows of it (its name, its
// settings block with their secrets and environment variables, its default
// rate limit, its checks of a room), and how to build its adapter.
type Descriptor struct {
	config.Platform
	// Hosts, if set, lists further host names sitrep's server is reached by
	// that the platform's block allows (the web room's allowed_hosts).
	Hosts func(block any) []string
	// Build makes the platform's adapter.
	Build func(env Env) (Built, error)
	// Render, for a status page kind, renders a page incident's updates as
	// the kind's request bodies.
	Render statuspage.Renderer
}

// Hosts lists the host names every platform's block allows.
func (l List) Hosts(cfg *config.Config) []string {
	var out []string
	for _, d := range l {
		if d.Hosts != nil {
			out = append(out, d.Hosts(cfg.Block(d.Name))...)
		}
	}
	return out
}

// Limit is a rate limit: Messages per Per.
type Limit = config.RateLimit

// Config is what the config is read with: every platform's part.
func (l List) Config() []config.Platform {
	out := make([]config.Platform, len(l))
	for i, d := range l {
		out[i] = d.Platform
	}
	return out
}

// Usable checks a room as config check does beyond the room's own fields:
// its platform is in the list and on, and the platform's own rules for a
// room. It returns the field that is wrong and why, or "".
func (l List) Usable(cfg *config.Config, r rooms.Room, on func(platform string) bool) (field, msg string) {
	d, known := l.Get(r.Platform)
	switch {
	case !known:
		return "platform", fmt.Sprintf("unknown platform %q: one of %s", r.Platform, strings.Join(l.Names(), ", "))
	case !on(r.Platform):
		return "platform", "platform " + r.Platform + " is off on this server: configure it first"
	}
	if d.Room != nil {
		return d.Room(cfg.Block(d.Name), r)
	}
	return "", ""
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
