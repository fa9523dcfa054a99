package bot

import (
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/oncall"
)

// newOnCall builds the on-call schedules over the bot's store and rooms.
func (b *Bot) newOnCall() (*oncall.Service, error) {
	return oncall.New(oncall.Options{
		DB:    b.db,
		Rooms: b.rooms.List,
		Zone: func(team string) *time.Location {
			t, _ := b.team(team)
			return t.TimeZone
		},
		Known:  func(team string) bool { _, ok := b.cfg.Team(team); return ok },
		Users:  b.cfg.Users,
		Notify: func(rooms ...string) { b.outbox.Notify(rooms...) },
		Logger: b.log.With("component", "oncall"),
		Now:    b.now,
	})
}

// teamOfInbound is the team of the room a line was typed in ("" for none).
func (b *Bot) teamOfInbound(in adapters.Inbound) string {
	room, ok := b.roomOf(in.Platform, in.RoomID)
	if !ok {
		return ""
	}
	return b.teams.TeamOf(room)
}
