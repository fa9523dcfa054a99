package commands

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// PageCommand is a status page command: /incident open, update, resolve,
// maintenance or list. Values are as typed; the status page side checks
// them against its pages, states and statuses.
type PageCommand struct {
	Sub        string // open, update, resolve, maintenance, list
	IncidentID uint64 // update, resolve
	Title      string // open, maintenance
	// Text is the description (open, maintenance: after --), the message
	// (update) or the closing comment (resolve).
	Text     string
	State    string // open: --state; update: the new state
	Status   string // --status
	Page     string // --page
	Services []string
	Silent   bool
	Draft    bool
	Start    string // maintenance: --start, as typed (see ParseTime)
	End      string // maintenance: --end
}

// pageSubs lists the status page subcommands in help order.
func pageSubs() []string { return []string{"open", "update", "resolve", "maintenance", "list"} }

// PageUsage is the usage line of a status page subcommand ("" if unknown).
func PageUsage(sub string) string {
	switch sub {
	case "open":
		return "/incident open <title> [--status down|degraded] [--state investigating|identified|monitoring] [--services a,b] [--page NAME] [--silent] [--draft] [-- description]"
	case "update":
		return "/incident update <id> <investigating|identified|monitoring|resolved> [--status down|degraded|up] [--page NAME] [message]"
	case "resolve":
		return "/incident resolve <id> [--page NAME] [closing comment]"
	case "maintenance":
		return "/incident maintenance <title> --start <time> --end <time> [--status down|degraded|up] [--services a,b] [--page NAME] [--silent] [--draft] [-- description]"
	case "list":
		return "/incident list"
	}
	return ""
}

// incidentUsage is /incident's usage: showing one, and the status page subcommands.
func incidentUsage() string {
	lines := []string{"/incident <id>"}
	for _, s := range pageSubs() {
		lines = append(lines, PageUsage(s))
	}
	return strings.Join(lines, "\n")
}

// flagTakesValue reports whether a status page command's flag takes a value.
func flagTakesValue(name string) bool { return name != "silent" && name != "draft" }

// subFlags lists the flags a status page subcommand takes.
func subFlags(sub string) []string {
	switch sub {
	case "open":
		return []string{"status", "state", "services", "page", "silent", "draft"}
	case "update":
		return []string{"status", "page"}
	case "resolve":
		return []string{"page"}
	case "maintenance":
		return []string{"status", "services", "page", "start", "end", "silent", "draft"}
	}
	return nil
}

