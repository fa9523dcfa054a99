package bot

import (
	"fmt"

	"github.com/sitrep/sitrep/adapters/webroom"
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
		WebRooms:    b.web != nil,
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
// fields: its platform is on, and sitrep can reach it there.
func (b *Bot) roomUsable(room rooms.Room) (field, msg string) {
	room = room.WithDefaults()
	if room.Platform == "" {
		return "", "" // rooms.Put names the missing platform
	}
	if _, on := b.chats[room.Platform]; !on {
		return "platform", fmt.Sprintf("platform %s is off on this server: configure it first", room.Platform)
	}
	switch room.Platform {
	case rooms.PlatformWebRoom:
		if !webroom.ValidRoomName(room.ID) {
			return "id", "a web room's id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
		}
	case rooms.PlatformHipChat:
		if room.Token == "" && b.cfg.HipChat.Token == "" {
			return "token", "required for a HipChat room, unless hipchat.token is set"
		}
	}
	return "", ""
}
