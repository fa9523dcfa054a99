package commands

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Verb names a command: "ack", "resolve", "incidents", ...
type Verb string

// Verbs sitrep knows. Ack to help are handled by the Handler itself; oncall
// and route only where the server registers them in Options.Extra.
const (
	VerbAck       Verb = "ack"
	VerbResolve   Verb = "resolve"
	VerbChat      Verb = "chat"
	VerbNote      Verb = "note"
	VerbIncidents Verb = "incidents"
	VerbIncident  Verb = "incident"
	VerbHelp      Verb = "help"
	VerbOncall    Verb = "oncall"
	VerbRoute     Verb = "route"
	VerbStatus    Verb = "status"
)

// MaxTextRunes bounds the text a command carries (a note, a chat line).
const MaxTextRunes = 2000

// Filters /incidents takes; FilterOpen is the default.
const (
	FilterOpen = "open"
	FilterAll  = "all"
)

// Command is one parsed command.
type Command struct {
	Verb       Verb
	IncidentID uint64            // ack, resolve, chat, note, incident
	Text       string            // the note or chat line, trimmed; may be empty for ack/resolve
	Sub        string            // incidents: the filter; help: the verb asked about; others: the first word unless it is key=value
	Args       map[string]string // key=value arguments after Sub (route, oncall, Extra verbs); never nil for those
	Rest       string            // everything after the verb as typed, trimmed
	Page       *PageCommand      // incident: a status page subcommand
}

// UsageError is a command that could not be understood. Its text is meant
// for the sender: what is wrong, and how the command is used.
type UsageError struct {
	Usage string
	Msg   string
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + ". usage: " + e.Usage
}

// shape is how a verb's arguments look.
type shape int

const (
	shapeIDNote   shape = iota // <id> [text]
	shapeIDText                // <id> <text>
	shapeID                    // <id>
	shapeFilter                // [state]
	shapeHelp                  // [verb]
	shapeArgs                  // [sub] [key=value ...]
	shapeIncident              // <id>, or a status page subcommand (PageCommand)
)

type spec struct {
	verb    Verb
	shape   shape
	usage   string
	summary string
	builtin bool // handled by the Handler itself; otherwise only through Options.Extra
	strict  bool // shapeArgs: every argument after sub must be key=value
}

// specs is the verb table, in help order. It is built afresh on each call so
// the package holds no mutable state.
func specs() []spec {
	return []spec{
		{verb: VerbAck, shape: shapeIDNote, builtin: true, usage: "/ack <id> [note]", summary: "acknowledge an incident"},
		{verb: VerbResolve, shape: shapeIDNote, builtin: true, usage: "/resolve <id> [note]", summary: "resolve an incident"},
		{verb: VerbNote, shape: shapeIDText, builtin: true, usage: "/note <id> <text>", summary: "add a note to an incident's timeline"},
		{verb: VerbChat, shape: shapeIDText, builtin: true, usage: "/chat <id> <text> (or #<id> <text>)", summary: "put a chat line on an incident's timeline"},
		{verb: VerbIncidents, shape: shapeFilter, builtin: true, usage: "/incidents [open|triggered|acknowledged|resolved|all]", summary: "list incidents, open ones by default"},
		{verb: VerbIncident, shape: shapeIncident, builtin: true, usage: "/incident <id> | open | update | resolve | maintenance | list", summary: "show an incident; open, update and resolve status page incidents, announce maintenance, list them (/help incident)"},
		{verb: VerbHelp, shape: shapeHelp, builtin: true, usage: "/help [command]", summary: "show this help"},
		{verb: VerbOncall, shape: shapeArgs, usage: "/oncall [team]", summary: "who is on call now and next, for this room's team or the one named"},
		{verb: VerbStatus, shape: shapeArgs, usage: "/status", summary: "what each status page shows, as sitrep last sent it"},
		{verb: VerbRoute, shape: shapeArgs, strict: true, usage: `/route test key=value key2="quoted value" ...`, summary: "show which rooms an alert with these fields would reach"},
	}
}

