// Package commands reads what responders type in incident rooms and acts on
// it. One platform-neutral parser understands "/ack 42", "!resolve #42 fixed",
// "/sitrep note 42 text", "#42 restarting the db" and the rest; the Handler
// applies them to the timeline, recording where each came from, and answers
// the sender with a short confirmation or a usage line.
package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

// Options configure a Handler.
type Options struct {
	Timeline *timeline.Timeline
	// RoomOf maps a platform room to its sitrep room name; false means it is
	// not a sitrep room (commands still work, with no room on the origin).
	RoomOf func(platform, roomID string) (string, bool)
	// Extra handles verbs the Handler does not: "route", "oncall", or new
	// ones. Built-in verbs (ack, resolve, note, chat, incidents, incident,
	// help) cannot be replaced.
	Extra map[Verb]func(ctx context.Context, cmd Command, in adapters.Inbound) (string, error)
	// Chat, if set, takes a chat line that names no incident, typed in the
	// sitrep room named room (its team's timeline and bridge).
	Chat func(ctx context.Context, room string, in adapters.Inbound, origin timeline.Origin) error
	// Pages, if set, carries out the status page subcommands of /incident
	// (open, update, resolve, maintenance, list); its reply goes to the
	// sender. A *UsageError it returns is shown as a usage line.
	Pages func(ctx context.Context, pc PageCommand, in adapters.Inbound, origin timeline.Origin) (string, error)
	Now   func() time.Time // default time.Now
}

// Handler turns inbound chat lines into timeline actions.
type Handler struct {
	tl     *timeline.Timeline
	roomOf func(platform, roomID string) (string, bool)
	extra  map[Verb]func(context.Context, Command, adapters.Inbound) (string, error)
	known  map[Verb]bool
	chat   func(context.Context, string, adapters.Inbound, timeline.Origin) error
	pages  func(context.Context, PageCommand, adapters.Inbound, timeline.Origin) (string, error)
	now    func() time.Time
}

// Limits on what the Handler writes back.
const (
	maxListed     = 20  // lines of /incidents
	recentEvents  = 5   // events /incident shows
	maxTitleRunes = 100 // per title in a reply
	maxEventRunes = 160 // per event text in a reply
)

// New returns a Handler. Extra's verbs are matched case-insensitively.
func New(opts Options) *Handler {
	h := &Handler{
		tl:     opts.Timeline,
		roomOf: opts.RoomOf,
		extra:  map[Verb]func(context.Context, Command, adapters.Inbound) (string, error){},
		known:  map[Verb]bool{},
		chat:   opts.Chat,
		pages:  opts.Pages,
		now:    opts.Now,
	}
	if h.now == nil {
		h.now = time.Now
	}
	for v, fn := range opts.Extra {
		v = canonical(string(v))
		if fn == nil || isBuiltin(v) || v == verbSitrep || !isVerbWord(string(v)) {
			continue
		}
		h.extra[v], h.known[v] = fn, true
	}
	return h
}

func (h *Handler) parser() parser { return parser{extra: h.known} }

// Handle is an adapters.Handler: a typed line, a platform's slash command
// (in.Command) or a button press (in.Action). Plain chat goes to Options.Chat
// (the team's timeline and bridge); a
// malformed command is answered with a usage line; only storage failures are
// errors. Replies go to the sender only, where the platform can.
func (h *Handler) Handle(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
	text, quiet, err := h.answer(ctx, in)
	if err != nil || text == "" {
		return adapters.Reply{}, err
	}
	return adapters.Reply{Text: text, Private: true, Quiet: quiet}, nil
}

// answer is the reply to in; quiet means it only confirms a chat line.
func (h *Handler) answer(ctx context.Context, in adapters.Inbound) (text string, quiet bool, err error) {
	switch {
	case in.Action != nil:
		cmd, err := actionCommand(*in.Action)
		if err != nil {
			text, err = usageReply(err)
			return text, false, err
		}
		text, err = h.Run(ctx, cmd, in)
		return text, false, err
	case in.Command != "":
		cmd, err := h.parser().slash(in.Command, in.Text)
		if err != nil {
			text, err = usageReply(err)
			return text, false, err
		}
		text, err = h.Run(ctx, cmd, in)
		return text, false, err
	}
	cmd, ok, err := h.parser().parse(in.Text)
	if !ok {
		if o := h.origin(in); h.chat != nil && o.Room != "" {
			if err := h.chat(ctx, o.Room, in, o); err != nil {
				return "", false, fmt.Errorf("chat line: %w", err)
			}
		}
		return "", false, nil // a chat line is already visible in the room
	}
	if err != nil {
		text, err = usageReply(err)
		return text, false, err
	}
	text, err = h.Run(ctx, cmd, in)
	return text, err == nil && cmd.Verb == VerbChat && text == chatReply(cmd.IncidentID), err
}

