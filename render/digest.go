package render

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sitrep/sitrep/adapters"
)

const (
	maxDigestText  = 1500 // bytes of entry lines a digest's text lists
	maxDigestTitle = 100  // runes per listed title
	maxDigestKind  = 20   // runes of a line's kind label
)

// Digest collapses msgs, oldest first, into one message of Kind
// adapters.KindDigest whose Digest holds their DigestChild. Its Text (all a platform like
// HipChat shows) is a header with the counts by kind ("14 alerts: 9
// triggered, 5 resolved"), then one line per entry ("#12 resolved: db-1
// down"), oldest first. When the lines do not fit in maxDigestText bytes, it
// lists the oldest entry, "… N more …", and then as many of the newest as fit:
// the newest entry is always shown, since it is the room's current news.
func Digest(msgs []adapters.Message) adapters.Message {
	msgs = slices.Clone(msgs)
	counts := map[string]int{}
	for i, m := range msgs {
		msgs[i] = DigestChild(m)
		counts[digestKind(m)]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if counts[kinds[i]] != counts[kinds[j]] {
			return counts[kinds[i]] > counts[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	var sb strings.Builder
	title := strconv.Itoa(len(msgs)) + " alerts"
	sb.WriteString(title)
	sb.WriteString(": ")
	for i, k := range kinds {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(counts[k]) + " " + k)
	}
	for _, line := range digestLines(msgs, maxDigestText) {
		sb.WriteByte('\n')
		sb.WriteString(line)
	}
	return adapters.Message{
		Kind:   adapters.KindDigest,
		Title:  title,
		Text:   sb.String(),
		Color:  worstColor(msgs),
		Digest: msgs,
	}
}

// digestLines returns the lines listing msgs within budget bytes (counting a
// newline per line): all of them if they fit, else the oldest, a line
// "… N more …" and the newest that fit. The newest is always listed (a line
// is at most a few hundred bytes, well within budget).
func digestLines(msgs []adapters.Message, budget int) []string {
	n := len(msgs)
	if n == 0 {
		return nil
	}
	lines := make([]string, n) // computed on demand
	line := func(i int) string {
		if lines[i] == "" {
			lines[i] = digestLine(msgs[i])
		}
		return lines[i]
	}
	used, all := 0, true
	for i := range msgs {
		if used += len(line(i)) + 1; used > budget {
			all = false
			break
		}
	}
	if all {
		return lines
	}
	// Reserve room for the "… N more …" line.
	const reserve = len("… 1000000 more …") + 1
	newest := line(n - 1)
	used = len(newest) + 1
	first := -1
	if used+len(line(0))+1+reserve <= budget {
		first = 0
		used += len(line(0)) + 1
	}
	from := n - 1 // tail is msgs[from:]
	for from > 1 && used+len(line(from-1))+1+reserve <= budget {
		from--
		used += len(line(from)) + 1
	}
	out := make([]string, 0, n-from+2)
	if first == 0 {
		out = append(out, line(0))
	}
	if skipped := from - (first + 1); skipped > 0 {
		out = append(out, "… "+strconv.Itoa(skipped)+" more …")
	}
	return append(out, lines[from:]...)
}

// digestKind labels m in a digest: its event kind, else its incident state.
func digestKind(m adapters.Message) string {
	k := string(m.Kind)
	if k == "" {
		k = string(m.State)
	}
	if k == "" {
		return "other"
	}
	if r := []rune(k); len(r) > maxDigestKind {
		k = string(r[:maxDigestKind-1]) + "…"
	}
	return k
}

// digestLine is m's line in a digest: "#12 resolved: db-1 down".
func digestLine(m adapters.Message) string {
	t := m.Title
	if t == "" {
		t, _, _ = strings.Cut(m.Text, "\n")
	}
	t = strings.ReplaceAll(t, "\n", " ")
	if r := []rune(t); len(r) > maxDigestTitle {
		t = string(r[:maxDigestTitle-1]) + "…"
	}
	t = digestKind(m) + ": " + t
	if m.IncidentID != 0 {
		t = "#" + strconv.FormatUint(m.IncidentID, 10) + " " + t
	}
	return t
}

func worstColor(msgs []adapters.Message) string {
	rank := map[string]int{Red: 5, Yellow: 4, Purple: 3, Green: 2, Gray: 1}
	best := ""
	for _, m := range msgs {
		if rank[m.Color] > rank[best] {
			best = m.Color
		}
	}
	return best
}

// DigestChild is what a digest carries of a message it collapses: what a
// room needs to show it (IncidentID, EventID, Kind, State, Title, Text,
// Color), not its Fields, User, Actions or nested Digest.
func DigestChild(m adapters.Message) adapters.Message {
	return adapters.Message{IncidentID: m.IncidentID, EventID: m.EventID, Kind: m.Kind, State: m.State, Title: m.Title, Text: m.Text, Color: m.Color}
}
