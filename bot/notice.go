package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/hipchatapi"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/timeline"
)

// Notice is the HipChat-compatible API's Sink. A notice reaches its room and
// lands on the room's team timeline, reaching the team's other rooms (a room
// with no team: that room only). One that names an incident ("#42 …") also
// lands on the incident's timeline and so reaches the incident's rooms,
// which the team delivery then skips (no room gets it twice). It returns
// once all of it is durable: only then does the API answer 204.
func (b *Bot) Notice(ctx context.Context, room rooms.Room, n hipchatapi.Notice) error {
	msg := adapters.Message{Text: n.Text, Color: n.Color, User: n.From}
	if n.Card != nil {
		msg.Title = n.Card.Title
		if n.Card.Description != "" {
			msg.Text += "\n" + n.Card.Description
		}
	}
	origin := timeline.Origin{Adapter: hipchatapi.Adapter, Room: room.Name, User: n.From, Time: n.Time}
	var except []string
	if cmd, ok, err := commands.Parse(n.Text); ok && err == nil && cmd.Verb == commands.VerbChat && strings.HasPrefix(n.Text, "#") {
		id := cmd.IncidentID
		res, err := b.tl.Act(ctx, timeline.Action{IncidentID: id, Kind: timeline.KindChat, Text: cmd.Text, Origin: origin})
		switch {
		case err == nil:
			for _, r := range res.Incident.Rooms {
				if r != room.Name {
					except = append(except, r)
				}
			}
		case !errors.Is(err, timeline.ErrNotFound):
			return fmt.Errorf("notice on incident #%d: %w", id, err)
		}
	}
	if err := b.teams.Notice(ctx, room, msg, origin, except...); err != nil {
		return fmt.Errorf("notice for room %s: %w", room.Name, err)
	}
	return nil
}
