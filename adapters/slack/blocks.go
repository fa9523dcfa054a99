package slack

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

// Block Kit's limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	MaxBlocks      = 50
	MaxHeader      = 150
	MaxSectionText = 3000
	MaxFieldText   = 2000
	MaxText        = 3000 // sitrep's cut of a message's top-level text (Slack's own is 40,000)
	maxShownFields = 6
	cutMarker      = "…"
)

// Action IDs of the card's buttons; the button's value is the incident ID.
const (
	ActionAck     = "sitrep_ack"
	ActionResolve = "sitrep_resolve"
	actionsBlock  = "sitrep_actions"
)

// verbOf maps a button's action_id to the verb it stands for.
func verbOf(actionID string) (adapters.Verb, bool) {
	switch actionID {
	case ActionAck:
		return adapters.VerbAck, true
	case ActionResolve:
		return adapters.VerbResolve, true
	}
	return "", false
}

// shownFieldOrder is the order key fields are shown in; others follow, sorted.
var shownFieldOrder = []string{"severity", "priority", "host", "host_name", "service", "check", "entity_display_name", "monitoring_tool"}

// Cut returns s cut to at most n runes, ending in "…" when cut.
func Cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), func(r rune) bool { return r == ' ' || r == '\n' }) + cutMarker
}

// stateCue is the emoji and word for an incident's state, the colour cue
// Block Kit has instead of a coloured bar.
func stateCue(m adapters.Message) string {
	switch {
	case m.Kind == adapters.KindDigest:
		return colorEmoji(m.Color) + " *digest*"
	case m.State == "":
		return colorEmoji(m.Color)
	}
	emoji := colorEmoji(m.Color)
	switch m.State {
	case timeline.StateTriggered:
		emoji = ":red_circle:"
		if m.Color == "yellow" {
			emoji = ":large_yellow_circle:"
		}
	case timeline.StateAcknowledged:
		emoji = ":large_yellow_circle:"
	case timeline.StateResolved:
		emoji = ":large_green_circle:"
	}
	return emoji + " *" + string(m.State) + "*"
}

func colorEmoji(c string) string {
	switch c {
	case "red":
		return ":red_circle:"
	case "yellow":
		return ":large_yellow_circle:"
	case "green":
		return ":large_green_circle:"
	case "purple":
		return ":large_purple_circle:"
	}
	return ":white_circle:"
}

// Render turns msg into Block Kit blocks and the top-level text Slack shows
// in notifications and where blocks cannot be shown (always set). link, if
// not empty, is the incident's page. Every limit is kept: at most 50
// blocks, 150 characters a header, 3,000 a section, each cut with "…".
func Render(msg adapters.Message, link string) ([]slack.Block, string) {
	text := msg.Text
	if strings.TrimSpace(text) == "" {
		text = strings.TrimSpace(msg.Title)
	}
	if text == "" {
		text = "sitrep"
	}
	raw := text
	text = mention(cutEscaped(raw, MaxText), msg.Mentions)
	var blocks []slack.Block
	if t := strings.TrimSpace(msg.Title); t != "" && (msg.Kind == timeline.KindTriggered || msg.Kind == adapters.KindDigest) {
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, Cut(t, MaxHeader), false, false)))
	}
	cue := stateCue(msg)
	lead := cue + "  "
	body := lead + mention(cutEscaped(raw, MaxSectionText-utf8.RuneCountInString(lead)), msg.Mentions)
	blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, body, false, false), nil, nil))
	if msg.Kind != adapters.KindDigest {
		if fields := fieldObjects(msg.Fields); len(fields) > 0 {
			blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
		}
	}
	if link != "" && msg.IncidentID != 0 {
		blocks = append(blocks, slack.NewContextBlock("sitrep_link",
			slack.NewTextBlockObject(slack.MarkdownType, "<"+link+"|incident #"+strconv.FormatUint(msg.IncidentID, 10)+">", false, false)))
	}
	if btns := buttons(msg); len(btns) > 0 {
		blocks = append(blocks, slack.NewActionBlock(actionsBlock, btns...))
	}
	if len(blocks) > MaxBlocks {
		blocks = blocks[:MaxBlocks]
	}
	return blocks, text
}

// mention turns the names of m in escaped text into Slack mentions (<@U123>).
func mention(text string, m map[string]string) string {
	if len(m) == 0 {
		return text
	}
	return adapters.Mention(text, m, func(id string) string { return "<@" + id + ">" })
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape keeps Slack's control characters literal in mrkdwn and in a
// message's text (so "<!channel>" in an alert is not a mention).
func escape(s string) string { return escaper.Replace(s) }

// escapedLen is how many runes r takes once escaped.
func escapedLen(r rune) int {
	switch r {
	case '&':
		return len("&amp;")
	case '<', '>':
		return len("&lt;")
	}
	return 1
}

// cutEscaped returns s escaped, cut (with "…") so that it is at most n
// runes: the raw text is cut, never an escape sequence.
func cutEscaped(s string, n int) string {
	total := 0
	for _, r := range s {
		total += escapedLen(r)
	}
	if total <= n {
		return escape(s)
	}
	budget := n - utf8.RuneCountInString(cutMarker)
	used, end := 0, 0
	for i, r := range s {
		if used+escapedLen(r) > budget {
			break
		}
		used += escapedLen(r)
		end = i + utf8.RuneLen(r)
	}
	return escape(strings.TrimRightFunc(s[:end], func(r rune) bool { return r == ' ' || r == '\n' })) + cutMarker
}

func fieldObjects(f map[string]string) []*slack.TextBlockObject {
	keys := make([]string, 0, len(f))
	for k, v := range f {
		if strings.TrimSpace(v) != "" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		if i := slices.Index(shownFieldOrder, k); i >= 0 {
			return i
		}
		return len(shownFieldOrder)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	var out []*slack.TextBlockObject
	for _, k := range keys {
		if rank(k) == len(shownFieldOrder) || len(out) == maxShownFields {
			break // key fields only: the rest are on the incident's page
		}
		name := "*" + escape(k) + "*\n"
		out = append(out, slack.NewTextBlockObject(slack.MarkdownType, name+cutEscaped(f[k], MaxFieldText-utf8.RuneCountInString(name)), false, false))
	}
	return out
}

func buttons(msg adapters.Message) []slack.BlockElement {
	if msg.IncidentID == 0 {
		return nil
	}
	id := strconv.FormatUint(msg.IncidentID, 10)
	var out []slack.BlockElement
	for _, v := range msg.Actions {
		switch v {
		case adapters.VerbAck:
			b := slack.NewButtonBlockElement(ActionAck, id, slack.NewTextBlockObject(slack.PlainTextType, "Acknowledge", false, false))
			out = append(out, b.WithStyle(slack.StylePrimary))
		case adapters.VerbResolve:
			b := slack.NewButtonBlockElement(ActionResolve, id, slack.NewTextBlockObject(slack.PlainTextType, "Resolve", false, false))
			out = append(out, b.WithStyle(slack.StyleDanger))
		}
	}
	return out
}
