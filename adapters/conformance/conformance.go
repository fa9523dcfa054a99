// Package conformance is the behaviour every sitrep chat adapter must show,
// written once as a test suite. Every adapter under adapters/ must pass Run:
// give it a conformance_test.go that builds a Harness around the adapter (a
// fake of the platform's API, or the real service for a live test) and calls
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) conformance.Harness { ... })
//	}
//
// The suite talks to the adapter only through adapters.Chat.Deliver, the way
// the outbox does, and sends only what the outbox would: an OpReply only to
// a platform whose Capabilities have Threads, an OpUpdate only to one with
// Edit. Every adapter must show that a post returns a usable ID and its text
// shows, in order (a digest too); that a cancelled context delivers nothing
// and says so; that unicode and long text survive (or are cut with a visible
// marker); that concurrent posts all show with distinct IDs; that a message
// offering buttons still posts where the platform has none; and, when the
// harness can type in the room (Harness.Say), that a typed line reaches
// sitrep as an adapters.Inbound and, when it can see replies
// (Harness.Replies), that a Reply reaches its sender.
//
// Then, per capability the adapter claims:
//
//   - Edit: an OpUpdate replaces the text of message Ref in place (no new
//     message, the old text gone) and returns Ref; a cancelled update changes
//     nothing.
//   - Threads: an OpReply shows under its parent (Seen.Parent) with an ID of
//     its own, leaving the parent as it was.
//   - Buttons: a message's Actions show as its buttons (Seen.Actions), a
//     message without Actions shows none, and pressing one (Harness.Press)
//     reaches sitrep as an Inbound whose Action names the verb and the
//     incident; with Edit too, an update can change or drop the buttons.
//   - PrivateReplies: a Reply with Private set is shown to its sender and not
//     to another responder in the room (Harness.Replies).
//
// A claimed capability the harness gives the suite no way to check (Press for
// Buttons; Say, Answer and Replies for PrivateReplies) fails the suite: a
// claim nobody checks is not trusted. The suite also fails an adapter whose
// room shows threads or buttons it says it does not have. An adapter that
// does not claim a capability is never asked for it, so what it would do
// with such a delivery is not checked.
//
// Checks on what a room shows poll Harness.Seen (and Harness.Replies) for up
// to five seconds, so a platform that shows posts a moment later still
// passes.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/timeline"
)

// Harness is one adapter wired to one room of its platform, for one subtest.
// Chat, Room and Seen are required; the rest are what the harness can do in
// the room, nil when it cannot (see the package doc for which capabilities
// require which).
type Harness struct {
	// Chat is the adapter under test.
	Chat adapters.Chat
	// Room is the room the suite delivers to. It starts empty of the suite's
	// messages (other messages in it are ignored).
	Room adapters.Room
	// Seen returns what the platform now shows in Room, oldest first, with
	// each message's thread parent and buttons where the platform has them.
	Seen func(ctx context.Context) ([]Seen, error)
	// Say makes responder user type text in Room; nil if the adapter takes
	// no inbound messages.
	Say func(ctx context.Context, user, text string) error
	// Press makes responder user press the button for verb on the message
	// messageID (an ID Deliver returned); nil if the platform has no buttons.
	Press func(ctx context.Context, user, messageID string, verb adapters.Verb) error
	// Inbound carries what the adapter handed to sitrep's Handler: typed
	// lines and presses (nil if Say and Press are nil). Recorder provides it.
	Inbound <-chan adapters.Inbound
	// Answer sets the Reply the harness's Handler gives every Inbound from
	// then on (the zero Reply, which says nothing, until it is called).
	// Recorder provides it. Nil if Replies is nil.
	Answer func(adapters.Reply)
	// Replies returns the texts of the replies the platform has shown user
	// so far, oldest first: replies to user's own messages, and any reply the
	// platform shows to the whole room. Nil if the harness cannot see them.
	Replies func(ctx context.Context, user string) ([]string, error)
}