func lookup(v Verb) (spec, bool) {
	for _, s := range specs() {
		if s.verb == v {
			return s, true
		}
	}
	return spec{}, false
}

func isBuiltin(v Verb) bool {
	s, ok := lookup(v)
	return ok && s.builtin
}

// canonical lower-cases a verb word and resolves aliases.
func canonical(word string) Verb {
	switch w := strings.ToLower(word); w {
	case "acknowledge":
		return VerbAck
	case "close":
		return VerbResolve
	default:
		return Verb(w)
	}
}

// verbSitrep is the prefix form: "/sitrep ack 42".
const verbSitrep = "sitrep"

// parser parses with knowledge of the verbs a Handler has in Extra.
type parser struct {
	extra map[Verb]bool // nil: the verb table only
}

// Parse reads a chat line. ok is false for plain text that is neither a
// command nor starts with an incident reference (#42): it should be ignored.
// When ok is true, err, if not nil, is a *UsageError to show the sender.
func Parse(text string) (Command, bool, error) {
	return parser{}.parse(text)
}

// ParseSlash reads a slash command delivered as a command name and its text,
// as Slack and Discord do: ("/sitrep", "ack 42 on it") or ("/ack", "42 on it").
// Any error is a *UsageError.
func ParseSlash(command, text string) (Command, error) {
	return parser{}.slash(command, text)
}

