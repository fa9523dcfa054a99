package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/bot"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platforms"
)

const testTimeout = 60 * time.Second

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

const (
	ingestToken = "browser-ingest-token-0001"
	adminToken  = "browser-admin-token-0002"
	roomKey     = "browser-room-key-0003"
	aliceKey    = "browser-alice-key-0004"
)

// server is a whole sitrep on a loopback port, restartable on the same
// address and data file.
type server struct {
	t      *testing.T
	cfg    string
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func (s *server) start() {
	s.t.Helper()
	cfg, err := config.Parse([]byte(s.cfg), "browser.yaml", func(string) string { return "" }, platforms.All().Config()...)
	require.NoError(s.t, err)
	b, err := bot.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(s.t, err)
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(s.t, err)
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- b.Run(ctx, ln) }()
	require.Eventually(s.t, func() bool {
		resp, err := http.Get(s.url("/readyz"))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
}

func (s *server) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func (s *server) alert(fields map[string]string) {
	s.t.Helper()
	body, err := json.Marshal(fields)
	require.NoError(s.t, err)
	req, err := http.NewRequest(http.MethodPost, s.url("/v1/alerts"), bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	_ = resp.Body.Close()
	require.Equal(s.t, http.StatusAccepted, resp.StatusCode)
}

// browser is one tab, with helpers that wait on its DOM.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// poll waits until fn (a JavaScript function of args) returns true.
func (b browser) poll(what, fn string, args ...any) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.PollFunction[bool](fn,
		chromedp.WithPollingArgs(args...),
		chromedp.WithPollingInterval(25*time.Millisecond),
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(b.t, err, "waiting for %s", what)
}

func (b browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	require.NoError(b.t, err, js)
	return v
}

// setValue sets an input's value as typing would, input event included.
func (b browser) setValue(css, v string) {
	b.t.Helper()
	b.eval(`(() => { const e = document.querySelector(` + jsString(css) + `); e.value = ` + jsString(v) + `; e.dispatchEvent(new Event("input")); return ""; })()`)
}

func (b browser) count(css string) int {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(css)+`).length`))
	require.NoError(b.t, err, css)
	return v
}

func (b browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

// shot saves a screenshot of the whole page as dir/name.png.
func (b browser) shot(dir, name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The DOM questions the test asks.
const (
	msgWithText = `(text) => [...document.querySelectorAll("#messages .msg .text")].some((m) => m.textContent.includes(text) && m.getBoundingClientRect().height > 0)`
	noteWith    = `(cls, text) => [...document.querySelectorAll("#messages ." + cls)].some((r) => r.textContent.includes(text))`
	cardOf      = `(id) => [...document.querySelectorAll("#messages .msg")].find((m) => { const a = m.querySelector(".incident"); return a && a.textContent === "#" + id && m.querySelector(".actions, .state.acknowledged, .state.resolved, .state.triggered"); })`
)

func TestRoomPageInChromium(t *testing.T) {
	execPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shots, err := os.MkdirTemp("", "sitrep-browsertest-")
	require.NoError(t, err)
	fmt.Fprintln(os.Stderr, "browsertest: screenshots in", shots)
	t.Log("screenshots in", shots)

	srv := &server{t: t, cfg: fmt.Sprintf(`listen: 127.0.0.1:0
data: %s
ingest_token: %s
admin_token: %s
default_room: ops
web:
  key: %s
  users:
    alice: {key: %s}
rooms:
  - {name: ops, platform: webroom, display_name: Operations}
`, filepath.Join(t.TempDir(), "sitrep.db"), ingestToken, adminToken, roomKey, aliceKey)}
	srv.start()
	defer srv.stop()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1100, 900),
	)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// Collect what the pages say on their consoles: exceptions and CSP refusals fail the test.
	var consoleMu sync.Mutex
	var console []chromedp.ConsoleMessage
	watch := func(ctx context.Context) {
		messages := chromedp.Console(ctx)
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
	}
	watch(bctx)
	alice := browser{t, bctx}

	// alice opens the room with her own key: the room's display name, her
	// verified name, and, the room being empty, how to send a first alert.
	alice.do(chromedp.Navigate(srv.url("/rooms/ops?key=" + aliceKey)))
	alice.do(chromedp.WaitVisible(chromedp.CSS("#input")))
	alice.poll("status connected", `() => document.querySelector("#status").textContent === "connected"`)
	assert.Equal(t, "Operations", alice.eval(`document.querySelector("#room").textContent`))
	assert.Equal(t, "alice", alice.eval(`document.querySelector("#me-name").textContent`))
	hint := alice.eval(`document.querySelector("#messages .empty").textContent`)
	assert.Contains(t, hint, srv.url("/v1/alerts"), "an empty room says how to send a first alert")
	assert.Contains(t, hint, `-H "Authorization: Bearer $SITREP_INGEST_TOKEN"`, "in a command a shell runs as shown")
	alice.shot(shots, "1-empty-room")

	// An alert arrives: its card has the buttons, the open list has it.
	srv.alert(map[string]string{"message_type": "CRITICAL", "entity_id": "db-1", "entity_display_name": "db-1 disk full", "state_message": "97% used on /var", "host": "db-1.example.com"})
	alice.poll("the card", msgWithText, "#1 triggered CRITICAL: db-1 disk full — 97% used on /var")
	assert.Zero(t, alice.count("#messages .empty"), "the hint goes once there is a message")
	card := "(" + cardOf + ")(1)"
	assert.Equal(t, "Acknowledge,Resolve", alice.eval(`[...(`+card+`).querySelectorAll(".actions button")].map((b) => b.textContent).join()`))
	assert.Equal(t, "", alice.eval(`(`+card+`).querySelector(".title") ? "shown" : ""`), "the title is in the sentence: not said twice")
	assert.Equal(t, "entity_id,host", alice.eval(`[...(`+card+`).querySelectorAll(".fields dt")].map((d) => d.textContent).join()`),
		"the fields list what the sentence does not say")
	alice.poll("the open list", `() => { const l = document.querySelector("#open-list li[data-id='1']"); return l && l.textContent.includes("triggered") && l.textContent.includes("db-1 disk full"); }`)

	// alice presses Acknowledge: the card changes in place to say so and by whom.
	alice.do(chromedp.Click(chromedp.CSS(`#messages .msg .actions button.ack`)))
	alice.poll("the card to say it is acknowledged", `() => { const c = `+card+`; return c && c.querySelector(".state").textContent === "acknowledged" && c.querySelector(".text").textContent.startsWith("#1 acknowledged by alice"); }`)
	assert.Equal(t, "Resolve", alice.eval(`[...(`+card+`).querySelectorAll(".actions button")].map((b) => b.textContent).join()`), "only Resolve is left")
	alice.poll("the reply to the press", noteWith, "reply", "acknowledged #1: db-1 disk full")
	alice.poll("who acked in the open list", `() => { const l = document.querySelector("#open-list li[data-id='1']"); return l && l.textContent.includes("acked by alice") && l.querySelector(".state").textContent === "acknowledged"; }`)
	assert.Equal(t, 1, alice.count(`#messages .msg.kind-triggered`), "updated in place, not added")

	// A line about the incident gets a quiet confirmation.
	alice.do(chromedp.SendKeys(chromedp.CSS("#input"), "#1 looking at it\r"))
	alice.poll("the typed line", msgWithText, "#1 looking at it")
	alice.poll("the quiet confirmation", noteWith, "reply", "on #1's timeline")
	assert.Empty(t, alice.eval(`document.querySelector("#input").value`), "the input is cleared once the line is stored")
	assert.Equal(t, "alice", alice.eval(`[...document.querySelectorAll("#messages .msg.chat .user")].pop().textContent`))

	// A line over the server's limit in bytes (2,000 CJK characters are
	// about 6 KB) is not sent: it stays in the input, with the reason.
	long := strings.Repeat("障", 2000)
	alice.setValue("#input", long)
	alice.do(chromedp.Click(chromedp.CSS("#send")))
	alice.poll("the reason", `() => document.querySelector("#input-note").textContent.includes("bytes as sent, the limit is 4096")`)
	assert.Equal(t, long, alice.eval(`document.querySelector("#input").value`), "the refused text stays in the input")
	assert.Equal(t, "connected", alice.eval(`document.querySelector("#status").textContent`), "and the connection with it")
	alice.shot(shots, "2-acknowledged-and-refused-line")
	alice.setValue("#input", "")

	// Someone with the room key only chooses a name: sitrep's own is
	// refused by the server, the text staying put; any other is shown unverified.
	tab, cancelTab := chromedp.NewContext(bctx)
	defer cancelTab()
	watch(tab)
	bob := browser{t, tab}
	bob.do(chromedp.Navigate(srv.url("/rooms/ops?key=" + roomKey)))
	bob.poll("status connected", `() => document.querySelector("#status").textContent === "connected"`)
	bob.poll("the history", msgWithText, "#1 looking at it")
	bob.poll("the open list", `() => document.querySelector("#open-list").textContent.includes("acked by alice")`)
	bob.do(chromedp.SendKeys(chromedp.CSS("#name"), "sitrep"), chromedp.SendKeys(chromedp.CSS("#input"), "all clear\r"))
	bob.poll("the refusal", `() => document.querySelector("#input-note").textContent.includes("is sitrep's own")`)
	assert.Equal(t, "all clear", bob.eval(`document.querySelector("#input").value`), "a line the server refuses stays in the input")
	bob.setValue("#name", "")
	bob.do(chromedp.SendKeys(chromedp.CSS("#name"), "bob"), chromedp.Click(chromedp.CSS("#send")))
	alice.poll("bob's line, marked", `() => [...document.querySelectorAll("#messages .msg.chat .user.unverified")].some((u) => u.textContent === "bob (unverified)")`)
	bob.poll("bob's input cleared", `() => document.querySelector("#input").value === ""`)

	// A restart: the page reconnects and keeps what it showed, notices included.
	msgs, notes := alice.count("#messages .msg"), alice.count("#messages .reply, #messages .error")
	srv.stop()
	alice.poll("status reconnecting", `() => document.querySelector("#status").textContent === "reconnecting"`)
	srv.start()
	alice.poll("status connected again", `() => document.querySelector("#status").textContent === "connected"`)
	alice.poll("the acknowledged card after reconnecting", `() => { const c = `+card+`; return c && c.querySelector(".state").textContent === "acknowledged"; }`)
	assert.Equal(t, msgs, alice.count("#messages .msg"), "the history is shown once, not twice, and not wiped")
	assert.Equal(t, notes, alice.count("#messages .reply, #messages .error"), "replies and errors stay after a reconnect")
	srv.alert(map[string]string{"message_type": "WARNING", "entity_id": "api", "entity_display_name": "api latency high"})
	alice.poll("an alert after reconnecting", msgWithText, "api latency high")
	assert.Contains(t, alice.eval(`document.querySelector("#messages > li:last-child").textContent`), "api latency high",
		"the newest message comes last, after the replies shown before it")
	alice.poll("both in the open list", `() => document.querySelectorAll("#open-list li").length === 2`)
	alice.shot(shots, "3-after-restart")

	// The incident's link opens its page: state, who, rooms, the timeline with origins.
	assert.Equal(t, "/incidents/1?key="+aliceKey, alice.eval(`(() => { const a = document.querySelector("#open-list li[data-id='1'] a"); return a.pathname + a.search; })()`),
		"the link carries the page's key")
	alice.do(chromedp.Click(chromedp.CSS(`#open-list li[data-id="1"] a`)), chromedp.WaitVisible(chromedp.CSS("#incident-state")))
	assert.Equal(t, "/incidents/1", alice.eval(`location.pathname`))
	assert.Equal(t, "acknowledged", alice.eval(`document.querySelector("#incident-state").textContent`))
	assert.Contains(t, alice.eval(`document.querySelector("#acknowledged").textContent`), "by alice")
	assert.Equal(t, "ops", alice.eval(`document.querySelector("#rooms a").textContent`))
	rows := alice.eval(`[...document.querySelectorAll("#timeline tbody tr")].map((r) => r.textContent.replace(/\s+/g, " ").trim()).join("\n")`)
	assert.Contains(t, rows, "triggered")
	assert.Contains(t, rows, "acknowledged alice · webroom #ops")
	assert.Contains(t, rows, "chat alice · webroom #ops looking at it")
	assert.NotEmpty(t, alice.eval(`document.querySelector("#status-pages").textContent`))
	alice.shot(shots, "4-incident-page")

	// A room that is not there is a readable page.
	alice.do(chromedp.Navigate(srv.url("/rooms/nope?key=" + roomKey)))
	assert.Equal(t, "No such room", alice.eval(`document.querySelector("#notice-title").textContent`))
	alice.shot(shots, "5-no-such-room")

	consoleMu.Lock()
	defer consoleMu.Unlock()
	for _, m := range console {
		t.Logf("page console: %s", m)
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("page console: %s", m)
		}
	}
}