// Seen is one message as the platform shows it.
type Seen struct {
	ID   string // the ID Deliver returned for it
	Text string
	// Parent is the ID of the message this one shows under, in its thread;
	// empty for a message in the room itself.
	Parent string
	// Actions are the buttons shown with the message, in order.
	Actions []adapters.Verb
}

// Timings of the suite.
const (
	// SeenTimeout bounds the wait for a delivery or a reply to show.
	SeenTimeout = 5 * time.Second
	// InboundTimeout bounds the wait for an Inbound after Say or Press.
	InboundTimeout = 2 * time.Second
	// Settle is how long the suite watches for something that must not
	// show (a private reply to another responder) once what it waited for
	// has shown.
	Settle = 200 * time.Millisecond
	// pollEvery is how often Seen is polled while waiting.
	pollEvery = 25 * time.Millisecond
	// opTimeout bounds one Deliver, Say or Press.
	opTimeout = 10 * time.Second
)

// LongTextLen is the length, in runes, of the long text the suite posts.
const LongTextLen = 3000

// Responders the suite speaks as.
const (
	Alice = "alice"
	Bob   = "bob"
)

// testCase is one subtest, needing caps of the adapter.
type testCase struct {
	name string
	need func(adapters.Capabilities) bool // nil: every adapter
	why  string                           // said when need is false
	run  func(t *testing.T, h Harness)
}

func hasEdit(c adapters.Capabilities) bool    { return c.Edit }
func hasThreads(c adapters.Capabilities) bool { return c.Threads }
func hasButtons(c adapters.Capabilities) bool { return c.Buttons }
func hasPrivate(c adapters.Capabilities) bool { return c.PrivateReplies }
func hasButtonsAndEdit(c adapters.Capabilities) bool {
	return c.Buttons && c.Edit
}

// Run runs the suite. newHarness is called once per subtest, so every subtest
// gets a fresh room (or at least a fresh Harness); it should register its own
// cleanup with t.Cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []testCase{
		{name: "PostShowsText", run: testPost},
		{name: "DigestShowsText", run: testDigest},
		{name: "PostsKeepOrder", run: testOrder},
		{name: "CancelledDeliveryFails", run: testCancelled},
		{name: "UnicodeSurvives", run: testUnicode},
		{name: "LongTextSurvivesOrIsMarked", run: testLong},
		{name: "ConcurrentPosts", run: testConcurrent},
		{name: "ActionsPostEverywhere", run: testActionsPost},
		{name: "NoUnclaimedThreadsOrButtons", run: testHonestShow},
		{name: "SayReachesSitrep", run: testSay},
		{name: "ReplyReachesSender", run: testReply},
		{name: "Edit/UpdateReplacesText", need: hasEdit, why: "no Edit: sitrep never sends it an update", run: testUpdate},
		{name: "Edit/CancelledUpdateChangesNothing", need: hasEdit, why: "no Edit", run: testCancelledUpdate},
		{name: "Threads/ReplyShowsUnderParent", need: hasThreads, why: "no Threads: sitrep posts replies as posts", run: testThreadReply},
		{name: "Buttons/ActionsShowAsButtons", need: hasButtons, why: "no Buttons", run: testButtonsShow},
		{name: "Buttons/PressReachesSitrep", need: hasButtons, why: "no Buttons", run: testPress},
		{name: "Buttons/UpdateChangesButtons", need: hasButtonsAndEdit, why: "needs Buttons and Edit", run: testUpdateButtons},
		{name: "PrivateReplies/OnlySenderSees", need: hasPrivate, why: "no PrivateReplies", run: testPrivateReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Chat == nil || h.Seen == nil {
				t.Fatal("conformance: Harness needs Chat and Seen")
			}
			caps := h.Chat.Capabilities()
			if again := h.Chat.Capabilities(); again != caps {
				t.Fatalf("Capabilities changed between two calls: %+v, then %+v", caps, again)
			}
			if tc.need != nil && !tc.need(caps) {
				t.Skipf("the platform does not claim it (%s); capabilities %+v", tc.why, caps)
			}
			tc.run(t, h)
		})
	}
}

