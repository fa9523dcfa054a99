package hipchat_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	"github.com/sitrep/sitrep/logtest"
	"github.com/sitrep/sitrep/timeline"
)

const (
	tokA     = "room-a-token-secret-1111"
	tokB     = "room-b-token-secret-2222"
	tokSrv   = "server-wide-token-secret-3333"
	roomA    = "101"
	roomB    = "202"
	noTokRm  = "303"
	waitLong = 5 * time.Second
)

type fixture struct {
	hc   *hipchattest.Server
	c    *hipchat.Client
	logs *logtest.Buffer
}

func newFixture(t *testing.T, opts hipchat.Options) *fixture {
	t.Helper()
	hc := hipchattest.New(t)
	hc.AddRoom(roomA, tokA)
	hc.AddRoom(roomB, tokB)
	hc.AddRoom(noTokRm, tokSrv)
	logs := &logtest.Buffer{}
	if opts.BaseURL == "" {
		opts.BaseURL = hc.URL()
	}
	opts.Logger = logs.Logger(slog.LevelDebug)
	return &fixture{hc: hc, c: hipchat.New(opts), logs: logs}
}

var (
	rA = adapters.Room{Name: "pay", ID: roomA, Token: tokA}
	rB = adapters.Room{Name: "db", ID: roomB, Token: tokB}
)

// The adapter, the Inbounds its webhook yields and sitrep's rooms all name
// the platform the same way, and it claims nothing HipChat cannot do.
func TestPlatform(t *testing.T) {
	c := hipchat.New(hipchat.Options{})
	in, err := hipchat.ParseWebhook([]byte(goodHook))
	require.NoError(t, err)
	assert.Equal(t, c.Platform(), in.Platform, "an Inbound names the adapter's platform")
	assert.Equal(t, hipchat.Platform, c.Platform())
	assert.Equal(t, "hipchat", c.Platform(), "rooms name the platform \"hipchat\"")
	assert.Equal(t, hipchat.Platform, hipchat.Descriptor().Name)
	assert.Equal(t, adapters.Capabilities{}, c.Capabilities(), "HipChat cannot edit, thread, show buttons or reply privately")
}

// Deliver posts a post, and a reply too (HipChat has no threads, and the
// outbox sends it none, but a reply that reaches it still shows).
func TestDeliver(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    adapters.Delivery
	}{
		{"post", adapters.Delivery{Op: adapters.OpPost, Msg: adapters.Message{Text: "#1 triggered"}, Key: "pay:1"}},
		{"reply", adapters.Delivery{Op: adapters.OpReply, Ref: "hipchat:" + roomA + ":1", Msg: adapters.Message{Text: "#1 note"}, Key: "pay:2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, hipchat.Options{})
			tc.d.Room = rA
			id, err := f.c.Deliver(context.Background(), tc.d)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(id, "hipchat:"+roomA+":"), id)
			assert.NotEqual(t, tc.d.Ref, id)
			got := f.hc.Messages(roomA)
			require.Len(t, got, 1)
			assert.Equal(t, tc.d.Msg.Text, got[0].Message)
		})
	}
}

func TestPost(t *testing.T) {
	tests := []struct {
		name       string
		msg        adapters.Message
		wantText   string
		wantColor  string
		wantNotify bool
	}{
		{"triggered", adapters.Message{Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "Checkout 500s", Text: "#1 triggered CRITICAL: Checkout 500s"},
			"#1 triggered CRITICAL: Checkout 500s", "red", true},
		{"acknowledged", adapters.Message{Kind: timeline.KindAcknowledged, State: timeline.StateAcknowledged, Text: "#1 acknowledged by ann"}, "#1 acknowledged by ann", "yellow", false},
		{"resolved", adapters.Message{Kind: timeline.KindResolved, State: timeline.StateResolved, Text: "#1 resolved"}, "#1 resolved", "green", false},
		{"explicit color wins", adapters.Message{Kind: timeline.KindNote, State: timeline.StateTriggered, Color: "purple", Text: "note"}, "note", "purple", false},
		{"html is escaped", adapters.Message{Text: `<script>alert("x")</script> & @all`}, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; @all", "gray", false},
		{"title when there is no text", adapters.Message{Title: "Disk full"}, "Disk full", "gray", false},
		{"title not repeated", adapters.Message{Title: "Disk full", Text: "#2 triggered: Disk full"}, "#2 triggered: Disk full", "gray", false},
		{"fields sorted", adapters.Message{Text: "t", Fields: map[string]string{"b": "2", "a": "1"}}, "t<br>a: 1<br>b: 2", "gray", false},
		{"digest with a trigger notifies", adapters.Message{Kind: adapters.KindDigest, Text: "3 events", Digest: []adapters.Message{{Kind: timeline.KindNote}, {Kind: timeline.KindTriggered}}},
			"3 events", "gray", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, hipchat.Options{})
			id, err := f.c.Post(context.Background(), rA, tt.msg)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(id, "hipchat:"+roomA+":"), id)
			got := f.hc.Messages(roomA)
			require.Len(t, got, 1)
			assert.Equal(t, tt.wantText, got[0].Message)
			assert.Equal(t, tt.wantColor, got[0].Color)
			assert.Equal(t, tt.wantNotify, got[0].Notify)
			assert.Equal(t, "html", got[0].Format)
			assert.Equal(t, "sitrep", got[0].From)
			assert.Equal(t, tokA, got[0].Token)
			assert.Empty(t, f.hc.Messages(roomB))
		})
	}
}

