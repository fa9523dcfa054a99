package browsertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/webroom"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

const testTimeout = 30 * time.Second

// chromium returns the browser to drive, skipping the test (or failing it on
// CI) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (set CHROMIUM_PATH); the browser test must run on CI")
	}
	// Said on stderr as well, so a skip shows without -v.
	fmt.Fprintln(os.Stderr, "browsertest: SKIP: chromium not found (set CHROMIUM_PATH to run the browser test)")
	t.Skip("chromium not found (set CHROMIUM_PATH to run the browser test)")
	return ""
}

// incidents is a tiny stand-in for sitrep's timeline: it remembers which
// room message shows each incident, and "/ack N" acknowledges incident N by
// updating it.
type incidents struct {
	mu    sync.Mutex
	web   atomic.Pointer[webroom.WebRoom]
	msgID map[uint64]string
	msgs  map[uint64]adapters.Message
}

func (tl *incidents) alert(ctx context.Context, room adapters.Room, n uint64, text string) (string, error) {
	msg := adapters.Message{IncidentID: n, EventID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "CRITICAL", Text: text, Color: "red",
		Fields: map[string]string{"host": "db-1"}}
	id, err := tl.web.Load().Deliver(ctx, adapters.Delivery{Room: room, Op: adapters.OpPost, Msg: msg})
	if err != nil {
		return "", err
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.msgID[n], tl.msgs[n] = id, msg
	return id, nil
}

func (tl *incidents) handle(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
	arg, ok := strings.CutPrefix(in.Text, "/ack ")
	if !ok {
		return adapters.Reply{}, nil // chat
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(arg), "#"), 10, 64)
	if err != nil {
		return adapters.Reply{}, fmt.Errorf("usage: /ack <incident number>")
	}
	tl.mu.Lock()
	id, known := tl.msgID[n]
	msg := tl.msgs[n]
	tl.mu.Unlock()
	if !known {
		return adapters.Reply{}, fmt.Errorf("no incident #%d", n)
	}
	msg.State, msg.Color, msg.Kind = timeline.StateAcknowledged, "yellow", timeline.KindAcknowledged
	msg.Text += " (acknowledged by " + in.User + ")"
	if _, err := tl.web.Load().Deliver(ctx, adapters.Delivery{Room: adapters.Room{ID: in.RoomID}, Op: adapters.OpUpdate, Ref: id, Msg: msg}); err != nil {
		return adapters.Reply{}, err
	}
	return adapters.Reply{Text: fmt.Sprintf("incident #%d acknowledged", n), Private: true}, nil
}

// swappable lets the test restart the WebRoom behind the same address.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

func (s *swappable) set(w *webroom.WebRoom) {
	mux := http.NewServeMux()
	w.Register(mux)
	var h http.Handler = mux
	s.h.Store(&h)
}

func TestRoomPageInChromium(t *testing.T) {
	execPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	tl := &incidents{msgID: map[uint64]string{}, msgs: map[uint64]adapters.Message{}}
	opts := webroom.Options{Key: "k3y", Logger: quiet}
	web := webroom.New(db, inbox.New(db, tl.handle, inbox.Options{Logger: quiet}), opts)
	tl.web.Store(web)
	front := &swappable{}
	front.set(web)
	srv := httptest.NewServer(front)
	defer srv.Close()
	defer func() { tl.web.Load().Close() }()
	room := adapters.Room{Name: "ops", ID: "ops"}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.Flag("disable-gpu", true),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// Collect what the page says on its console: exceptions and CSP refusals fail the test.
	var consoleMu sync.Mutex
	var console []chromedp.ConsoleMessage
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			consoleMu.Lock()
			console = append(console, m)
			consoleMu.Unlock()
		}
	}()

	poll := func(what, fn string, args ...any) {
		t.Helper()
		_, err := chromedp.Run(bctx, chromedp.PollFunction[bool](fn,
			chromedp.WithPollingArgs(args...),
			chromedp.WithPollingInterval(25*time.Millisecond),
			chromedp.WithPollingTimeout(10*time.Second)))
		require.NoError(t, err, "waiting for %s", what)
	}
	const msgWithText = `(text) => [...document.querySelectorAll("#messages .msg")].some(
		(m) => m.querySelector(".text").textContent === text && m.getBoundingClientRect().height > 0)`
	const stateOf = `(id, want) => { const s = document.querySelector('#messages .msg[data-id="' + id + '"] .state');
		return s !== null && s.textContent === want; }`

	// An alert that exists before the page opens arrives with the history.
	oldID, err := tl.alert(ctx, room, 1, "db-1 is down")
	require.NoError(t, err)

	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/rooms/ops?key=k3y")))
	require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#input"))))
	poll("status connected", `() => document.querySelector("#status").textContent === "connected"`)
	title, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#room")))
	require.NoError(t, err)
	assert.Equal(t, "ops", title)
	poll("the history", msgWithText, "db-1 is down")

	// A live alert posted from Go shows up.
	id, err := tl.alert(ctx, room, 2, "disk full on db-2")
	require.NoError(t, err)
	poll("the posted alert", msgWithText, "disk full on db-2")
	state, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`.msg[data-id="`+id+`"] .state`)))
	require.NoError(t, err)
	assert.Equal(t, "triggered", state)

	// A responder acknowledges it from the page: the message changes in place.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#input"), "/ack 2"),
		chromedp.Click(chromedp.CSS("#send")),
	))
	poll("the message to be acknowledged", stateOf, id, "acknowledged")
	poll("the reply", `(text) => [...document.querySelectorAll("#messages .reply")].some((r) => r.textContent === text)`,
		"incident #2 acknowledged")
	poll("the typed line", msgWithText, "/ack 2")
	input, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#input")))
	require.NoError(t, err)
	assert.Empty(t, input, "the input is cleared after sending")
	count, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#messages .msg[data-id="`+id+`"]').length`))
	require.NoError(t, err)
	assert.Equal(t, 1, count, "updated in place, not added")

	// Enter sends too, and a line the handler fails on gets an error line.
	require.NoError(t, chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#input"), "/ack nine\r")))
	poll("the error", `(text) => [...document.querySelectorAll("#messages .error")].some((r) => r.textContent === text)`,
		"sitrep could not handle that message; it is in the server log")

	// A restart: the page says it is reconnecting, comes back, and shows the
	// history afresh (with the acknowledgement), then live messages.
	web2 := webroom.New(db, inbox.New(db, tl.handle, inbox.Options{Logger: quiet}), opts)
	front.set(web2)
	tl.web.Swap(web2).Close()
	poll("status reconnecting", `() => document.querySelector("#status").textContent === "reconnecting"`)
	poll("status connected again", `() => document.querySelector("#status").textContent === "connected"`)
	poll("the acknowledged message after reconnecting", stateOf, id, "acknowledged")
	poll("the first alert after reconnecting", stateOf, oldID, "triggered")
	_, err = tl.alert(ctx, room, 3, "api latency high")
	require.NoError(t, err)
	poll("an alert after reconnecting", msgWithText, "api latency high")
	n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages .msg").length`))
	require.NoError(t, err)
	assert.Equal(t, 5, n, "history re-rendered once: 2 alerts, 2 typed lines, 1 new alert")
	notes, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages .reply, #messages .error").length`))
	require.NoError(t, err)
	assert.Zero(t, notes, "replies and errors are cleared on reconnect")

	if p := os.Getenv("SITREP_SCREENSHOT"); p != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, png, 0o644))
	}

	consoleMu.Lock()
	defer consoleMu.Unlock()
	for _, m := range console {
		t.Logf("page console: %s", m)
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("page console: %s", m)
		}
	}
}