// Recorder is an adapters.Handler for harnesses: it passes every Inbound to
// the suite (Harness.Inbound) and answers with the Reply set by Answer
// (Harness.Answer). Create it with NewRecorder.
type Recorder struct {
	in    chan adapters.Inbound
	mu    sync.Mutex
	reply adapters.Reply
}

// NewRecorder returns a Recorder that says nothing until Answer is called.
func NewRecorder() *Recorder { return &Recorder{in: make(chan adapters.Inbound, 100)} }

// Handle is the adapters.Handler. An Inbound that finds the channel full is
// dropped, never waited for.
func (r *Recorder) Handle(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
	select {
	case r.in <- in:
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reply, nil
}

// Inbound is what Handle was given, for Harness.Inbound.
func (r *Recorder) Inbound() <-chan adapters.Inbound { return r.in }

// Answer sets the Reply Handle gives from now on, for Harness.Answer.
func (r *Recorder) Answer(reply adapters.Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reply = reply
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// card is a triggered incident's first message, as the timeline makes it.
func card(text string) adapters.Message {
	return adapters.Message{IncidentID: 42, EventID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "conformance", Text: text, Color: "red"}
}

// deliver sends d to Room with a fresh Key and fails the test unless Deliver
// returns a non-empty ID.
func deliver(t *testing.T, h Harness, d adapters.Delivery) string {
	t.Helper()
	d.Room = h.Room
	if d.Key == "" {
		d.Key = unique(t, "key")
	}
	id, err := h.Chat.Deliver(opCtx(t), d)
	if err != nil {
		t.Fatalf("Deliver(%s %.40q): %v", d.Op, d.Msg.Text, err)
	}
	if id == "" {
		t.Fatalf("Deliver(%s %.40q) returned an empty message ID", d.Op, d.Msg.Text)
	}
	return id
}

// post posts msg and returns its ID.
func post(t *testing.T, h Harness, msg adapters.Message) string {
	t.Helper()
	return deliver(t, h, adapters.Delivery{Op: adapters.OpPost, Msg: msg})
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
		fmt.Fprintf(&b, "{%q %.60q", s.ID, s.Text)
		if s.Parent != "" {
			fmt.Fprintf(&b, " under %q", s.Parent)
		}
		if len(s.Actions) > 0 {
			fmt.Fprintf(&b, " buttons %v", s.Actions)
		}
		b.WriteString("}")
	}
	return b.String()
}

// find returns the message with id in seen.
func find(seen []Seen, id string) (Seen, bool) {
	for _, s := range seen {
		if s.ID == id {
			return s, true
		}
	}
	return Seen{}, false
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

func showsText(seen []Seen, text string) (string, bool) {
	for _, s := range seen {
		if s.Text == text {
			return s.ID, true
		}
	}
	return "", false
}

func unique(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s %s %d", prefix, t.Name(), time.Now().UnixNano())
}

func testPost(t *testing.T, h Harness) {
	text := unique(t, "#42 triggered CRITICAL: disk full on db-1")
	id := post(t, h, card(text))
	waitSeen(t, h, fmt.Sprintf("message %q with text %q", id, text), func(s []Seen) bool { return shows(s, id, text) })
}

func testDigest(t *testing.T, h Harness) {
	text := unique(t, "3 events while the room was busy")
	first := card("#42 triggered CRITICAL: db-1 down")
	later := adapters.Message{IncidentID: 42, EventID: 2, Kind: timeline.KindRepeated, State: timeline.StateTriggered, Text: "#42 repeated"}
	note := adapters.Message{IncidentID: 42, EventID: 3, Kind: timeline.KindNote, State: timeline.StateTriggered, Text: "#42 note: failing over"}
	id := post(t, h, adapters.Message{Kind: adapters.KindDigest, Text: text, Digest: []adapters.Message{first, later, note}})
	waitSeen(t, h, fmt.Sprintf("digest %q with text %q", id, text), func(s []Seen) bool { return shows(s, id, text) })
}

func testOrder(t *testing.T, h Harness) {
	first, second := unique(t, "first"), unique(t, "second")
	id1 := post(t, h, card(first))
	id2 := post(t, h, card(second))
	if id1 == id2 {
		t.Fatalf("two posts returned the same ID %q", id1)
	}
	seen := waitSeen(t, h, "both messages", func(s []Seen) bool { return shows(s, id1, first) && shows(s, id2, second) })
	if i, j := index(seen, id1), index(seen, id2); i > j {
		t.Fatalf("the room shows the second post (%q, at %d) before the first (%q, at %d)", id2, j, id1, i)
	}
}

// cancelled is a context that has ended.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// checkCancelled fails the test unless err says the context was cancelled.
func checkCancelled(t *testing.T, what, id string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s with a cancelled context succeeded (ID %q)", what, id)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context: error %q does not wrap context.Canceled", what, err)
	}
}

