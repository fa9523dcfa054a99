package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("é", MaxTextRunes)
	tests := []struct {
		name    string
		in      string
		want    Command
		ok      bool
		wantErr string // substring of the UsageError text; "" means no error
	}{
		// plain text
		{name: "empty", in: "", ok: false},
		{name: "spaces", in: " \t\n ", ok: false},
		{name: "plain", in: "is anyone looking at the db?", ok: false},
		{name: "hash mid text", in: "see #42 for details", ok: false},
		{name: "hash word", in: "#general is noisy", ok: false},
		{name: "hash ordinal", in: "#1st place", ok: false},
		{name: "path", in: "/usr/bin is full", ok: false},
		{name: "lone slash", in: "/", ok: false},
		{name: "bangs", in: "!!!", ok: false},
		{name: "slash space", in: "/ ack 42", ok: false},
		{name: "fullwidth digits", in: "#４２ hi", ok: false},

		// #42 chat
		{name: "hash chat", in: "#42 restarting the db", ok: true,
			want: Command{Verb: VerbChat, IncidentID: 42, Text: "restarting the db", Rest: "restarting the db"}},
		{name: "hash chat colon and spaces", in: "  #42:   restarting  the db  ", ok: true,
			want: Command{Verb: VerbChat, IncidentID: 42, Text: "restarting  the db", Rest: "restarting  the db"}},
		{name: "hash chat unicode", in: "#7 перезапускаю базу 🚒", ok: true,
			want: Command{Verb: VerbChat, IncidentID: 7, Text: "перезапускаю базу 🚒", Rest: "перезапускаю базу 🚒"}},
		{name: "hash chat nbsp", in: "#7\u00a0on it", ok: true,
			want: Command{Verb: VerbChat, IncidentID: 7, Text: "on it", Rest: "on it"}},
		{name: "hash zero", in: "#0 hello", ok: true, wantErr: "0 is no incident"},
		{name: "hash overflow", in: "#99999999999999999999999 hello", ok: true, wantErr: "too large"},
		{name: "hash alone", in: "#42", ok: true, wantErr: "nothing to say about #42"},
		{name: "hash chat too long", in: "#42 " + long + "x", ok: true, wantErr: "too long"},
		{name: "hash chat at limit", in: "#42 " + long, ok: true,
			want: Command{Verb: VerbChat, IncidentID: 42, Text: long, Rest: long}},

		// ack / resolve
		{name: "ack", in: "/ack 42", ok: true, want: Command{Verb: VerbAck, IncidentID: 42, Rest: "42"}},
		{name: "ack hash note", in: "/ack #42 looking into it", ok: true,
			want: Command{Verb: VerbAck, IncidentID: 42, Text: "looking into it", Rest: "#42 looking into it"}},
		{name: "bang ack upper", in: "!ACK 42", ok: true, want: Command{Verb: VerbAck, IncidentID: 42, Rest: "42"}},
		{name: "acknowledge alias", in: "/Acknowledge   42   on it ", ok: true,
			want: Command{Verb: VerbAck, IncidentID: 42, Text: "on it", Rest: "42   on it"}},
		{name: "ack no id", in: "/ack", ok: true, wantErr: "incident id is missing"},
		{name: "ack abc", in: "/ack abc", ok: true, wantErr: "incident id must be a number like 42"},
		{name: "ack zero", in: "/ack #0", ok: true, wantErr: "number like 42"},
		{name: "ack negative", in: "/ack -3", ok: true, wantErr: "number like 42"},
		{name: "ack overflow", in: "/ack 18446744073709551616", ok: true, wantErr: "too large"},
		{name: "ack max", in: "/ack 18446744073709551615", ok: true,
			want: Command{Verb: VerbAck, IncidentID: 18446744073709551615, Rest: "18446744073709551615"}},
		{name: "ack note too long", in: "/ack 1 " + long + "x", ok: true, wantErr: "too long"},
		{name: "resolve", in: "/resolve 9 fixed by restart", ok: true,
			want: Command{Verb: VerbResolve, IncidentID: 9, Text: "fixed by restart", Rest: "9 fixed by restart"}},
		{name: "close alias", in: "!close #9", ok: true, want: Command{Verb: VerbResolve, IncidentID: 9, Rest: "#9"}},

		// note / chat
		{name: "note", in: "/note 3 disk at 91%", ok: true,
			want: Command{Verb: VerbNote, IncidentID: 3, Text: "disk at 91%", Rest: "3 disk at 91%"}},
		{name: "note no text", in: "/note 3", ok: true, wantErr: "nothing to note on #3"},
		{name: "chat", in: "/chat #3 ✅ done", ok: true,
			want: Command{Verb: VerbChat, IncidentID: 3, Text: "✅ done", Rest: "#3 ✅ done"}},

		// incidents / incident / help
		{name: "incidents", in: "/incidents", ok: true, want: Command{Verb: VerbIncidents, Sub: "open"}},
		{name: "incidents resolved", in: "/incidents RESOLVED", ok: true,
			want: Command{Verb: VerbIncidents, Sub: "resolved", Rest: "RESOLVED"}},
		{name: "incidents bad", in: "/incidents sleeping", ok: true, wantErr: `unknown incident state "sleeping"`},
		{name: "incidents extra", in: "/incidents open now", ok: true, wantErr: "unexpected"},
		{name: "incident", in: "/incident #12", ok: true, want: Command{Verb: VerbIncident, IncidentID: 12, Rest: "#12"}},
		{name: "incident extra", in: "/incident 12 please", ok: true, wantErr: `unexpected "please"`},
		{name: "help", in: "/help", ok: true, want: Command{Verb: VerbHelp}},
		{name: "help verb", in: "/help /close", ok: true, want: Command{Verb: VerbHelp, Sub: "resolve", Rest: "/close"}},
		{name: "help unknown", in: "/help dance", ok: true, wantErr: "unknown command /dance"},

		// oncall / route
		{name: "oncall", in: "/oncall", ok: true, want: Command{Verb: VerbOncall, Args: map[string]string{}}},
		{name: "oncall sub", in: "/oncall Payments team=x who's on", ok: true,
			want: Command{Verb: VerbOncall, Sub: "Payments", Args: map[string]string{"team": "x"}, Rest: "Payments team=x who's on"}},
		{name: "oncall bad quote lenient", in: `/oncall "db`, ok: true,
			want: Command{Verb: VerbOncall, Sub: `"db`, Args: map[string]string{}, Rest: `"db`}},
		{name: "route test", in: `/route test a=b c="d e"`, ok: true,
			want: Command{Verb: VerbRoute, Sub: "test", Args: map[string]string{"a": "b", "c": "d e"}, Rest: `test a=b c="d e"`}},
		{name: "route quotes", in: `/route TEST "entity id"=x msg="say \"hi\"" empty="" smart=“a b”`, ok: true,
			want: Command{Verb: VerbRoute, Sub: "test", Args: map[string]string{"entity id": "x", "msg": `say "hi"`, "empty": "", "smart": "a b"},
				Rest: `TEST "entity id"=x msg="say \"hi\"" empty="" smart=“a b”`}},
		{name: "route unterminated", in: `/route test a="b`, ok: true, wantErr: "unterminated quote"},
		{name: "route stray word", in: `/route test a=b oops`, ok: true, wantErr: `expected key=value, got "oops"`},
		{name: "route empty key", in: `/route test =b`, ok: true, wantErr: "expected key=value"},

		// sitrep prefix and unknown verbs
		{name: "sitrep prefix", in: "/sitrep ack 42 on it", ok: true,
			want: Command{Verb: VerbAck, IncidentID: 42, Text: "on it", Rest: "42 on it"}},
		{name: "sitrep slash verb", in: "!sitrep /resolve 1", ok: true, want: Command{Verb: VerbResolve, IncidentID: 1, Rest: "1"}},
		{name: "sitrep alone", in: "/sitrep", ok: true, want: Command{Verb: VerbHelp}},
		{name: "sitrep hash", in: "/sitrep #5 hi", ok: true, want: Command{Verb: VerbChat, IncidentID: 5, Text: "hi", Rest: "hi"}},
		{name: "sitrep sitrep", in: "/sitrep sitrep ack 1", ok: true, wantErr: "unknown command /sitrep"},
		{name: "unknown verb", in: "/dance 42", ok: true, wantErr: "unknown command /dance. usage: /<command> ..., where command is one of ack, resolve"},
		{name: "unknown unicode verb", in: "/ñandú", ok: true, wantErr: "unknown command /ñandú"},
		{name: "invalid utf8", in: "#1 \xff\xfe", ok: true, want: Command{Verb: VerbChat, IncidentID: 1, Text: "\uFFFD", Rest: "\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Parse(tt.in)
			assert.Equal(t, tt.ok, ok, "ok")
			if tt.wantErr != "" {
				require.Error(t, err)
				var ue *UsageError
				require.True(t, errors.As(err, &ue), "want *UsageError, got %T", err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotEmpty(t, ue.Usage)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSlash(t *testing.T) {
	tests := []struct {
		name          string
		command, text string
		want          Command
		wantErr       string
	}{
		{name: "sitrep ack", command: "/sitrep", text: "ack 42 on it",
			want: Command{Verb: VerbAck, IncidentID: 42, Text: "on it", Rest: "42 on it"}},
		{name: "sitrep upper", command: "/SITREP", text: "  Resolve  #3  ",
			want: Command{Verb: VerbResolve, IncidentID: 3, Rest: "#3"}},
		{name: "sitrep empty", command: "/sitrep", text: "", want: Command{Verb: VerbHelp}},
		{name: "sitrep chat", command: "/sitrep", text: "#4 hello", want: Command{Verb: VerbChat, IncidentID: 4, Text: "hello", Rest: "hello"}},
		{name: "direct ack", command: "/ack", text: "42 on it",
			want: Command{Verb: VerbAck, IncidentID: 42, Text: "on it", Rest: "42 on it"}},
		{name: "no slash", command: "incidents", text: "all", want: Command{Verb: VerbIncidents, Sub: "all", Rest: "all"}},
		{name: "direct route", command: "/route", text: `test a=b c="d e"`,
			want: Command{Verb: VerbRoute, Sub: "test", Args: map[string]string{"a": "b", "c": "d e"}, Rest: `test a=b c="d e"`}},
		{name: "ack missing id", command: "/ack", text: "", wantErr: "incident id is missing"},
		{name: "sitrep bad", command: "/sitrep", text: "dance", wantErr: "unknown command /dance"},
		{name: "unknown command", command: "/dance", text: "42", wantErr: "unknown command /dance"},
		{name: "empty command", command: "", text: "ack 1", wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSlash(tt.command, tt.text)
			if tt.wantErr != "" {
				var ue *UsageError
				require.True(t, errors.As(err, &ue), "want *UsageError, got %v", err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUsageErrorText(t *testing.T) {
	assert.Equal(t, "incident id is missing. usage: /ack <id> [note]",
		(&UsageError{Usage: "/ack <id> [note]", Msg: "incident id is missing"}).Error())
	assert.Equal(t, "bad", (&UsageError{Msg: "bad"}).Error())
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "", want: nil},
		{in: "  a  b ", want: []string{"a", "b"}},
		{in: `a="b c" d`, want: []string{"a=b c", "d"}},
		{in: `""`, want: []string{""}},
		{in: `"a\\b"`, want: []string{`a\b`}},
		{in: `a\b`, want: []string{`a\b`}},
		{in: `"open`, err: true},
	}
	for _, tt := range tests {
		got, err := tokenize(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "/ack 42", "!resolve #1 done", "#42 hi", "#0", "#99999999999999999999999 x", "/route test a=b c=\"d e\"",
		"/sitrep note 1 x", "/help ack", "/incidents open", "/oncall \"x", "/sitrep #3", "/\xff", "#1\u00a0ü", "/route “a b”=c",
		`/incident open "DB slow" --status degraded --services api,web -- slow`, "/incident update 3 identified --status=down fixed",
		"/incident resolve 3 -- done", `/incident maintenance x --start "tomorrow 02:00" --end +2h`, "/incident list", "/incident open -- --",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, ok, err := Parse(s)
		if !ok {
			if err != nil || cmd.Verb != "" {
				t.Fatalf("Parse(%q) = %+v, false, %v: ignored text must carry nothing", s, cmd, err)
			}
			return
		}
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T is not a *UsageError", s, err)
			}
			return
		}
		if _, known := lookup(cmd.Verb); !known {
			t.Fatalf("Parse(%q) gave unknown verb %q", s, cmd.Verb)
		}
		switch cmd.Verb {
		case VerbAck, VerbResolve, VerbChat, VerbNote:
			if cmd.IncidentID == 0 {
				t.Fatalf("Parse(%q) gave incident 0", s)
			}
		case VerbIncident:
			if cmd.Page == nil && cmd.IncidentID == 0 {
				t.Fatalf("Parse(%q) gave incident 0", s)
			}
			if p := cmd.Page; p != nil && (p.Sub == "update" || p.Sub == "resolve") && p.IncidentID == 0 {
				t.Fatalf("Parse(%q) gave a page command on incident 0", s)
			}
		}
		if n := len([]rune(cmd.Text)); n > MaxTextRunes {
			t.Fatalf("Parse(%q) text of %d runes", s, n)
		}
		if _, err := ParseSlash("/sitrep", s); err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseSlash(%q) error %T is not a *UsageError", s, err)
			}
		}
	})
}