// actionCommand is the command a button press stands for.
func actionCommand(a adapters.Action) (Command, error) {
	if a.IncidentID == 0 {
		return Command{}, &UsageError{Usage: "a button on an incident's card", Msg: "the button names no incident"}
	}
	switch a.Verb {
	case adapters.VerbAck:
		return Command{Verb: VerbAck, IncidentID: a.IncidentID}, nil
	case adapters.VerbResolve:
		return Command{Verb: VerbResolve, IncidentID: a.IncidentID}, nil
	}
	return Command{}, &UsageError{Usage: "Acknowledge or Resolve", Msg: fmt.Sprintf("unknown action %q", clip(string(a.Verb), 30))}
}

func usageReply(err error) (string, error) {
	var ue *UsageError
	if errors.As(err, &ue) {
		return ue.Error(), nil
	}
	return "", err
}

// Run carries out a parsed command sent as in.
func (h *Handler) Run(ctx context.Context, cmd Command, in adapters.Inbound) (string, error) {
	if fn, ok := h.extra[cmd.Verb]; ok {
		reply, err := fn(ctx, cmd, in)
		if err != nil {
			var ue *UsageError
			if errors.As(err, &ue) {
				return ue.Error(), nil
			}
			return "", fmt.Errorf("/%s: %w", cmd.Verb, err)
		}
		return reply, nil
	}
	if isBuiltin(cmd.Verb) && cmd.Verb != VerbHelp && h.tl == nil {
		return "", fmt.Errorf("/%s: commands handler has no timeline", cmd.Verb)
	}
	switch cmd.Verb {
	case VerbAck:
		return h.act(ctx, cmd, in, timeline.KindAcknowledged)
	case VerbResolve:
		return h.act(ctx, cmd, in, timeline.KindResolved)
	case VerbChat:
		return h.act(ctx, cmd, in, timeline.KindChat)
	case VerbNote:
		return h.act(ctx, cmd, in, timeline.KindNote)
	case VerbIncidents:
		return h.list(cmd.Sub)
	case VerbIncident:
		if cmd.Page != nil {
			return h.page(ctx, *cmd.Page, in)
		}
		return h.show(cmd.IncidentID)
	case VerbHelp:
		return h.help(Verb(cmd.Sub)), nil
	}
	return fmt.Sprintf("/%s is not available on this server", cmd.Verb), nil
}

// page carries out a status page subcommand.
func (h *Handler) page(ctx context.Context, pc PageCommand, in adapters.Inbound) (string, error) {
	if h.pages == nil {
		return "status pages are not available on this server", nil
	}
	reply, err := h.pages(ctx, pc, in, h.origin(in))
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return ue.Error(), nil
		}
		return "", fmt.Errorf("/incident %s: %w", pc.Sub, err)
	}
	return reply, nil
}

func (h *Handler) origin(in adapters.Inbound) timeline.Origin {
	o := timeline.Origin{Adapter: in.Platform, MessageID: in.MessageID, User: in.User, Unverified: in.Unverified, Time: in.Time}
	if h.roomOf != nil {
		if room, ok := h.roomOf(in.Platform, in.RoomID); ok {
			o.Room = room
		}
	}
	if o.Time.IsZero() {
		o.Time = h.now()
	}
	o.Time = o.Time.UTC()
	return o
}

func (h *Handler) act(ctx context.Context, cmd Command, in adapters.Inbound, kind timeline.Kind) (string, error) {
	res, err := h.tl.Act(ctx, timeline.Action{IncidentID: cmd.IncidentID, Kind: kind, Text: cmd.Text, Origin: h.origin(in)})
	if err != nil {
		if reply, ok := actionReply(cmd.IncidentID, err); ok {
			return reply, nil
		}
		return "", fmt.Errorf("/%s #%d: %w", cmd.Verb, cmd.IncidentID, err)
	}
	switch kind {
	case timeline.KindAcknowledged:
		return withTitle("acknowledged", res.Incident), nil
	case timeline.KindResolved:
		return withTitle("resolved", res.Incident), nil
	case timeline.KindNote:
		return fmt.Sprintf("noted on #%d", res.Incident.ID), nil
	}
	// A chat line is already visible in the room; its sender alone learns
	// that it is on the incident's timeline too (a Quiet reply).
	return chatReply(res.Incident.ID), nil
}