func testCancelled(t *testing.T, h Harness) {
	text := unique(t, "never shown")
	id, err := h.Chat.Deliver(cancelled(), adapters.Delivery{Room: h.Room, Op: adapters.OpPost, Msg: card(text), Key: unique(t, "key")})
	checkCancelled(t, "Deliver(post)", id, err)
	// A post made after it shows; by then the cancelled one would show too.
	marker := unique(t, "marker")
	mid := post(t, h, card(marker))
	seen := waitSeen(t, h, "the marker message", func(s []Seen) bool { return shows(s, mid, marker) })
	if id, ok := showsText(seen, text); ok {
		t.Fatalf("a post with a cancelled context is shown, as message %q", id)
	}
}

func testUnicode(t *testing.T, h Harness) {
	text := "🚨 Ünïcödé ✓ 日本語のアラート — “quotes” & <angle> brackets, tab\tand\nnewline: " + unique(t, "ok")
	id := post(t, h, card(text))
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
	id := post(t, h, card(text))
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

func testConcurrent(t *testing.T, h Harness) {
	const n = 10
	texts := make([]string, n)
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		texts[i] = unique(t, fmt.Sprintf("concurrent %d", i))
		wg.Go(func() {
			ids[i], errs[i] = h.Chat.Deliver(opCtx(t), adapters.Delivery{Room: h.Room, Op: adapters.OpPost, Msg: card(texts[i]), Key: unique(t, fmt.Sprintf("key %d", i))})
		})
	}
	wg.Wait()
	byID := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Deliver %d: %v", i, errs[i])
		}
		if ids[i] == "" {
			t.Fatalf("concurrent Deliver %d returned an empty ID", i)
		}
		if j, dup := byID[ids[i]]; dup {
			t.Fatalf("concurrent Delivers %d and %d both returned ID %q", j, i, ids[i])
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

// offering is a card with the buttons a triggered incident offers.
func offering(text string) adapters.Message {
	m := card(text)
	m.Actions = []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}
	return m
}

// testActionsPost: the timeline puts Actions on cards for every platform; one
// without buttons still shows the card.
func testActionsPost(t *testing.T, h Harness) {
	text := unique(t, "#42 triggered CRITICAL: with buttons")
	id := post(t, h, offering(text))
	waitSeen(t, h, fmt.Sprintf("message %q with text %q", id, text), func(s []Seen) bool { return shows(s, id, text) })
}