// parsePageCommand reads the text after "/incident <sub>".
func parsePageCommand(sub, rest string) (PageCommand, error) {
	usage := PageUsage(sub)
	pc := PageCommand{Sub: sub}
	if err := checkLen(rest, usage); err != nil {
		return pc, err
	}
	head, desc, hasDesc := cutDoubleDash(rest)
	toks, err := tokenize(head)
	if err != nil {
		return pc, &UsageError{Usage: usage, Msg: err.Error()}
	}
	var words []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		name, ok := strings.CutPrefix(t, "--")
		if !ok || name == "" {
			words = append(words, t)
			continue
		}
		name, value, inline := strings.Cut(name, "=")
		name = strings.ToLower(name)
		takes := flagTakesValue(name)
		if !slices.Contains(subFlags(sub), name) {
			return pc, &UsageError{Usage: usage, Msg: fmt.Sprintf("unknown flag --%s", clip(name, 30))}
		}
		if takes && !inline {
			if i+1 >= len(toks) || strings.HasPrefix(toks[i+1], "--") {
				return pc, &UsageError{Usage: usage, Msg: fmt.Sprintf("--%s needs a value", name)}
			}
			i++
			value = toks[i]
			// "tomorrow 02:00" as two words
			if (name == "start" || name == "end") && i+1 < len(toks) && isDayWord(value) && clockRe.MatchString(toks[i+1]) {
				i++
				value += " " + toks[i]
			}
		}
		if !takes && inline {
			return pc, &UsageError{Usage: usage, Msg: fmt.Sprintf("--%s takes no value", name)}
		}
		switch name {
		case "status":
			pc.Status = strings.ToLower(value)
		case "state":
			pc.State = strings.ToLower(value)
		case "page":
			pc.Page = value
		case "services":
			for _, s := range strings.Split(value, ",") {
				if s = strings.TrimSpace(s); s != "" {
					pc.Services = append(pc.Services, s)
				}
			}
			if len(pc.Services) == 0 {
				return pc, &UsageError{Usage: usage, Msg: "--services needs service names, like api,web"}
			}
		case "start":
			pc.Start = value
		case "end":
			pc.End = value
		case "silent":
			pc.Silent = true
		case "draft":
			pc.Draft = true
		}
	}
	desc = strings.TrimSpace(desc)
	switch sub {
	case "list":
		if len(words) > 0 || hasDesc {
			return pc, unexpected(strings.Join(words, " "), usage)
		}
	case "open", "maintenance":
		pc.Title = strings.Join(words, " ")
		if pc.Title == "" {
			return pc, &UsageError{Usage: usage, Msg: "a title is needed"}
		}
		pc.Text = desc
		if sub == "maintenance" && (pc.Start == "" || pc.End == "") {
			return pc, &UsageError{Usage: usage, Msg: "--start and --end are needed"}
		}
	case "update", "resolve":
		if hasDesc {
			words = append(words, desc)
		}
		if len(words) == 0 {
			return pc, &UsageError{Usage: usage, Msg: "incident id is missing"}
		}
		id, err := parseID(words[0], usage)
		if err != nil {
			return pc, err
		}
		pc.IncidentID, words = id, words[1:]
		if sub == "update" {
			if len(words) == 0 {
				return pc, &UsageError{Usage: usage, Msg: fmt.Sprintf("the new state of #%d is missing", id)}
			}
			pc.State, words = strings.ToLower(words[0]), words[1:]
		}
		pc.Text = strings.Join(words, " ")
	}
	return pc, nil
}

// cutDoubleDash splits s at its first "--" that stands alone outside quotes:
// the description follows it, verbatim.
func cutDoubleDash(s string) (head, tail string, found bool) {
	quoted := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case isQuote(r):
			quoted = !quoted
		case !quoted && r == '-' && i+1 < len(rs) && rs[i+1] == '-' &&
			(i == 0 || unicode.IsSpace(rs[i-1])) && (i+2 == len(rs) || unicode.IsSpace(rs[i+2])):
			return string(rs[:i]), string(rs[min(i+2, len(rs)):]), true
		}
	}
	return s, "", false
}

var (
	clockRe    = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	relativeRe = regexp.MustCompile(`^\+([0-9]{1,4})(m|h|d)$`)
)

func isDayWord(s string) bool {
	s = strings.ToLower(s)
	return s == "today" || s == "tomorrow"
}

// ParseTime reads a time as responders type it, in loc (the team's zone):
// "now", "+30m", "+2h", "+1d", "14:00" (today), "today 14:00",
// "tomorrow 02:00", "2026-12-24 22:00", or RFC 3339 with its own offset.
// The result is in UTC.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	low := strings.ToLower(s)
	local := now.In(loc)
	switch {
	case low == "now":
		return now.UTC(), nil
	case relativeRe.MatchString(low):
		m := relativeRe.FindStringSubmatch(low)
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
		return now.Add(time.Duration(n) * unit).UTC(), nil
	case clockRe.MatchString(low):
		return atClock(local, 0, low, loc), nil
	}
	if day, clock, ok := strings.Cut(low, " "); ok && isDayWord(day) && clockRe.MatchString(strings.TrimSpace(clock)) {
		days := 0
		if day == "tomorrow" {
			days = 1
		}
		return atClock(local, days, strings.TrimSpace(clock), loc), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use now, +30m, +2h, 14:00, tomorrow 02:00, 2026-12-24 22:00 or RFC 3339", clip(s, 40))
}

func atClock(local time.Time, days int, clock string, loc *time.Location) time.Time {
	m := clockRe.FindStringSubmatch(clock)
	h, _ := strconv.Atoi(m[1])
	min, _ := strconv.Atoi(m[2])
	y, mo, d := local.Date()
	return time.Date(y, mo, d+days, h, min, 0, 0, loc).UTC()
}
