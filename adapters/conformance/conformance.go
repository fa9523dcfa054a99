// Package conformance is the behaviour every sitrep chat adapter must show,
// written once as a test suite. Every adapter under adapters/ must pass Run:
// give it a conformance_test.go that builds a Harness around the adapter (a
// fake of the platform's API, or the real service for a live test) and calls
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) conformance.Harness { ... })
//	}
//
// Run checks that Post returns a usable ID and the text shows, in order; that
// Update replaces the text of that ID; that a cancelled context posts nothing
// and says so; that unicode and long text survive (or are cut with a visible
// marker); that concurrent posts all show with distinct IDs; and, when the
// adapter takes inbound messages, that a line typed in the room reaches
// sitrep as an adapters.Inbound.
//
// Checks on what a room shows poll Harness.Seen for up to five seconds, so a
// platform that shows posts a moment later still passes.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
)

// Harness is one adapter wired to one room of its platform, for one subtest.
type Harness struct {
	// Chat is the adapter under test.
	Chat adapters.Chat
	// Room is the room the suite posts to. It starts empty of the suite's
	// messages (other messages in it are ignored).
	Room adapters.Room
	// Seen returns what the platform now shows in Room, oldest first.
	Seen func(ctx context.Context) ([]Seen, error)
	// Say makes a responder type text in Room; nil if the adapter has no inbound.
	Say func(ctx context.Context, user, text string) error
	// Inbound carries the messages the adapter handed to sitrep's Handler
	// (nil if Say is nil).
	Inbound <-chan adapters.Inbound
}

// Seen is one message as the platform shows it.
type Seen struct {
	ID   string // the ID Post returned for it
	Text string
}

// Timings of the suite.
const (
	// SeenTimeout bounds the wait for a post or an update to show.
	SeenTimeout = 5 * time.Second
	// InboundTimeout bounds the wait for an Inbound after Say.
	InboundTimeout = 2 * time.Second
	// pollEvery is how often Seen is polled while waiting.
	pollEvery = 25 * time.Millisecond
	// opTimeout bounds one Post, Update or Say.
	opTimeout = 10 * time.Second
)

// LongTextLen is the length, in runes, of the long text the suite posts.
const LongTextLen = 3000

// Run runs the suite. newHarness is called once per subtest, so every subtest
// gets a fresh room (or at least a fresh Harness); it should register its own
// cleanup with t.Cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"PostShowsText", testPost},
		{"PostsKeepOrder", testOrder},
		{"UpdateReplacesText", testUpdate},
		{"CancelledPostFails", testCancelled},
		{"UnicodeSurvives", testUnicode},
		{"LongTextSurvivesOrIsMarked", testLong},
		{"SayReachesSitrep", testSay},
		{"ConcurrentPosts", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Chat == nil || h.Seen == nil {
				t.Fatal("conformance: Harness needs Chat and Seen")
			}
			tc.run(t, h)
		})
	}
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// post posts text and fails the test unless Post returns a non-empty ID.
func post(t *testing.T, h Harness, text string) string {
	t.Helper()
	id, err := h.Chat.Post(opCtx(t), h.Room, adapters.Message{Text: text, Kind: "alert", State: "triggered", Title: "conformance"})
	if err != nil {
		t.Fatalf("Post(%.40q): %v", text, err)
	}
	if id == "" {
		t.Fatalf("Post(%.40q) returned an empty message ID", text)
	}
	return id
}

// waitSeen polls Seen until ok accepts what it returns, or fails the test
// after SeenTimeout, describing want and the last thing seen.
func waitSeen(t *testing.T, h Harness, want string, ok func([]Seen) bool) []Seen {
	t.Helper()
	deadline := time.Now().Add(SeenTimeout)
	var last []Seen
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), SeenTimeout)
		seen, err := h.Seen(ctx)
		cancel()
		if err == nil {
			last, lastErr = seen, nil
			if ok(seen) {
				return seen
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				t.Fatalf("waiting for %s: Seen: %v", want, lastErr)
			}
			t.Fatalf("waiting for %s: the room shows %s", want, describe(last))
		}
		time.Sleep(pollEvery)
	}
}

func describe(seen []Seen) string {
	if len(seen) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for i, s := range seen {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{%q %.60q}", s.ID, s.Text)
	}
	return b.String()
}