func TestColor(t *testing.T) {
	tests := []struct {
		color string
		state timeline.State
		want  string
	}{
		{"", "triggered", "red"},
		{"", "acknowledged", "yellow"},
		{"", "resolved", "green"},
		{"", "", "gray"},
		{"", "weird", "gray"},
		{"red", "resolved", "red"},
		{"Green", "", "green"},
		{"grey", "", "gray"},
		{"purple", "", "purple"},
		{"random", "", "random"},
		{"orange", "resolved", "green"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hipchat.Color(adapters.Message{Color: tt.color, State: tt.state}), "%+v", tt)
	}
}

func TestPerRoomTokens(t *testing.T) {
	f := newFixture(t, hipchat.Options{Token: tokSrv})
	ctx := context.Background()
	_, err := f.c.Post(ctx, rA, adapters.Message{Text: "to a"})
	require.NoError(t, err)
	_, err = f.c.Post(ctx, rB, adapters.Message{Text: "to b"})
	require.NoError(t, err)
	a, b := f.hc.Messages(roomA), f.hc.Messages(roomB)
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	assert.Equal(t, "to a", a[0].Message)
	assert.Equal(t, tokA, a[0].Token)
	assert.Equal(t, "to b", b[0].Message)
	assert.Equal(t, tokB, b[0].Token)

	// A room's token is good for that room only; the server-wide one is not
	// tried when a room has its own.
	for _, room := range []adapters.Room{{ID: roomA, Token: tokB}, {ID: roomB, Token: tokA}} {
		_, err := f.c.Post(ctx, room, adapters.Message{Text: "swapped"})
		require.Error(t, err)
		assert.True(t, adapters.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), "401")
		_, limited := adapters.RetryAfter(err)
		assert.False(t, limited)
	}
	assert.Len(t, f.hc.Messages(roomA), 1)
	assert.Len(t, f.hc.Messages(roomB), 1)
}