// testHonestShow: a room shows no thread or button the adapter says its
// platform lacks.
func testHonestShow(t *testing.T, h Harness) {
	caps := h.Chat.Capabilities()
	text := unique(t, "#42 triggered CRITICAL: honest")
	id := post(t, h, offering(text))
	seen := waitSeen(t, h, fmt.Sprintf("message %q", id), func(s []Seen) bool { return shows(s, id, text) })
	for _, s := range seen {
		if !caps.Threads && s.Parent != "" {
			t.Errorf("message %q shows under %q, but the platform claims no Threads", s.ID, s.Parent)
		}
		if !caps.Buttons && len(s.Actions) > 0 {
			t.Errorf("message %q shows buttons %v, but the platform claims no Buttons", s.ID, s.Actions)
		}
	}
}

// waitInbound waits for the first Inbound match accepts, skipping others.
func waitInbound(t *testing.T, h Harness, want string, match func(adapters.Inbound) bool) adapters.Inbound {
	t.Helper()
	timeout := time.After(InboundTimeout)
	for {
		select {
		case in := <-h.Inbound:
			if match(in) {
				return in
			}
		case <-timeout:
			t.Fatalf("no Inbound %s within %s", want, InboundTimeout)
			return adapters.Inbound{}
		}
	}
}

// checkFrom checks an Inbound names the room, the platform and user.
func checkFrom(t *testing.T, h Harness, in adapters.Inbound, user string) {
	t.Helper()
	if in.User == "" {
		t.Error("Inbound.User is empty")
	} else if in.User != user {
		t.Errorf("Inbound.User is %q; %q sent it", in.User, user)
	}
	if in.RoomID == "" {
		t.Error("Inbound.RoomID is empty")
	} else if h.Room.ID != "" && in.RoomID != h.Room.ID {
		t.Errorf("Inbound.RoomID is %q; sitrep knows the room as %q", in.RoomID, h.Room.ID)
	}
	if in.Platform != h.Chat.Platform() {
		t.Errorf("Inbound.Platform is %q, the adapter's platform is %q", in.Platform, h.Chat.Platform())
	}
}

func needSay(t *testing.T, h Harness) {
	t.Helper()
	if h.Say == nil {
		t.Skip("the adapter takes no inbound messages (Harness.Say is nil)")
	}
	if h.Inbound == nil {
		t.Fatal("conformance: Harness.Say is set but Inbound is nil")
	}
}

func say(t *testing.T, h Harness, user, text string) adapters.Inbound {
	t.Helper()
	if err := h.Say(opCtx(t), user, text); err != nil {
		t.Fatalf("Say: %v", err)
	}
	return waitInbound(t, h, fmt.Sprintf("with text %q", text), func(in adapters.Inbound) bool { return in.Text == text })
}

func testSay(t *testing.T, h Harness) {
	needSay(t, h)
	text := unique(t, "#1 looking into it")
	in := say(t, h, Alice, text)
	checkFrom(t, h, in, Alice)
	if in.Action != nil {
		t.Errorf("a typed line arrived as a button press %+v", *in.Action)
	}
	if in.Command != "" {
		t.Errorf("a typed line arrived as the platform's slash command %q", in.Command)
	}
}

// waitReply polls Replies(user) until it holds text.
func waitReply(t *testing.T, h Harness, user, text string) {
	t.Helper()
	deadline := time.Now().Add(SeenTimeout)
	var last []string
	for {
		got, err := h.Replies(opCtx(t), user)
		if err != nil {
			t.Fatalf("Replies(%q): %v", user, err)
		}
		if slices.Contains(got, text) {
			return
		}
		last = got
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s to be shown the reply %q: they were shown %q", user, text, last)
		}
		time.Sleep(pollEvery)
	}
}

func needReplies(t *testing.T, h Harness) {
	t.Helper()
	needSay(t, h)
	if h.Replies == nil {
		t.Skip("the harness cannot see replies (Harness.Replies is nil)")
	}
	if h.Answer == nil {
		t.Fatal("conformance: Harness.Replies is set but Answer is nil")
	}
}

func testReply(t *testing.T, h Harness) {
	needReplies(t, h)
	reply := unique(t, "incident #1 acknowledged")
	h.Answer(adapters.Reply{Text: reply})
	say(t, h, Alice, unique(t, "/ack 1"))
	waitReply(t, h, Alice, reply)
}

