package adapters

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mention returns text with the first whole-word occurrence of each name in
// mentions replaced by format(id), the platform's mention of that user; a
// name text does not hold is appended, so the person is still mentioned.
// Names are replaced longest first, so "al" never eats into "alice".
func Mention(text string, mentions map[string]string, format func(id string) string) string {
	names := make([]string, 0, len(mentions))
	for n := range mentions {
		if n != "" && mentions[n] != "" {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	type span struct {
		at, end int
		id      string
	}
	var spans []span
	var extra []string
	for _, n := range names {
		at := wordIndex(text, n, func(i, j int) bool {
			for _, s := range spans {
				if i < s.end && s.at < j {
					return false
				}
			}
			return true
		})
		if at < 0 {
			extra = append(extra, format(mentions[n]))
			continue
		}
		spans = append(spans, span{at, at + len(n), mentions[n]})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.at - b.at })
	var sb strings.Builder
	last := 0
	for _, s := range spans {
		sb.WriteString(text[last:s.at])
		sb.WriteString(format(s.id))
		last = s.end
	}
	sb.WriteString(text[last:])
	for _, e := range extra {
		sb.WriteString(" " + e)
	}
	return sb.String()
}

// wordIndex is the index of the first occurrence of word in text that
// stands alone (no letter or digit on either side) and that free accepts.
func wordIndex(text, word string, free func(i, j int) bool) int {
	for from := 0; from <= len(text); {
		i := strings.Index(text[from:], word)
		if i < 0 {
			return -1
		}
		i += from
		j := i + len(word)
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[j:])
		if !isWord(before) && !isWord(after) && free(i, j) {
			return i
		}
		from = i + 1
	}
	return -1
}

func isWord(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}
