package statuspage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/timeline"
)

// maxListed bounds /incident list.
const maxListed = 20

// Command carries out a status page subcommand of /incident typed in a room
// (commands.Options.Pages): it answers the sender, and a request that cannot
// be carried out is a *commands.UsageError naming what is wrong, with
// nothing done.
func (e *Engine) Command(ctx context.Context, pc commands.PageCommand, in adapters.Inbound, origin timeline.Origin) (string, error) {
	usage := commands.PageUsage(pc.Sub)
	if pc.Sub != "list" && e.opts.Admins != nil && !e.opts.Admins(origin.Room, in) {
		return "", &commands.UsageError{Msg: "you may not change status pages from here (status_admins)"}
	}
	reply, err := e.command(ctx, pc, origin)
	var ue *UserError
	switch {
	case errors.As(err, &ue):
		return "", &commands.UsageError{Usage: usage, Msg: ue.Msg}
	case errors.Is(err, timeline.ErrNotFound):
		return "", &commands.UsageError{Usage: usage, Msg: fmt.Sprintf("no incident #%d", pc.IncidentID)}
	case errors.Is(err, ErrNoPageIncident): // closed by someone else since hasOpen looked
		return "", &commands.UsageError{Usage: usage, Msg: fmt.Sprintf("#%d is already resolved on its status page%s", pc.IncidentID, onPage(pc.Page))}
	}
	return reply, err
}

func (e *Engine) command(ctx context.Context, pc commands.PageCommand, origin timeline.Origin) (string, error) {
	switch pc.Sub {
	case "open":
		req := OpenRequest{Page: pc.Page, Services: pc.Services, Title: pc.Title, Description: pc.Text,
			Silent: pc.Silent, Draft: pc.Draft, Room: origin.Room}
		var err error
		if req.State, err = optState(pc.State); err != nil {
			return "", err
		}
		if req.Status, err = optStatus(pc.Status); err != nil {
			return "", err
		}
		if req.Status == Up {
			return "", userErr("an incident opens with its services down or degraded")
		}
		res, err := e.Open(ctx, req, origin)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("opened #%d: %s", res.Incident.ID, followText(res)), nil
	case "update":
		state, err := ParseState(pc.State)
		if err != nil {
			return "", userErr("%v", err)
		}
		status, err := optStatus(pc.Status)
		if err != nil {
			return "", err
		}
		res, err := e.Update(ctx, pc.IncidentID, state, status, pc.Page, pc.Text, origin)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("#%d: %s", res.Incident.ID, followText(res)), nil
	case "resolve":
		res, err := e.Resolve(ctx, pc.IncidentID, pc.Page, pc.Text, origin)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("resolved #%d: %s", res.Incident.ID, followText(res)), nil
	case "maintenance":
		loc := time.UTC
		if e.opts.Location != nil {
			if l := e.opts.Location(origin.Room); l != nil {
				loc = l
			}
		}
		now := e.opts.Now()
		start, err := commands.ParseTime(pc.Start, now, loc)
		if err != nil {
			return "", userErr("--start: %v", err)
		}
		// A relative end ("+2h") counts from the start: the maintenance's length.
		from := now
		if strings.HasPrefix(strings.TrimSpace(pc.End), "+") {
			from = start
		}
		end, err := commands.ParseTime(pc.End, from, loc)
		if err != nil {
			return "", userErr("--end: %v", err)
		}
		status, err := optStatus(pc.Status)
		if err != nil {
			return "", err
		}
		p, err := e.Maintenance(ctx, MaintenanceRequest{Page: pc.Page, Services: pc.Services, Title: pc.Title, Description: pc.Text,
			Start: start, End: end, Status: status, Silent: pc.Silent, Draft: pc.Draft, Room: origin.Room}, origin)
		if err != nil {
			return "", err
		}
		return "announced " + e.line(p), nil
	case "list":
		list, err := e.List(maxListed)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "no open status page incidents", nil
		}
		lines := make([]string, len(list))
		for i, p := range list {
			lines[i] = e.line(p)
		}
		return strings.Join(lines, "\n"), nil
	}
	return "", userErr("unknown /incident subcommand %q", pc.Sub)
}

// StatusCommand answers /status: what sitrep last sent each page and
// service (the hooks are write-only: this is sitrep's view, not the page's).
func (e *Engine) StatusCommand(context.Context, commands.Command, adapters.Inbound) (string, error) {
	shown, err := e.Shown()
	if err != nil {
		return "", err
	}
	if len(shown) == 0 {
		return "no status page is configured on this server", nil
	}
	lines := []string{"status pages, as sitrep last sent them:"}
	for _, s := range shown {
		where := e.where(s.Page, "", []string{s.Service})
		switch {
		case s.Sent.IsZero():
			lines = append(lines, where+": nothing sent yet")
		case s.Maint:
			lines = append(lines, fmt.Sprintf("%s: maintenance announced %s: %s", where, stamp(s.Sent), s.Title))
		case s.State == Resolved:
			lines = append(lines, fmt.Sprintf("%s: up (#%d %s resolved %s)", where, s.Incident, s.Title, stamp(s.Sent)))
		default:
			lines = append(lines, fmt.Sprintf("%s: %s, %s — #%d %s (sent %s)", where, s.Status, s.State, s.Incident, s.Title, stamp(s.Sent)))
		}
	}
	return strings.Join(lines, "\n"), nil
}

// line is /incident list's line for p.
func (e *Engine) line(p PageIncident) string {
	where := e.Where(p)
	if p.Maintenance {
		return fmt.Sprintf("maintenance on %s %s–%s, %s: %s", where, p.Start.UTC().Format("2006-01-02 15:04"), stamp(p.End), p.Status, p.Title)
	}
	ids := make([]string, len(p.Incidents))
	for i, id := range p.Incidents {
		ids[i] = fmt.Sprintf("#%d", id)
	}
	return fmt.Sprintf("%s %s: %s, %s — %s (since %s)", strings.Join(ids, " "), where, p.State, p.Status, p.Title, stamp(p.Start))
}

func followText(res timeline.Result) string {
	var parts []string
	if res.Event.Kind == timeline.KindStatusPage {
		parts = append(parts, res.Event.Text)
	}
	for _, f := range res.Follow {
		parts = append(parts, f.Text)
	}
	if len(parts) == 0 {
		return "no status page was changed"
	}
	return strings.Join(parts, "; ")
}

func optState(s string) (State, error) {
	if s == "" {
		return "", nil
	}
	st, err := ParseState(s)
	if err != nil {
		return "", userErr("--state: %v", err)
	}
	return st, nil
}

func optStatus(s string) (Status, error) {
	if s == "" {
		return "", nil
	}
	st, err := ParseStatus(s)
	if err != nil {
		return "", userErr("--status: %v", err)
	}
	return st, nil
}