// index returns the position of the message with id in seen, or -1.
func index(seen []Seen, id string) int {
	for i, s := range seen {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// shows reports whether seen holds exactly one message with id, and its text is text.
func shows(seen []Seen, id, text string) bool {
	n := 0
	for _, s := range seen {
		if s.ID == id {
			if s.Text != text {
				return false
			}
			n++
		}
	}
	return n == 1
}

func unique(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s %s %d", prefix, t.Name(), time.Now().UnixNano())
}

func testPost(t *testing.T, h Harness) {
	text := unique(t, "disk full on db-1")
	id := post(t, h, text)
	waitSeen(t, h, fmt.Sprintf("message %q with text %q", id, text), func(s []Seen) bool { return shows(s, id, text) })
}

func testOrder(t *testing.T, h Harness) {
	first, second := unique(t, "first"), unique(t, "second")
	id1 := post(t, h, first)
	id2 := post(t, h, second)
	if id1 == id2 {
		t.Fatalf("two posts returned the same ID %q", id1)
	}
	seen := waitSeen(t, h, "both messages", func(s []Seen) bool { return shows(s, id1, first) && shows(s, id2, second) })
	if i, j := index(seen, id1), index(seen, id2); i > j {
		t.Fatalf("the room shows the second post (%q, at %d) before the first (%q, at %d)", id2, j, id1, i)
	}
}

func testUpdate(t *testing.T, h Harness) {
	before, after := unique(t, "triggered: db-1 down"), unique(t, "acknowledged by alice: db-1 down")
	id := post(t, h, before)
	waitSeen(t, h, "the posted message", func(s []Seen) bool { return shows(s, id, before) })
	msg := adapters.Message{Text: after, Kind: "ack", State: "acknowledged", Title: "conformance"}
	if err := h.Chat.Update(opCtx(t), h.Room, id, msg); err != nil {
		t.Fatalf("Update(%q): %v", id, err)
	}
	seen := waitSeen(t, h, fmt.Sprintf("message %q to read %q", id, after), func(s []Seen) bool { return shows(s, id, after) })
	for _, s := range seen {
		if s.Text == before {
			t.Fatalf("the old text is still shown, as message %q", s.ID)
		}
	}
}

func testCancelled(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	text := unique(t, "never shown")
	id, err := h.Chat.Post(ctx, h.Room, adapters.Message{Text: text})
	if err == nil {
		t.Fatalf("Post with a cancelled context succeeded (ID %q)", id)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Post with a cancelled context: error %q does not wrap context.Canceled", err)
	}
	// A post made after it shows; by then the cancelled one would show too.
	marker := unique(t, "marker")
	mid := post(t, h, marker)
	seen := waitSeen(t, h, "the marker message", func(s []Seen) bool { return shows(s, mid, marker) })
	for _, s := range seen {
		if s.Text == text {
			t.Fatalf("a post with a cancelled context is shown, as message %q", s.ID)
		}
	}
}

func testUnicode(t *testing.T, h Harness) {
	text := "🚨 Ünïcödé ✓ 日本語のアラート — “quotes” & <angle> brackets, tab\tand\nnewline: " + unique(t, "ok")
	id := post(t, h, text)
	waitSeen(t, h, fmt.Sprintf("message %q with text %q", id, text), func(s []Seen) bool { return shows(s, id, text) })
}

// truncationMarkers are the visible signs that a text was cut.
var truncationMarkers = []string{"…", "...", "[truncated]", "(truncated)"}

func testLong(t *testing.T, h Harness) {
	head := unique(t, "long")
	var b strings.Builder
	b.WriteString(head)
	for i := 0; utf8.RuneCountInString(b.String()) < LongTextLen; i++ {
		fmt.Fprintf(&b, " %d é", i)
	}
	text := string([]rune(b.String())[:LongTextLen])
	id := post(t, h, text)
	seen := waitSeen(t, h, fmt.Sprintf("message %q", id), func(s []Seen) bool { return index(s, id) >= 0 })
	got := seen[index(seen, id)].Text
	if got == text {
		return
	}
	if !strings.HasPrefix(got, head) {
		t.Fatalf("long text was mangled: it shows as %.120q", got)
	}
	if utf8.RuneCountInString(got) >= LongTextLen+len("[truncated]") {
		t.Fatalf("long text shows changed but not shorter (%d runes)", utf8.RuneCountInString(got))
	}
	if !utf8.ValidString(got) {
		t.Fatal("long text was cut inside a character")
	}
	for _, m := range truncationMarkers {
		if strings.Contains(got, m) {
			t.Logf("long text cut from %d to %d runes, marked with %q", LongTextLen, utf8.RuneCountInString(got), m)
			return
		}
	}
	t.Fatalf("long text was cut from %d to %d runes with no visible marker (one of %q)", LongTextLen, utf8.RuneCountInString(got), truncationMarkers)
}

func testSay(t *testing.T, h Harness) {
	if h.Say == nil {
		t.Skip("the adapter takes no inbound messages (Harness.Say is nil)")
	}
	if h.Inbound == nil {
		t.Fatal("conformance: Harness.Say is set but Inbound is nil")
	}
	text := unique(t, "#1 looking into it")
	if err := h.Say(opCtx(t), "alice", text); err != nil {
		t.Fatalf("Say: %v", err)
	}
	timeout := time.After(InboundTimeout)
	for {
		select {
		case in := <-h.Inbound:
			if in.Text != text {
				continue // something else said in the room
			}
			if in.User == "" {
				t.Error("Inbound.User is empty")
			}
			if in.RoomID == "" {
				t.Error("Inbound.RoomID is empty")
			} else if h.Room.ID != "" && in.RoomID != h.Room.ID {
				t.Errorf("Inbound.RoomID is %q; sitrep knows the room as %q", in.RoomID, h.Room.ID)
			}
			if in.Platform != h.Chat.Platform() {
				t.Errorf("Inbound.Platform is %q, the adapter's platform is %q", in.Platform, h.Chat.Platform())
			}
			return
		case <-timeout:
			t.Fatalf("no Inbound with text %q within %s", text, InboundTimeout)
		}
	}
}

func testConcurrent(t *testing.T, h Harness) {
	const n = 10
	texts := make([]string, n)
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		texts[i] = unique(t, fmt.Sprintf("concurrent %d", i))
		wg.Go(func() {
			ids[i], errs[i] = h.Chat.Post(opCtx(t), h.Room, adapters.Message{Text: texts[i]})
		})
	}
	wg.Wait()
	byID := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Post %d: %v", i, errs[i])
		}
		if ids[i] == "" {
			t.Fatalf("concurrent Post %d returned an empty ID", i)
		}
		if j, dup := byID[ids[i]]; dup {
			t.Fatalf("concurrent Posts %d and %d both returned ID %q", j, i, ids[i])
		}
		byID[ids[i]] = i
	}
	waitSeen(t, h, fmt.Sprintf("all %d concurrent posts", n), func(s []Seen) bool {
		for i := range n {
			if !shows(s, ids[i], texts[i]) {
				return false
			}
		}
		return true
	})
}
