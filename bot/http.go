package bot

import (
	"github.com/sitrep/sitrep/api"
	"github.com/sitrep/sitrep/hipchatapi"
	"github.com/sitrep/sitrep/oncall"
	"github.com/sitrep/sitrep/rooms"
)

// registerAPI serves the health checks, the metrics, the admin API and the
// HipChat-compatible notification API.
func (b *Bot) registerAPI() {
	b.mux.HandleFunc("GET /healthz", b.healthz)
	b.mux.HandleFunc("GET /readyz", b.readyz)
	b.mux.Handle("GET /metrics", b.metrics())
	api.New(api.Options{
		AdminToken:  b.cfg.AdminToken,
		DefaultRoom: b.cfg.DefaultRoom,
		Page:        b.page,
		DB:          b.db,
		Rooms:       b.rooms,
		Routes:      b.router,
		Timeline:    b.tl,
		Outbox:      b.outbox,
		Teams:       b.teams,
		StatusPages: api.StatusPages{Store: b.pageStore, Check: b.cfg.CheckStatusPage, Shown: b.pages.Shown},
		Webhooks:    b.hooks,
		RoomUsable:  b.roomUsable,
		Logger:      b.log,
		Now:         b.now,
	}).Register(b.mux)
	b.oncall.Register(b.mux, oncall.HTTPOptions{AdminToken: b.cfg.AdminToken, IngestToken: b.cfg.IngestToken, Logger: b.log.With("component", "oncall")})
	hipchatapi.New(hipchatapi.Options{
		IngestToken: b.cfg.IngestToken,
		Rooms:       b.rooms,
		Sink:        b,
		Logger:      b.log.With("component", "hipchatapi"),
		Now:         b.now,
	}).Register(b.mux)
}

// roomUsable checks what config check checks of a room beyond its own
// fields: its platform is on, and what its platform asks of a room.
func (b *Bot) roomUsable(room rooms.Room) (field, msg string) {
	room = room.WithDefaults()
	if room.Platform == "" {
		return "", "" // rooms.Put names the missing platform
	}
	return b.platforms.Usable(b.cfg, room, func(name string) bool { _, on := b.chats[name]; return on })
}

// page is the path of a room's page on sitrep's own server, if its platform has one.
func (b *Bot) page(room rooms.Room) string {
	if built, on := b.chats[room.Platform]; on && built.Page != nil {
		return built.Page(room)
	}
	return ""
}