func update(t *testing.T, h Harness, ref string, msg adapters.Message) {
	t.Helper()
	got := deliver(t, h, adapters.Delivery{Op: adapters.OpUpdate, Ref: ref, Msg: msg})
	if got != ref {
		t.Fatalf("Deliver(update of %q) returned ID %q; the platform claims Edit, so it must update in place", ref, got)
	}
}

func acked(text string) adapters.Message {
	return adapters.Message{IncidentID: 42, EventID: 2, Kind: timeline.KindAcknowledged, State: timeline.StateAcknowledged, Title: "conformance", Text: text, Color: "yellow", User: Alice}
}

func testUpdate(t *testing.T, h Harness) {
	before, after := unique(t, "#42 triggered: db-1 down"), unique(t, "#42 acknowledged by alice: db-1 down")
	id := post(t, h, card(before))
	waitSeen(t, h, "the posted message", func(s []Seen) bool { return shows(s, id, before) })
	update(t, h, id, acked(after))
	seen := waitSeen(t, h, fmt.Sprintf("message %q to read %q", id, after), func(s []Seen) bool { return shows(s, id, after) })
	if old, ok := showsText(seen, before); ok {
		t.Fatalf("the old text is still shown, as message %q", old)
	}
	for _, s := range seen {
		if s.Text == after && s.ID != id {
			t.Fatalf("the update was also posted, as message %q: an update must not post", s.ID)
		}
	}
}

func testCancelledUpdate(t *testing.T, h Harness) {
	before := unique(t, "#42 triggered: db-1 down")
	id := post(t, h, card(before))
	waitSeen(t, h, "the posted message", func(s []Seen) bool { return shows(s, id, before) })
	never := unique(t, "never shown")
	got, err := h.Chat.Deliver(cancelled(), adapters.Delivery{Room: h.Room, Op: adapters.OpUpdate, Ref: id, Msg: acked(never), Key: unique(t, "key")})
	checkCancelled(t, "Deliver(update)", got, err)
	marker := unique(t, "marker")
	mid := post(t, h, card(marker))
	seen := waitSeen(t, h, "the marker message", func(s []Seen) bool { return shows(s, mid, marker) })
	if !shows(seen, id, before) {
		t.Fatalf("a cancelled update changed message %q: the room shows %s", id, describe(seen))
	}
}

func testThreadReply(t *testing.T, h Harness) {
	parentText, replyText := unique(t, "#42 triggered CRITICAL: db-1 down"), unique(t, "#42 note: failing over to db-2")
	parent := post(t, h, card(parentText))
	waitSeen(t, h, "the card", func(s []Seen) bool { return shows(s, parent, parentText) })
	msg := adapters.Message{IncidentID: 42, EventID: 3, Kind: timeline.KindNote, State: timeline.StateTriggered, Text: replyText}
	id := deliver(t, h, adapters.Delivery{Op: adapters.OpReply, Ref: parent, Msg: msg})
	if id == parent {
		t.Fatalf("the reply got its parent's ID %q", id)
	}
	seen := waitSeen(t, h, fmt.Sprintf("reply %q under %q", id, parent), func(s []Seen) bool { return shows(s, id, replyText) })
	r, _ := find(seen, id)
	if r.Parent != parent {
		t.Fatalf("reply %q shows under %q, not under its card %q", id, r.Parent, parent)
	}
	p, _ := find(seen, parent)
	if p.Text != parentText || p.Parent != "" {
		t.Fatalf("replying changed the card: it shows as %s", describe([]Seen{p}))
	}
}

func needPress(t *testing.T, h Harness) {
	t.Helper()
	if h.Press == nil || h.Inbound == nil {
		t.Fatal("conformance: the platform claims Buttons, so the Harness needs Press and Inbound")
	}
}