func TestFallbackAndMissingToken(t *testing.T) {
	f := newFixture(t, hipchat.Options{Token: tokSrv})
	_, err := f.c.Post(context.Background(), adapters.Room{Name: "srv", ID: noTokRm}, adapters.Message{Text: "fallback"})
	require.NoError(t, err)
	got := f.hc.Messages(noTokRm)
	require.Len(t, got, 1)
	assert.Equal(t, tokSrv, got[0].Token)

	f = newFixture(t, hipchat.Options{})
	_, err = f.c.Post(context.Background(), adapters.Room{Name: "lonely", ID: noTokRm}, adapters.Message{Text: "x"})
	require.Error(t, err)
	assert.True(t, adapters.IsPermanent(err))
	assert.Contains(t, err.Error(), "no token for room lonely")
	assert.Empty(t, f.hc.Messages(noTokRm))
}

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		name      string
		room      adapters.Room
		msg       adapters.Message
		fail      int // FailNext(1, fail) when not 0
		permanent bool
		after     time.Duration // a RetryAfterError's wait, when not 0
		contains  string
	}{
		{"unknown room", adapters.Room{ID: "999", Token: tokA}, adapters.Message{Text: "x"}, 0, true, 0, "Room not found"},
		{"bad token", adapters.Room{ID: roomA, Token: "nope-not-a-token"}, adapters.Message{Text: "x"}, 0, true, 0, "401"},
		{"400", rA, adapters.Message{Text: "x"}, http.StatusBadRequest, true, 0, "injected failure"},
		{"403", rA, adapters.Message{Text: "x"}, http.StatusForbidden, true, 0, "403"},
		{"429", rA, adapters.Message{Text: "x"}, http.StatusTooManyRequests, false, time.Second, "429"},
		{"500", rA, adapters.Message{Text: "x"}, http.StatusInternalServerError, false, 0, "500"},
		{"503", rA, adapters.Message{Text: "x"}, http.StatusServiceUnavailable, false, 0, "503"},
		{"empty message", rA, adapters.Message{}, 0, true, 0, "empty message"},
		{"no room id", adapters.Room{Name: "x", Token: tokA}, adapters.Message{Text: "x"}, 0, true, 0, "no HipChat room id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, hipchat.Options{})
			if tt.fail != 0 {
				f.hc.FailNext(1, tt.fail)
			}
			_, err := f.c.Post(context.Background(), tt.room, tt.msg)
			require.Error(t, err)
			assert.Equal(t, tt.permanent, adapters.IsPermanent(err), "%v", err)
			after, limited := adapters.RetryAfter(err)
			assert.Equal(t, tt.after != 0, limited, "%v", err)
			assert.Equal(t, tt.after, after)
			assert.Contains(t, err.Error(), tt.contains)
			if tt.fail != 0 { // the failure was one-off: the next post goes through
				_, err := f.c.Post(context.Background(), tt.room, adapters.Message{Text: "again"})
				require.NoError(t, err)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, hipchat.Options{})
	f.hc.SetLimit(3, time.Minute)
	ctx := context.Background()
	for i := range 3 {
		_, err := f.c.Post(ctx, rA, adapters.Message{Text: "ok"})
		require.NoError(t, err, i)
	}
	_, err := f.c.Post(ctx, rA, adapters.Message{Text: "too many"})
	require.Error(t, err)
	after, ok := adapters.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.False(t, adapters.IsPermanent(err))
	// 3 a minute is one back every 20 s; X-FloodControl-Reset is whole seconds.
	assert.InDelta(t, 20, after.Seconds(), 1.01)
	assert.Contains(t, err.Error(), "flood control")
	assert.Equal(t, 1, f.hc.Count429())
	// The limit is per room.
	_, err = f.c.Post(ctx, rB, adapters.Message{Text: "other room"})
	require.NoError(t, err)
	assert.Len(t, f.hc.Messages(roomA), 3)
}

// A 429's wait reaches the adapter's caller whole: the header parsing itself
// is tested in ratelimit_test.go.
func TestRetryAfterReachesTheCaller(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := hipchat.New(hipchat.Options{BaseURL: srv.URL})
	_, err := c.Post(context.Background(), rA, adapters.Message{Text: "x"})
	after, ok := adapters.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 7*time.Second, after)
	assert.False(t, adapters.IsPermanent(err))
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c := hipchat.New(hipchat.Options{BaseURL: base})
	_, err := c.Post(context.Background(), rA, adapters.Message{Text: "x"})
	require.Error(t, err)
	assert.False(t, adapters.IsPermanent(err))
	_, limited := adapters.RetryAfter(err)
	assert.False(t, limited)
	assert.NotContains(t, err.Error(), tokA)
}