func clean(s string) string {
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

func (p parser) parse(text string) (Command, bool, error) {
	text = clean(text)
	if text == "" {
		return Command{}, false, nil
	}
	switch text[0] {
	case '/', '!':
		word, rest := cutWord(text[1:])
		if !isVerbWord(word) {
			return Command{}, false, nil // "/usr/bin is full", "!!", "/ 42"
		}
		cmd, err := p.command(word, rest)
		return cmd, true, err
	case '#':
		return p.hashChat(text)
	}
	return Command{}, false, nil
}

func (p parser) slash(command, text string) (Command, error) {
	c := clean(command)
	if c != "" && (c[0] == '/' || c[0] == '!') {
		c = c[1:]
	}
	if !isVerbWord(c) {
		return Command{}, p.unknown(c)
	}
	return p.command(c, clean(text))
}

// hashChat reads "#42 restarting the db". ok is false when text does not
// start with # and digits.
func (p parser) hashChat(text string) (Command, bool, error) {
	word, rest := cutWord(text[1:])
	word = strings.TrimSuffix(word, ":")
	if word == "" || !allDigits(word) {
		return Command{}, false, nil // "#general", "#1st"
	}
	const usage = "#<id> <message>"
	id, err := parseID(word, usage)
	if err != nil {
		return Command{}, true, err
	}
	if rest == "" {
		return Command{}, true, &UsageError{Usage: usage, Msg: fmt.Sprintf("nothing to say about #%d", id)}
	}
	if err := checkLen(rest, usage); err != nil {
		return Command{}, true, err
	}
	return Command{Verb: VerbChat, IncidentID: id, Text: rest, Rest: rest}, true, nil
}

func (p parser) spec(v Verb) (spec, bool) {
	if s, ok := lookup(v); ok {
		return s, true
	}
	if p.extra[v] {
		return spec{verb: v, shape: shapeArgs, usage: "/" + string(v) + " [args]"}, true
	}
	return spec{}, false
}

// verbs lists the verbs a sender may use, for an unknown-command reply.
func (p parser) verbs() []string {
	var out []string
	for _, s := range specs() {
		if p.extra == nil || s.builtin || p.extra[s.verb] {
			out = append(out, string(s.verb))
		}
	}
	var more []string
	for v := range p.extra {
		if _, ok := lookup(v); !ok {
			more = append(more, string(v))
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

func (p parser) unknown(word string) error {
	return &UsageError{
		Msg:   fmt.Sprintf("unknown command /%s", clip(word, 30)),
		Usage: "/<command> ..., where command is one of " + strings.Join(p.verbs(), ", "),
	}
}

func (p parser) command(word, rest string) (Command, error) {
	verb := canonical(word)
	if verb == verbSitrep {
		if rest == "" {
			return Command{Verb: VerbHelp}, nil
		}
		if rest[0] == '#' {
			cmd, ok, err := p.hashChat(rest)
			if ok {
				return cmd, err
			}
			return Command{}, p.unknown(rest)
		}
		word, rest = cutWord(rest)
		if word != "" && (word[0] == '/' || word[0] == '!') {
			word = word[1:]
		}
		if verb = canonical(word); verb == verbSitrep || !isVerbWord(word) {
			return Command{}, p.unknown(word)
		}
	}
	sp, ok := p.spec(verb)
	if !ok {
		return Command{}, p.unknown(word)
	}
	cmd := Command{Verb: verb, Rest: rest}
	switch sp.shape {
	case shapeIDNote, shapeIDText:
		tok, text := cutWord(rest)
		id, err := parseID(tok, sp.usage)
		if err != nil {
			return Command{}, err
		}
		if text == "" && sp.shape == shapeIDText {
			return Command{}, &UsageError{Usage: sp.usage, Msg: fmt.Sprintf("nothing to %s on #%d", verb, id)}
		}
		if err := checkLen(text, sp.usage); err != nil {
			return Command{}, err
		}
		cmd.IncidentID, cmd.Text = id, text
	case shapeIncident:
		tok, more := cutWord(rest)
		if sub := strings.ToLower(tok); PageUsage(sub) != "" {
			pc, err := parsePageCommand(sub, more)
			if err != nil {
				return Command{}, err
			}
			cmd.Sub, cmd.Page = sub, &pc
			break
		}
		if tok == "" || !allDigits(strings.TrimSuffix(strings.TrimPrefix(tok, "#"), ":")) {
			if tok != "" && isVerbWord(tok) {
				return Command{}, &UsageError{Usage: incidentUsage(), Msg: fmt.Sprintf("unknown /incident subcommand %q", clip(tok, 30))}
			}
		}
		id, err := parseID(tok, sp.usage)
		if err != nil {
			return Command{}, err
		}
		if more != "" {
			return Command{}, unexpected(more, sp.usage)
		}
		cmd.IncidentID = id
	case shapeID:
		tok, extra := cutWord(rest)
		id, err := parseID(tok, sp.usage)
		if err != nil {
			return Command{}, err
		}
		if extra != "" {
			return Command{}, unexpected(extra, sp.usage)
		}
		cmd.IncidentID = id
	case shapeFilter:
		f, extra := cutWord(rest)
		if extra != "" {
			return Command{}, unexpected(extra, sp.usage)
		}
		switch f = strings.ToLower(f); f {
		case "":
			f = FilterOpen
		case FilterOpen, FilterAll, "triggered", "acknowledged", "resolved":
		default:
			return Command{}, &UsageError{Usage: sp.usage, Msg: fmt.Sprintf("unknown incident state %q", clip(f, 30))}
		}
		cmd.Sub = f
	case shapeHelp:
		w, extra := cutWord(rest)
		if extra != "" {
			return Command{}, unexpected(extra, sp.usage)
		}
		if w != "" && (w[0] == '/' || w[0] == '!') {
			w = w[1:]
		}
		if w != "" {
			v := canonical(w)
			if _, ok := p.spec(v); !ok {
				return Command{}, p.unknown(w)
			}
			cmd.Sub = string(v)
		}
	case shapeArgs:
		if err := checkLen(rest, sp.usage); err != nil {
			return Command{}, err
		}
		if err := parseArgs(&cmd, rest, sp); err != nil {
			return Command{}, err
		}
	}
	return cmd, nil
}

// parseArgs fills Sub and Args from `sub key=value key2="quoted value"`.
// Only strict verbs (route) reject stray words and bad quoting; others get
// what could be read, and Rest for the remainder.
func parseArgs(cmd *Command, rest string, sp spec) error {
	cmd.Args = map[string]string{}
	toks, err := tokenize(rest)
	if err != nil {
		if sp.strict {
			return &UsageError{Usage: sp.usage, Msg: err.Error()}
		}
		toks = strings.Fields(rest)
	}
	if len(toks) > 0 && !strings.Contains(toks[0], "=") {
		cmd.Sub = toks[0]
		if sp.strict {
			cmd.Sub = strings.ToLower(cmd.Sub)
		}
		toks = toks[1:]
	}
	for _, t := range toks {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			if sp.strict {
				return &UsageError{Usage: sp.usage, Msg: fmt.Sprintf("expected key=value, got %q", clip(t, 30))}
			}
			continue
		}
		cmd.Args[k] = v
	}
	return nil
}

// tokenize splits s at white space, keeping double-quoted runs (straight or
// typographic quotes, as phones type them) together. Inside quotes a
// backslash escapes a quote or a backslash.
func tokenize(s string) ([]string, error) {
	var (
		toks   []string
		b      strings.Builder
		inTok  bool
		quoted bool
		smart  bool // the open quote was typographic
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quoted:
			closes := (!smart && r == '"') || (smart && (r == '“' || r == '”'))
			switch {
			case r == '\\' && i+1 < len(rs) && (isQuote(rs[i+1]) || rs[i+1] == '\\'):
				i++
				b.WriteRune(rs[i])
			case closes:
				quoted = false
			default:
				b.WriteRune(r)
			}
		case isQuote(r):
			quoted, smart, inTok = true, r != '"', true
		case unicode.IsSpace(r):
			if inTok {
				toks = append(toks, b.String())
				b.Reset()
				inTok = false
			}
		default:
			inTok = true
			b.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inTok {
		toks = append(toks, b.String())
	}
	return toks, nil
}

func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' }

// parseID reads an incident ID: 42, #42 or 42: (a positive integer).
func parseID(tok, usage string) (uint64, error) {
	tok = strings.TrimSuffix(strings.TrimPrefix(tok, "#"), ":")
	switch {
	case tok == "":
		return 0, &UsageError{Usage: usage, Msg: "incident id is missing"}
	case !allDigits(tok):
		return 0, &UsageError{Usage: usage, Msg: fmt.Sprintf("incident id must be a number like 42, not %q", clip(tok, 30))}
	}
	id, err := strconv.ParseUint(tok, 10, 64)
	if err != nil {
		return 0, &UsageError{Usage: usage, Msg: fmt.Sprintf("incident id %s is too large", clip(tok, 30))}
	}
	if id == 0 {
		return 0, &UsageError{Usage: usage, Msg: "incident id must be a number like 42, and 0 is no incident"}
	}
	return id, nil
}

func checkLen(text, usage string) error {
	if n := utf8.RuneCountInString(text); n > MaxTextRunes {
		return &UsageError{Usage: usage, Msg: fmt.Sprintf("text is too long (%d characters, at most %d)", n, MaxTextRunes)}
	}
	return nil
}

func unexpected(extra, usage string) error {
	return &UsageError{Usage: usage, Msg: fmt.Sprintf("unexpected %q", clip(extra, 30))}
}

// cutWord splits s at its first white space: the word before, and the rest
// trimmed. s is not trimmed first: a leading space gives an empty word.
func cutWord(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// isVerbWord reports whether w can be a verb: a letter, then letters, digits, - or _.
func isVerbWord(w string) bool {
	for i, r := range w {
		switch {
		case unicode.IsLetter(r):
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return w != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// clip shortens s to n runes for quoting back in a reply.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
