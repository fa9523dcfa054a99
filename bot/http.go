package bot

import (
	"fmt"

	"github.com/sitrep/sitrep/api"
	"github.com/sitrep/sitrep/rooms"
)

// registerAPI serves the health checks, the metrics and the admin API.
func (b *Bot) registerAPI() {
	b.mux.HandleFunc("GET /healthz", b.healthz)
	b.mux.HandleFunc("GET /readyz", b.readyz)
	b.mux.Handle("GET /metrics", b.metrics())
	api.New(api.Options{
		AdminToken:  b.cfg.AdminToken,
		DefaultRoom: b.cfg.DefaultRoom,
		WebRooms:    b.cfg.Web.On(),
		DB:          b.db,
		Rooms:       b.rooms,
		Routes:      b.router,
		Timeline:    b.tl,
		Outbox:      b.outbox,
		RoomUsable:  b.roomUsable,
		Logger:      b.log,
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
	d, known := b.platforms.Get(room.Platform)
	if _, on := b.chats[room.Platform]; !known || !on {
		return "platform", fmt.Sprintf("platform %s is off on this server: configure it first", room.Platform)
	}
	if d.Room != nil {
		if fe := d.Room(b.cfg, room); fe != nil {
			return fe.Field, fe.Msg
		}
	}
	return "", ""
}
