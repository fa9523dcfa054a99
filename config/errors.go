package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/secret"
)

// Error is one problem in a config file: where it is and what is wrong.
type Error struct {
	File string // the file's name as given to Load or Parse; may be empty
	Line int    // 1-based line in the file; 0 when the problem has no line (a missing key, an env var)
	Key  string // key path such as "rooms[1].platform"; empty for a problem with the whole file
	Msg  string

	err error // the cause, if another package reported it
}

// Error formats the problem as "file:line: key: message", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause reported by another package (a *rooms.FieldError,
// a *routing.RuleError, a file-system error), if any.
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem found in a config, one line each, ordered by line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortByLine orders problems by line, keeping problems without a line last.
func (es Errors) sortByLine() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
}

// minScrubbed is the shortest secret value scrubbed from messages; shorter
// ones would mangle ordinary words and are not credentials anyone uses.
const minScrubbed = 6

// scrub replaces every known secret value in the messages with its redacted form,
// so that a token written into the wrong key never reaches a log.
func (es Errors) scrub(secrets []string) {
	for _, s := range secrets {
		if len(s) < minScrubbed {
			continue
		}
		for _, e := range es {
			e.Msg = strings.ReplaceAll(e.Msg, s, secret.Redact(s))
			e.Key = strings.ReplaceAll(e.Key, s, secret.Redact(s))
		}
	}
}

// maxShown is the longest value quoted in a message. Every credential sitrep
// takes is longer, so a token pasted under the wrong key is not echoed.
const maxShown = 24

// isSecretKey reports whether the value at a key path is a credential.
func isSecretKey(path string) bool {
	return secret.LooksSecret(path) || strings.HasSuffix(path, ".key") // web.key, web.users.NAME.key
}

// got describes a wrong value for a message: `, got "x"`, or nothing when the
// key holds a credential or the value is too long to be anything but one.
func got(path, value string) string {
	if isSecretKey(path) || len(value) > maxShown {
		return ""
	}
	return fmt.Sprintf(", got %q", value)
}

// show quotes a value for a message, or says "the value" where got would leave it out.
func show(path, value string) string {
	if isSecretKey(path) || len(value) > maxShown {
		return "the value"
	}
	return strconv.Quote(value)
}