func TestContextIsHonoured(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c := hipchat.New(hipchat.Options{BaseURL: srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Post(ctx, rA, adapters.Message{Text: "x"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, time.Since(start), waitLong)
}

func TestLongMessageIsCut(t *testing.T) {
	tests := []struct {
		name string
		text string
		cut  bool
	}{
		{"exactly the limit", strings.Repeat("a", hipchat.MaxMessage), false},
		{"one over", strings.Repeat("a", hipchat.MaxMessage+1), true},
		{"escapes near the end", strings.Repeat("a", hipchat.MaxMessage-3) + "<<<", true},
		{"multibyte", strings.Repeat("é", 20000), true},
		{"astral", strings.Repeat("🔥", 6000), true},
		{"newlines", strings.Repeat("a\n", 6000), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, hipchat.Options{})
			_, err := f.c.Post(context.Background(), rA, adapters.Message{Text: tt.text})
			require.NoError(t, err)
			got := f.hc.Messages(roomA)
			require.Len(t, got, 1)
			m := got[0].Message
			assert.LessOrEqual(t, utf8.RuneCountInString(m), hipchat.MaxMessage)
			assert.Equal(t, tt.cut, strings.HasSuffix(m, "…"))
			assert.True(t, utf8.ValidString(m))
			if tt.cut {
				// never cut inside an escape
				tail := m[max(0, len(m)-12):]
				if i := strings.LastIndexByte(tail, '&'); i >= 0 {
					assert.Contains(t, tail[i:], ";", "an entity is cut: %q", tail)
				}
				if i := strings.LastIndexByte(tail, '<'); i >= 0 {
					assert.Contains(t, tail[i:], ">", "a tag is cut: %q", tail)
				}
			}
		})
	}
}

func TestUpdatePostsANewNotification(t *testing.T) {
	f := newFixture(t, hipchat.Options{})
	ctx := context.Background()
	id, err := f.c.Post(ctx, rA, adapters.Message{Kind: timeline.KindTriggered, State: timeline.StateTriggered, Text: "#1 triggered CRITICAL: Disk"})
	require.NoError(t, err)
	id2, err := f.c.Post(ctx, rA, adapters.Message{Text: "second"})
	require.NoError(t, err)
	assert.NotEqual(t, id, id2)

	require.NoError(t, f.c.Update(ctx, rA, id, adapters.Message{Kind: timeline.KindResolved, State: timeline.StateResolved, Text: "#1 triggered CRITICAL: Disk"}))
	got := f.hc.Messages(roomA)
	require.Len(t, got, 3)
	assert.Equal(t, "update: [resolved] #1 triggered CRITICAL: Disk", got[2].Message)
	assert.Equal(t, "green", got[2].Color)
	assert.False(t, got[2].Notify, "an update never notifies")

	for _, bad := range []struct {
		room adapters.Room
		id   string
	}{{rA, "42"}, {rA, ""}, {rB, id}, {rA, "hipchat:" + roomA + ":x"}} {
		err := f.c.Update(ctx, bad.room, bad.id, adapters.Message{Text: "x"})
		require.Error(t, err, bad.id)
		assert.True(t, adapters.IsPermanent(err))
	}
	assert.Len(t, f.hc.Messages(roomA), 3)
	assert.Empty(t, f.hc.Messages(roomB))
}

func TestIDsAreUniqueUnderConcurrency(t *testing.T) {
	f := newFixture(t, hipchat.Options{})
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			id, err := f.c.Post(context.Background(), rA, adapters.Message{Text: "x"})
			assert.NoError(t, err)
			mu.Lock()
			seen[id] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Len(t, seen, 20)
}

func TestTokensNeverLeak(t *testing.T) {
	// A server that echoes whatever it gets into its error message.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":401,"message":"bad token: ` + r.Header.Get("Authorization") + `","type":"Unauthorized"}}`))
	}))
	defer echo.Close()

	f := newFixture(t, hipchat.Options{Token: tokSrv})
	var errs []error
	post := func(c *hipchat.Client, room adapters.Room) {
		_, err := c.Post(context.Background(), room, adapters.Message{Text: "x"})
		errs = append(errs, err)
	}
	post(f.c, adapters.Room{ID: roomA, Token: tokB})
	post(f.c, adapters.Room{ID: "nope", Token: tokA})
	post(f.c, adapters.Room{ID: roomB})
	f.hc.FailNext(1, http.StatusTooManyRequests)
	post(f.c, rA)
	f.hc.FailNext(1, http.StatusBadGateway)
	post(f.c, rA)
	errs = append(errs, f.c.Update(context.Background(), rA, "bogus", adapters.Message{Text: "x"}))
	echoC := hipchat.New(hipchat.Options{BaseURL: echo.URL, Token: tokSrv, Logger: f.logs.Logger(slog.LevelDebug)})
	post(echoC, rA)
	post(echoC, adapters.Room{ID: roomB})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	post(hipchat.New(hipchat.Options{BaseURL: closed.URL, Logger: f.logs.Logger(slog.LevelDebug)}), rA)
	post(f.c, adapters.Room{ID: roomA, Token: "bad\ntoken-with-newline-secret"})

	require.NotEmpty(t, f.logs.String())
	for _, err := range errs {
		require.Error(t, err)
		for _, tok := range []string{tokA, tokB, tokSrv, "token-with-newline-secret"} {
			assert.NotContains(t, err.Error(), tok)
		}
	}
	for _, tok := range []string{tokA, tokB, tokSrv, "token-with-newline-secret"} {
		assert.NotContains(t, f.logs.String(), tok)
	}
	assert.Contains(t, errs[6].Error(), "****", "an echoed token is masked")
}