func testButtonsShow(t *testing.T, h Harness) {
	with, without := unique(t, "#42 triggered: with buttons"), unique(t, "#43 triggered: without")
	id := post(t, h, offering(with))
	plain := post(t, h, card(without))
	seen := waitSeen(t, h, "both cards", func(s []Seen) bool { return shows(s, id, with) && shows(s, plain, without) })
	s, _ := find(seen, id)
	if want := []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}; !slices.Equal(s.Actions, want) {
		t.Errorf("message %q shows buttons %v; it offers %v", id, s.Actions, want)
	}
	if s, _ := find(seen, plain); len(s.Actions) > 0 {
		t.Errorf("message %q offers no buttons but shows %v", plain, s.Actions)
	}
}

func testPress(t *testing.T, h Harness) {
	needPress(t, h)
	text := unique(t, "#42 triggered: press me")
	id := post(t, h, offering(text))
	waitSeen(t, h, "the card", func(s []Seen) bool { return shows(s, id, text) })
	if err := h.Press(opCtx(t), Alice, id, adapters.VerbAck); err != nil {
		t.Fatalf("Press(%q, ack): %v", id, err)
	}
	in := waitInbound(t, h, "with a button press", func(in adapters.Inbound) bool { return in.Action != nil })
	checkFrom(t, h, in, Alice)
	if want := (adapters.Action{Verb: adapters.VerbAck, IncidentID: 42}); *in.Action != want {
		t.Errorf("the press arrived as %+v; alice pressed %+v", *in.Action, want)
	}
	if in.MessageID != id {
		t.Errorf("Inbound.MessageID is %q; the button was on %q", in.MessageID, id)
	}
	if in.Text != "" {
		t.Errorf("a press carries text %q", in.Text)
	}
}

func testUpdateButtons(t *testing.T, h Harness) {
	text := unique(t, "#42 triggered: buttons change")
	id := post(t, h, offering(text))
	waitSeen(t, h, "the card", func(s []Seen) bool { return shows(s, id, text) })
	ack := acked(unique(t, "#42 acknowledged"))
	ack.Actions = []adapters.Verb{adapters.VerbResolve}
	update(t, h, id, ack)
	seen := waitSeen(t, h, "the acknowledged card", func(s []Seen) bool { return shows(s, id, ack.Text) })
	if s, _ := find(seen, id); !slices.Equal(s.Actions, ack.Actions) {
		t.Errorf("the acknowledged card shows buttons %v; it offers %v", s.Actions, ack.Actions)
	}
	resolved := adapters.Message{IncidentID: 42, EventID: 3, Kind: timeline.KindResolved, State: timeline.StateResolved, Text: unique(t, "#42 resolved"), Color: "green"}
	update(t, h, id, resolved)
	seen = waitSeen(t, h, "the resolved card", func(s []Seen) bool { return shows(s, id, resolved.Text) })
	if s, _ := find(seen, id); len(s.Actions) > 0 {
		t.Errorf("the resolved card still shows buttons %v", s.Actions)
	}
}

func testPrivateReply(t *testing.T, h Harness) {
	if h.Say == nil || h.Inbound == nil || h.Replies == nil || h.Answer == nil {
		t.Fatal("conformance: the platform claims PrivateReplies, so the Harness needs Say, Inbound, Answer and Replies")
	}
	// Bob is in the room first, where presence matters to the platform.
	say(t, h, Bob, unique(t, "here"))
	secret := unique(t, "only for alice")
	h.Answer(adapters.Reply{Text: secret, Private: true})
	say(t, h, Alice, unique(t, "/ack 42"))
	waitReply(t, h, Alice, secret)
	// What reached alice has had its chance to reach bob; watch a moment.
	deadline := time.Now().Add(Settle)
	for {
		got, err := h.Replies(opCtx(t), Bob)
		if err != nil {
			t.Fatalf("Replies(%q): %v", Bob, err)
		}
		if slices.Contains(got, secret) {
			t.Fatalf("bob was shown alice's private reply %q", secret)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(pollEvery)
	}
}