func chatReply(id uint64) string { return fmt.Sprintf("on #%d's timeline", id) }

// actionReply turns the errors a responder causes into a reply.
func actionReply(id uint64, err error) (string, bool) {
	var se *timeline.StateError
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		return fmt.Sprintf("no incident #%d", id), true
	case errors.As(err, &se):
		return se.Error(), true
	}
	return "", false
}

func withTitle(done string, inc timeline.Incident) string {
	s := fmt.Sprintf("%s #%d", done, inc.ID)
	if t := oneLine(inc.Title, maxTitleRunes); t != "" {
		s += ": " + t
	}
	return s
}

func (h *Handler) list(filter string) (string, error) {
	if filter == "" {
		filter = FilterOpen
	}
	var (
		incs []timeline.Incident
		err  error
	)
	switch filter {
	case FilterOpen:
		incs, err = h.tl.Incidents(timeline.StateTriggered, maxListed+1)
		if err == nil {
			var acked []timeline.Incident
			acked, err = h.tl.Incidents(timeline.StateAcknowledged, maxListed+1)
			incs = append(incs, acked...)
			sort.Slice(incs, func(i, j int) bool { return incs[i].ID > incs[j].ID })
		}
	case FilterAll:
		incs, err = h.tl.Incidents("", maxListed+1)
	default:
		st, ok := timeline.ParseState(filter)
		if !ok {
			return "", fmt.Errorf("/incidents: unknown filter %q", filter)
		}
		incs, err = h.tl.Incidents(st, maxListed+1)
	}
	if err != nil {
		return "", fmt.Errorf("/incidents: %w", err)
	}
	if len(incs) == 0 {
		if filter == FilterAll {
			return "no incidents", nil
		}
		return fmt.Sprintf("no %s incidents", filter), nil
	}
	more := len(incs) > maxListed
	if more {
		incs = incs[:maxListed-1]
	}
	lines := make([]string, 0, maxListed)
	for _, inc := range incs {
		lines = append(lines, fmt.Sprintf("#%d [%s] %s", inc.ID, inc.State, oneLine(inc.Title, maxTitleRunes)))
	}
	if more {
		lines = append(lines, fmt.Sprintf("… more; these are the newest %d", len(incs)))
	}
	return strings.Join(lines, "\n"), nil
}

func (h *Handler) show(id uint64) (string, error) {
	inc, events, err := h.tl.Incident(id)
	if err != nil {
		if errors.Is(err, timeline.ErrNotFound) {
			return fmt.Sprintf("no incident #%d", id), nil
		}
		return "", fmt.Errorf("/incident #%d: %w", id, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#%d [%s] %s\n", inc.ID, inc.State, oneLine(inc.Title, maxTitleRunes))
	fmt.Fprintf(&b, "opened %s", stamp(inc.OpenedAt))
	if inc.AcknowledgedAt != nil {
		fmt.Fprintf(&b, ", acknowledged %s%s", stamp(*inc.AcknowledgedAt), by(inc.AcknowledgedBy))
	}
	if inc.ResolvedAt != nil {
		fmt.Fprintf(&b, ", resolved %s%s", stamp(*inc.ResolvedAt), by(inc.ResolvedBy))
	}
	if len(events) > recentEvents {
		events = events[len(events)-recentEvents:]
		fmt.Fprintf(&b, "\nlast %d events:", recentEvents)
	}
	for _, ev := range events {
		fmt.Fprintf(&b, "\n%s %s%s", stamp(ev.Time), ev.Kind, by(ev.Origin.User))
		if t := oneLine(ev.Text, maxEventRunes); t != "" {
			b.WriteString(": " + t)
		}
	}
	return b.String(), nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func by(user string) string {
	if user = oneLine(user, 40); user == "" {
		return ""
	}
	return " by " + user
}

func (h *Handler) help(v Verb) string {
	if v != "" {
		sp, ok := h.parser().spec(v)
		switch {
		case !ok:
			return fmt.Sprintf("unknown command /%s", clip(string(v), 30))
		case !sp.builtin && !h.known[v]:
			return fmt.Sprintf("/%s is not available on this server", v)
		case v == VerbIncident:
			return incidentUsage()
		case sp.summary == "":
			return sp.usage
		}
		return sp.usage + " — " + sp.summary
	}
	lines := []string{"commands (/ or ! first; also /sitrep <command> ...):"}
	for _, name := range h.parser().verbs() {
		sp, _ := h.parser().spec(Verb(name))
		line := sp.usage
		if sp.summary != "" {
			line += " — " + sp.summary
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// oneLine folds s onto one line and clips it to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return clip(s, n)
}
