package bot

import (
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/oncall"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/webhooks"
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
		Known: func(team string) bool { _, ok := b.cfg.Team(team); return ok },
		Users: b.cfg.Users,
		// On-Call, Off-Call and Any-On-Call webhooks, in the announcement's transaction.
		OnChange: func(q *outbox.Queue, c oncall.Change) ([]string, error) {
			return b.hooks.Load().OnCallChange(q, webhooks.Change{User: c.User, Team: c.Team, OnCall: c.State == oncall.StateOnCall, Group: c.Rotation, Time: c.Time})
		},
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
