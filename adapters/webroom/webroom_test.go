package webroom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

func alert(n uint64, text string) adapters.Message {
	return adapters.Message{IncidentID: n, EventID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "db down", Text: text, Color: "red",
		Fields: map[string]string{"host": "db-1"}}
}

func TestPostReachesEveryClientOfTheRoomOnly(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	a, b := f.join(t, "ops"), f.join(t, "ops")
	other := f.join(t, "payments")

	msg := alert(42, "disk full on db-1")
	id := f.post(t, "ops", msg)
	assert.Equal(t, "1", id)

	for _, c := range []*client{a, b} {
		got := c.next(t)
		assert.Equal(t, FrameMessage, got.Type)
		assert.Equal(t, id, got.ID)
		assert.Equal(t, "ops", got.Room)
		require.NotNil(t, got.Message)
		assert.Equal(t, msg, *got.Message)
		ts, err := time.Parse(time.RFC3339, got.Time)
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), ts, time.Minute)
		assert.Zero(t, got.Rev)
	}

	// The other room gets its own messages and nothing of ops's.
	otherID := f.post(t, "payments", adapters.Message{Text: "sentinel"})
	got := other.next(t)
	assert.Equal(t, otherID, got.ID)
	assert.Equal(t, "sentinel", text(got))
	assert.Equal(t, "payments", got.Room)
	assert.Equal(t, "1", otherID, "each room numbers its own messages")
}

func TestPostAndUpdateRejectBadInput(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	ctx := context.Background()

	_, err := f.w.Post(ctx, adapters.Room{ID: "no spaces"}, adapters.Message{Text: "x"})
	require.Error(t, err)
	assert.True(t, adapters.IsPermanent(err))

	ops := adapters.Room{Name: "ops", ID: "ops"}
	id := f.post(t, "ops", adapters.Message{Text: "x"})
	for _, tc := range []struct {
		name string
		room adapters.Room
		id   string
	}{
		{"not a number", ops, "abc"},
		{"zero", ops, "0"},
		{"never posted", ops, "99"},
		{"other room", adapters.Room{ID: "payments"}, id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.w.Update(ctx, tc.room, tc.id, adapters.Message{Text: "y"})
			require.ErrorIs(t, err, ErrNotFound)
			assert.True(t, adapters.IsPermanent(err))
		})
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.w.Post(cancelled, ops, adapters.Message{Text: "never"})
	require.ErrorIs(t, err, context.Canceled)
	err = f.w.Update(cancelled, ops, id, adapters.Message{Text: "never"})
	require.ErrorIs(t, err, context.Canceled)
	c := f.join(t, "ops")
	assert.Equal(t, "x", text(c.next(t)), "the history holds only the one message")
	next := f.post(t, "ops", adapters.Message{Text: "after"})
	assert.Equal(t, "2", next, "the cancelled post took no sequence")
	assert.Equal(t, "after", text(c.next(t)))
}

func TestUpdateChangesMessageInPlaceAndInHistory(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.join(t, "ops")
	id := f.post(t, "ops", alert(7, "db-1 down"))
	require.Equal(t, id, c.next(t).ID)

	acked := alert(7, "db-1 down (acknowledged by alice)")
	acked.Kind, acked.State = timeline.KindAcknowledged, timeline.StateAcknowledged
	acked.Color = "yellow"
	require.NoError(t, f.w.Update(context.Background(), adapters.Room{ID: "ops"}, id, acked))

	got := c.next(t)
	assert.Equal(t, FrameUpdate, got.Type)
	assert.Equal(t, id, got.ID)
	assert.Equal(t, uint64(1), got.Rev)
	require.NotNil(t, got.Message)
	assert.Equal(t, acked, *got.Message)

	late := f.join(t, "ops")
	hist := late.next(t)
	assert.Equal(t, FrameMessage, hist.Type)
	assert.Equal(t, id, hist.ID)
	assert.Equal(t, uint64(1), hist.Rev)
	assert.Equal(t, acked, *hist.Message)
}

func TestLateJoinerGetsBoundedHistoryThenLiveMessages(t *testing.T) {
	for _, tc := range []struct {
		history, posted int
		want            []string
	}{
		{history: 3, posted: 5, want: []string{"m3", "m4", "m5"}},
		{history: 10, posted: 2, want: []string{"m1", "m2"}},
		{history: -1, posted: 2, want: nil},
	} {
		t.Run(fmt.Sprintf("history %d of %d", tc.history, tc.posted), func(t *testing.T) {
			f := newFixture(t, Options{History: tc.history}, nil)
			for i := 1; i <= tc.posted; i++ {
				f.post(t, "ops", adapters.Message{Text: "m" + strconv.Itoa(i)})
			}
			c := f.join(t, "ops")
			var got []string
			for range tc.want {
				fr := c.next(t)
				assert.Equal(t, FrameMessage, fr.Type)
				got = append(got, text(fr))
			}
			assert.Equal(t, tc.want, got)
			// The next frame is the live one: no more history, no repeat.
			f.post(t, "ops", adapters.Message{Text: "live"})
			fr := c.next(t)
			assert.Equal(t, "live", text(fr))
			assert.Equal(t, strconv.Itoa(tc.posted+1), fr.ID)
		})
	}
}

func TestHistorySurvivesReopeningTheDB(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	id1 := f.post(t, "ops", alert(1, "first"))
	id2 := f.post(t, "ops", alert(2, "second"))
	require.NoError(t, f.w.Update(context.Background(), adapters.Room{ID: "ops"}, id1, adapters.Message{Text: "first, resolved", Kind: timeline.KindResolved, State: timeline.StateResolved}))
	f.srv.Close()
	f.w.Close()
	require.NoError(t, f.db.Close())

	db, err := storage.Open(f.path, storage.Options{})
	require.NoError(t, err)
	f.db = db // closed by the first fixture's cleanup
	f.w = New(db, nil, Options{Logger: f.w.opts.Logger})
	mux := http.NewServeMux()
	f.w.Register(mux)
	f.srv = httptest.NewServer(mux) // closed by the first fixture's cleanup

	c := f.join(t, "ops")
	a, b := c.next(t), c.next(t)
	assert.Equal(t, []string{id1, id2}, []string{a.ID, b.ID})
	assert.Equal(t, "first, resolved", text(a))
	assert.Equal(t, timeline.StateResolved, a.State)
	assert.Equal(t, uint64(1), a.Rev)
	assert.Equal(t, "second", text(b))
	assert.Equal(t, "3", f.post(t, "ops", adapters.Message{Text: "third"}), "sequence continues after reopening")
}

func TestRoomLogIsTrimmed(t *testing.T) {
	f := newFixture(t, Options{History: 100}, nil)
	f.w.maxLog = 3
	var last string
	for i := 1; i <= 5; i++ {
		last = f.post(t, "ops", adapters.Message{Text: "m" + strconv.Itoa(i)})
	}
	hist, seq, err := f.w.history("ops", 100)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), seq)
	var ids []string
	for _, fr := range hist {
		ids = append(ids, fr.ID)
	}
	assert.Equal(t, []string{"3", "4", "5"}, ids)
	assert.Equal(t, "5", last)
	err = f.w.Update(context.Background(), adapters.Room{ID: "ops"}, "1", adapters.Message{Text: "gone"})
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestInboundLineGoesToHandlerAndReplyToSenderOnly(t *testing.T) {
	f := newFixture(t, Options{}, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "noted on #42, " + in.User, Private: true}, nil
	})
	sender, other := f.join(t, "ops"), f.join(t, "ops")

	sender.say(t, "alice", "  #42 hi ")
	echo := sender.next(t)
	assert.Equal(t, FrameMessage, echo.Type)
	assert.Equal(t, "#42 hi", text(echo))
	assert.Equal(t, "alice (unverified)", echo.User, "a name the client chose is shown as such")
	assert.Equal(t, KindChat, echo.Kind)

	var in adapters.Inbound
	select {
	case in = <-f.inbound:
	case <-time.After(waitFrame):
		t.Fatal("handler was not called")
	}
	assert.WithinDuration(t, time.Now(), in.Time, time.Minute)
	in.Time = time.Time{}
	assert.Equal(t, adapters.Inbound{Platform: "webroom", RoomID: "ops", User: "alice (unverified)", Unverified: true, Text: "#42 hi", MessageID: echo.ID}, in)

	reply := sender.next(t)
	assert.Equal(t, FrameReply, reply.Type)
	assert.Equal(t, "noted on #42, alice (unverified)", text(reply))
	assert.Empty(t, reply.ID)

	// The other client sees the line, but not the reply: the next thing it gets is the sentinel.
	assert.Equal(t, echo.ID, other.next(t).ID)
	f.post(t, "ops", adapters.Message{Text: "sentinel"})
	assert.Equal(t, "sentinel", text(other.next(t)))
	assert.Equal(t, "sentinel", text(sender.next(t)))
}

func TestInboundUserNames(t *testing.T) {
	f := newFixture(t, Options{Key: "shared", Users: map[string]string{"alice": "alice-key", "carol": "carol-key"}}, nil)
	for i, tc := range []struct{ name, key, user, want string }{
		{"chosen", "shared", "bob", "bob (unverified)"},
		{"control characters dropped", "shared", "b\x00o\nb", "bob (unverified)"},
		{"too long cut", "shared", strings.Repeat("é", 80), strings.Repeat("é", maxUserRunes) + " (unverified)"},
		{"none given", "shared", "", "web-"},
		{"blank", "shared", "   ", "web-"},
		{"a user's name, chosen without the user's key", "shared", "alice", "alice (unverified)"},
		{"a user's key", "alice-key", "", "alice"},
		{"a user's key names its holder, whatever the client says", "carol-key", "sitrep", "carol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.joinWith(t, "names-"+strconv.Itoa(i), "key="+tc.key) // a room with no history
			c.say(t, tc.user, "hello")
			got := c.next(t)
			if tc.want == "web-" {
				assert.Regexp(t, `^web-[0-9a-f]{6} \(unverified\)$`, got.User)
			} else {
				assert.Equal(t, tc.want, got.User)
			}
			in := <-f.inbound
			assert.Equal(t, got.User, in.User)
			assert.Equal(t, !strings.HasSuffix(tc.key, "-key"), in.Unverified, "the timeline learns whether the name is vouched for")
			if strings.HasSuffix(tc.key, "-key") {
				assert.Equal(t, tc.want, in.UserID, "a user's key makes their name an ID sitrep can grant rights to")
			} else {
				assert.Empty(t, in.UserID)
			}
		})
	}
}

func TestUserKeysOpenTheRooms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		query  string
		status int
	}{
		{"a user's key, with a shared key set", Options{Key: "shared", Users: map[string]string{"alice": "alice-key"}}, "key=alice-key", http.StatusSwitchingProtocols},
		{"the shared key", Options{Key: "shared", Users: map[string]string{"alice": "alice-key"}}, "key=shared", http.StatusSwitchingProtocols},
		{"no key, with a shared key set", Options{Key: "shared", Users: map[string]string{"alice": "alice-key"}}, "", http.StatusUnauthorized},
		{"open rooms: a user's key", Options{Users: map[string]string{"alice": "alice-key"}}, "key=alice-key", http.StatusSwitchingProtocols},
		{"open rooms: no key", Options{Users: map[string]string{"alice": "alice-key"}}, "", http.StatusSwitchingProtocols},
		{"open rooms: a mistyped user key is refused, not shown as unverified", Options{Users: map[string]string{"alice": "alice-key"}}, "key=alice-kye", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts, nil)
			c, resp, err := f.dial("ops", tc.query, nil)
			require.NotNil(t, resp)
			assert.Equal(t, tc.status, resp.StatusCode)
			if err == nil {
				_ = c.ws.Close()
			}
		})
	}
}

func TestChatRateIsLimitedPerRoomAndPerAddress(t *testing.T) {
	// Rates this slow refill nothing during the test: only the bursts count.
	t.Run("per room, over all its connections", func(t *testing.T) {
		f := newFixture(t, Options{RoomRatePerSec: 1e-9, RoomBurst: 3}, nil)
		a, b, other := f.join(t, "ops"), f.join(t, "ops"), f.join(t, "dev")
		for _, l := range []struct {
			c    *client
			line string
		}{{a, "one"}, {b, "two"}, {a, "three"}} {
			l.c.say(t, "x", l.line)
			for text(l.c.next(t)) != l.line { // stored before the next is sent
			}
		}
		var errs []string
		for range 3 {
			b.sendText(t, `{"text":"flood","user":"b","ref":"r1"}`)
		}
		for len(errs) < 3 {
			if fr := b.next(t); fr.Type == FrameError {
				assert.Equal(t, "r1", fr.Ref, "the refusal names the line it refuses")
				errs = append(errs, fr.Error)
			}
		}
		assert.Contains(t, errs[0], "this room is taking too many lines")
		other.say(t, "c", "another room is not held up")
		assert.Equal(t, "another room is not held up", text(other.next(t)))
		a.say(t, "a", "still connected")
		for {
			fr := a.next(t)
			if fr.Type == FrameError {
				assert.Contains(t, fr.Error, "too many lines", "the sender's connection stays open")
				break
			}
		}
		hist, _, err := f.w.history("ops", 100)
		require.NoError(t, err)
		assert.Len(t, hist, 3, "the room's log holds the lines within its limit only")
	})
	t.Run("per address, over all its connections and rooms", func(t *testing.T) {
		f := newFixture(t, Options{AddrRatePerSec: 1e-9, AddrBurst: 2}, nil)
		a, b := f.join(t, "ops"), f.join(t, "dev")
		a.say(t, "a", "one")
		assert.Equal(t, "one", text(a.next(t)))
		b.say(t, "a", "two")
		assert.Equal(t, "two", text(b.next(t)))
		b.say(t, "a", "three")
		fr := b.next(t)
		assert.Equal(t, FrameError, fr.Type)
		assert.Contains(t, fr.Error, "too many lines from your address")
	})
}

func TestSentFrameConfirmsALineToItsSender(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c, other := f.join(t, "ops"), f.join(t, "ops")
	c.sendText(t, `{"text":"hello","user":"bob","ref":"p-1"}`)
	sent := c.next(t)
	assert.Equal(t, Frame{Type: FrameSent, ID: "1", Ref: "p-1"}, sent)
	assert.Equal(t, "hello", text(c.next(t)))
	assert.Equal(t, "hello", text(other.next(t)), "others get the line, not the confirmation")
	c.sendText(t, `{"text":"","ref":"p-2"}`)
	refused := c.next(t)
	assert.Equal(t, FrameError, refused.Type)
	assert.Equal(t, "p-2", refused.Ref)
}

func TestHandlerErrorsAndPanicsBecomeErrorFrames(t *testing.T) {
	f := newFixture(t, Options{}, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		switch in.Text {
		case "/boom":
			panic("boom")
		case "/bad":
			return adapters.Reply{}, errors.New("usage: /ack <incident>")
		}
		return adapters.Reply{}, nil
	})
	c := f.join(t, "ops")
	for _, tc := range []struct{ line, want string }{
		{"/bad", "sitrep could not handle that message; it is in the server log"}, // the error itself is logged, not shown
		{"/boom", "sitrep could not handle that message; it is in the server log"},
	} {
		c.say(t, "alice", tc.line)
		assert.Equal(t, FrameMessage, c.next(t).Type)
		got := c.next(t)
		assert.Equal(t, FrameError, got.Type)
		assert.Equal(t, tc.want, got.Error)
	}
	// Still connected.
	c.say(t, "alice", "ok")
	assert.Equal(t, "ok", text(c.next(t)))
}

func TestBadLinesGetErrorFramesAndAreNotStored(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	c := f.join(t, "ops")
	for _, tc := range []struct{ name, frame, want string }{
		{"not JSON", "hello", "frame is not valid JSON"},
		{"JSON but not an object", `["text"]`, "frame is not valid JSON"},
		{"no text", `{"user":"alice"}`, `frame has no "text" field`},
		{"text not a string", `{"text":42}`, "frame is not valid JSON"},
		{"empty text", `{"text":"  "}`, `"text" is empty`},
		{"too long", `{"text":"` + strings.Repeat("x", maxTextRunes+1) + `"}`, "the limit is 2000"},
		{"posing as sitrep", `{"text":"all clear","user":"sitrep"}`, `"sitrep" is sitrep's own`},
		{"posing as sitrep, loosely", `{"text":"all clear","user":" SITREP. "}`, "is sitrep's own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.sendText(t, tc.frame)
			got := c.next(t)
			assert.Equal(t, FrameError, got.Type)
			assert.Contains(t, got.Error, tc.want)
		})
	}
	// The connection stays open, and nothing was stored or handed on.
	c.say(t, "alice", "fine")
	got := c.next(t)
	assert.Equal(t, "fine", text(got))
	assert.Equal(t, "1", got.ID)
	select {
	case in := <-f.inbound:
		assert.Equal(t, "fine", in.Text, "only the good line reaches the Handler")
	case <-time.After(waitFrame):
		t.Fatal("handler was not called")
	}
}

func TestRuleBreakersAreClosedWithAReason(t *testing.T) {
	f := newFixture(t, Options{MaxFrame: 1024, RatePerSec: 1, Burst: 3}, nil)
	for _, tc := range []struct {
		name   string
		send   func(t *testing.T, c *client)
		code   int
		reason string
	}{
		{"oversized frame", func(t *testing.T, c *client) {
			c.say(t, "alice", strings.Repeat("x", 2000))
		}, websocket.CloseMessageTooBig, "message exceeds 1024 bytes"},
		{"flood", func(t *testing.T, c *client) {
			for range 10 {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{}`)) != nil {
					return
				}
			}
		}, websocket.ClosePolicyViolation, "too many messages"},
		{"binary frame", func(t *testing.T, c *client) {
			require.NoError(t, c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"text":"x"}`)))
		}, websocket.CloseUnsupportedData, "binary frames are not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.join(t, "ops")
			tc.send(t, c)
			ce := c.closed(t)
			assert.Equal(t, tc.code, ce.Code)
			assert.Equal(t, tc.reason, ce.Text)
		})
	}
	// A well-behaved client is unaffected.
	c := f.join(t, "ops")
	c.say(t, "bob", "still here")
	assert.Equal(t, "still here", text(c.next(t)))
}

func TestUpgradeChecks(t *testing.T) {
	f := newFixture(t, Options{Key: "s3cret", AllowedOrigins: []string{"https://ops.example.com/"}}, nil)
	self := f.srv.URL
	for _, tc := range []struct {
		name   string
		room   string
		query  string
		header http.Header
		status int
		errMsg string
	}{
		{"no key", "ops", "", nil, http.StatusUnauthorized, "missing or wrong key"},
		{"wrong key", "ops", "key=nope", nil, http.StatusUnauthorized, "missing or wrong key"},
		{"wrong bearer", "ops", "", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized, "missing or wrong key"},
		{"key in query", "ops", "key=s3cret", nil, http.StatusSwitchingProtocols, ""},
		{"key as bearer", "ops", "", http.Header{"Authorization": {"Bearer s3cret"}}, http.StatusSwitchingProtocols, ""},
		{"same origin", "ops", "key=s3cret", http.Header{"Origin": {self}}, http.StatusSwitchingProtocols, ""},
		{"allowed origin", "ops", "key=s3cret", http.Header{"Origin": {"https://ops.example.com"}}, http.StatusSwitchingProtocols, ""},
		{"cross origin", "ops", "key=s3cret", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden, "cross-origin websocket refused: origin https://evil.example"},
		{"cross origin without key", "ops", "", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden, "cross-origin websocket refused: origin https://evil.example"},
		{"invalid room", "-ops", "key=s3cret", nil, http.StatusNotFound, "no such room"},
		{"room name too long", strings.Repeat("a", 65), "key=s3cret", nil, http.StatusNotFound, "no such room"},
		{"room name with space", "a%20b", "key=s3cret", nil, http.StatusNotFound, "no such room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := f.dial(tc.room, tc.query, tc.header)
			require.NotNil(t, resp)
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.status == http.StatusSwitchingProtocols {
				require.NoError(t, err)
				_ = c.ws.Close()
				return
			}
			require.ErrorIs(t, err, websocket.ErrBadHandshake)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			var body struct{ Error string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Contains(t, body.Error, tc.errMsg)
		})
	}
}

func TestPage(t *testing.T) {
	f := newFixture(t, Options{Key: "s3cret"}, nil)
	get := func(t *testing.T, path string, hdr http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	t.Run("served with a nonce", func(t *testing.T) {
		resp, body := get(t, "/rooms/ops?key=s3cret", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		csp := resp.Header.Get("Content-Security-Policy")
		m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]{24})'`).FindStringSubmatch(csp)
		require.NotNil(t, m, csp)
		nonce := m[1]
		assert.Contains(t, csp, "style-src 'nonce-"+nonce+"'")
		assert.Contains(t, csp, "connect-src 'self'")
		assert.NotContains(t, csp, "unsafe-inline")
		assert.Equal(t, 1, strings.Count(body, `<script nonce="`+nonce+`">`))
		assert.Equal(t, 1, strings.Count(body, `<style nonce="`+nonce+`">`))
		assert.Equal(t, 1, strings.Count(body, "<script"), "one script only")
		assert.Equal(t, 1, strings.Count(body, "<style"), "one style only")
		for _, id := range []string{"messages", "input", "send", "status"} {
			assert.Contains(t, body, `id="`+id+`"`)
		}
		assert.Contains(t, body, "<title>ops · sitrep</title>")
		assert.Contains(t, body, `<span id="room">ops</span>`)
		assert.NotRegexp(t, `(?i)(src|href)="?(https?:)?//`, body, "nothing is loaded from elsewhere")
		assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

		resp2, body2 := get(t, "/rooms/ops?key=s3cret", nil)
		require.Equal(t, http.StatusOK, resp2.StatusCode)
		assert.NotContains(t, body2, nonce, "a fresh nonce per page")
	})

	for _, tc := range []struct {
		name   string
		path   string
		hdr    http.Header
		status int
		says   string
	}{
		{"key as bearer", "/rooms/ops", http.Header{"Authorization": {"Bearer s3cret"}}, http.StatusOK, ""},
		{"no key", "/rooms/ops", nil, http.StatusUnauthorized, "This room needs its key"},
		{"wrong key", "/rooms/ops?key=x", nil, http.StatusUnauthorized, "This room needs its key"},
		{"invalid room", "/rooms/.hidden?key=s3cret", nil, http.StatusNotFound, "sitrep has no web room called .hidden."},
		{"room with a space", "/rooms/a%20b?key=s3cret", nil, http.StatusNotFound, "sitrep has no web room called a b."},
		{"a room name that is markup", "/rooms/%3Cb%3Ex?key=s3cret", nil, http.StatusNotFound, "sitrep has no web room called &lt;b&gt;x."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.path, tc.hdr)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			if tc.status != http.StatusOK {
				assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), "a browser gets a page it can show")
				assert.Contains(t, body, tc.says)
				assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'nonce-")
				assert.NotContains(t, body, "<script")
			}
		})
	}

	t.Run("a room that is not configured", func(t *testing.T) {
		f := newFixture(t, Options{Exists: func(room string) bool { return room == "ops" }}, nil)
		resp, err := f.srv.Client().Get(f.srv.URL + "/rooms/nope")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Contains(t, string(body), "<h1 id=\"notice-title\">No such room</h1>")
		assert.Contains(t, string(body), "PUT /v1/rooms/NAME")
	})
}

func TestCloseSaysGoingAway(t *testing.T) {
	f := newFixture(t, Options{}, func(ctx context.Context, _ adapters.Inbound) (adapters.Reply, error) {
		<-ctx.Done() // a Handler still running when Close's grace ends is cancelled
		return adapters.Reply{}, ctx.Err()
	})
	c := f.join(t, "ops")
	c.say(t, "alice", "/slow")
	require.Equal(t, FrameMessage, c.next(t).Type)
	<-f.inbound

	done := make(chan struct{})
	go func() { f.w.Close(); close(done) }()
	ce := c.closed(t)
	assert.Equal(t, websocket.CloseGoingAway, ce.Code)
	assert.Equal(t, "server shutting down", ce.Text)
	select {
	case <-done:
	case <-time.After(waitFrame):
		t.Fatal("Close did not return")
	}

	// After Close, Post still stores, and new connections are turned away.
	f.post(t, "ops", adapters.Message{Text: "after close"})
	late, _, err := f.dial("ops", "", nil)
	require.NoError(t, err)
	ce = late.closed(t)
	assert.Equal(t, websocket.CloseGoingAway, ce.Code)
}

// A line that was stored (and shown) before Close is still handed to the
// Handler with a live context, so it reaches the timeline.
func TestCloseFinishesStoredLines(t *testing.T) {
	handled := make(chan error, 1)
	f := newFixture(t, Options{}, func(ctx context.Context, _ adapters.Inbound) (adapters.Reply, error) {
		time.Sleep(300 * time.Millisecond) // still at work when Close begins
		handled <- ctx.Err()
		return adapters.Reply{}, nil
	})
	c := f.join(t, "ops")
	c.say(t, "alice", "#42 restarting the db")
	require.Equal(t, FrameMessage, c.next(t).Type)
	<-f.inbound
	f.w.Close()
	select {
	case err := <-handled:
		assert.NoError(t, err, "the handler's context was not cancelled by the start of shutdown")
	default:
		t.Fatal("Close returned before the stored line was handled")
	}
}

// A line the room showed but sitrep had not handed over when it stopped (a
// kill -9 between the two) is handed over when it starts again, once.
func TestReplayHandsOverLeftoverLines(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	left := adapters.Inbound{Platform: Platform, RoomID: "ops", User: "alice", Text: "#42 restarting the db", Time: time.Now().UTC()}
	_, err := f.w.appendLogWith(context.Background(), "ops", encodeEntry(entry{Time: left.Time, Message: adapters.Message{Kind: KindChat, User: "alice", Text: left.Text}}),
		func(tx *bolt.Tx, seq uint64) error {
			left.MessageID = strconv.FormatUint(seq, 10)
			_, err := f.ib.Put(tx, left)
			return err
		})
	require.NoError(t, err)

	n, err := f.ib.Replay(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	select {
	case got := <-f.inbound:
		assert.Equal(t, left, got)
	default:
		t.Fatal("the left-over line was not handed over")
	}
	n, err = f.ib.Replay(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "handed over once")
}

// A line handled as usual leaves nothing behind to replay.
func TestHandledLinesLeaveTheInbox(t *testing.T) {
	f := newFixture(t, Options{}, func(context.Context, adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "ok"}, nil
	})
	c := f.join(t, "ops")
	c.say(t, "alice", "#7 looking")
	require.Equal(t, FrameMessage, c.next(t).Type)
	require.Equal(t, FrameReply, c.next(t).Type)
	require.Eventually(t, func() bool {
		n := -1
		_ = f.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(storage.BucketInbox).Stats().KeyN; return nil })
		return n == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestPressesOnACardReachTheHandlerOnce(t *testing.T) {
	f := newFixture(t, Options{}, func(_ context.Context, in adapters.Inbound) (adapters.Reply, error) {
		return adapters.Reply{Text: "acknowledged #7", Private: true}, nil
	})
	card := f.post(t, "ops", adapters.Message{IncidentID: 7, Kind: "triggered", State: "triggered", Text: "#7 triggered CRITICAL: db-1 down",
		Actions: []adapters.Verb{adapters.VerbAck, adapters.VerbResolve}})
	acked := f.post(t, "ops", adapters.Message{IncidentID: 8, Kind: "triggered", State: "acknowledged", Text: "#8 acknowledged by bob",
		Actions: []adapters.Verb{adapters.VerbResolve}})
	c := f.join(t, "ops")
	c.next(t)
	c.next(t)
	press := func(ref, msg string, id uint64, verb string) {
		c.sendText(t, fmt.Sprintf(`{"action":{"verb":%q,"incident_id":%d},"message_id":%q,"ref":%q,"user":"ann"}`, verb, id, msg, ref))
	}

	for _, tc := range []struct {
		name, ref, msg string
		id             uint64
		verb, want     string
	}{
		{"another incident than its card's", "r1", card, 8, "ack", "that button is not on a card of incident #8"},
		{"a message that is no card", "r2", "99", 7, "ack", "that button is not on a card of incident #7"},
		{"a button the card no longer offers", "r3", acked, 8, "ack", "#8 is acknowledged now: that button is gone"},
		{"an unknown verb", "r4", card, 7, "delete", `unknown action "delete"`},
		{"no ref", "", card, 7, "ack", `a press needs a "ref"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			press(tc.ref, tc.msg, tc.id, tc.verb)
			got := c.next(t)
			assert.Equal(t, FrameError, got.Type)
			assert.Equal(t, tc.want, got.Error)
			assert.Equal(t, tc.ref, got.Ref)
		})
	}

	press("p1", card, 7, "ack")
	reply := c.next(t)
	assert.Equal(t, FrameReply, reply.Type)
	assert.Equal(t, "acknowledged #7", text(reply))
	assert.Equal(t, "p1", reply.Ref, "the reply names the press, so the page can let go of its button")
	in := <-f.inbound
	assert.Equal(t, &adapters.Action{Verb: adapters.VerbAck, IncidentID: 7}, in.Action)
	assert.Equal(t, card, in.MessageID)
	assert.Equal(t, "ann (unverified)", in.User)
	assert.True(t, in.Unverified)
	assert.NotEmpty(t, in.Key)
	assert.Empty(t, in.Text)

	// The page sends the same press again (say, after reconnecting): it is taken once.
	press("p1", card, 7, "ack")
	again := c.next(t)
	assert.Equal(t, Frame{Type: FrameSent, ID: card, Ref: "p1"}, again)
	select {
	case in := <-f.inbound:
		t.Fatalf("a repeated press reached the Handler: %+v", in)
	default:
	}
	hist, _, err := f.w.history("ops", 10)
	require.NoError(t, err)
	assert.Len(t, hist, 2, "presses are not chat lines: the room's log holds the two cards only")
}

func TestOpenIncidentsAreListedAndKeptLive(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	ctx := context.Background()
	room := adapters.Room{Name: "ops", ID: "ops"}
	card := func(id uint64, title string) adapters.Message {
		return adapters.Message{IncidentID: id, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: title, Text: "#" + strconv.FormatUint(id, 10) + " triggered"}
	}
	c7 := f.post(t, "ops", card(7, "db-1 down"))
	f.post(t, "ops", card(8, "api slow"))
	f.post(t, "dev", card(9, "another room's"))

	c := f.join(t, "ops")
	list := c.nextIncidents(t)
	require.Equal(t, FrameIncidents, list.Type)
	require.Len(t, list.Incidents, 2, "the room's own open incidents")
	assert.Equal(t, []uint64{8, 7}, []uint64{list.Incidents[0].ID, list.Incidents[1].ID}, "newest first")
	assert.Equal(t, OpenIncident{ID: 7, Title: "db-1 down", State: timeline.StateTriggered, Since: list.Incidents[1].Since, MessageID: c7}, list.Incidents[1])
	assert.WithinDuration(t, time.Now(), list.Incidents[1].Since, time.Minute)

	// The card's update acknowledges #7: the list says so, and by whom.
	acked := card(7, "db-1 down")
	acked.State, acked.User = timeline.StateAcknowledged, "alice"
	require.NoError(t, f.w.Update(ctx, room, c7, acked))
	got := c.nextIncidents(t)
	assert.Equal(t, FrameIncident, got.Type)
	assert.Equal(t, uint64(7), got.Incident.ID)
	assert.Equal(t, timeline.StateAcknowledged, got.Incident.State)
	assert.Equal(t, "alice", got.Incident.By)

	// A late message with an older state changes nothing; a resolution, even inside a digest, drops it.
	f.post(t, "ops", adapters.Message{IncidentID: 7, Kind: timeline.KindNote, State: timeline.StateTriggered, Text: "#7 note"})
	_, err := f.w.Post(ctx, room, adapters.Message{Kind: adapters.KindDigest, Text: "2 alerts", Digest: []adapters.Message{
		{IncidentID: 8, Kind: timeline.KindResolved, State: timeline.StateResolved, Text: "#8 resolved"},
		{IncidentID: 10, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "new in a digest", Text: "#10 triggered"},
	}})
	require.NoError(t, err)
	got = c.nextIncidents(t)
	assert.Equal(t, uint64(8), got.Incident.ID, "the note with the older state was not news")
	assert.Equal(t, timeline.StateResolved, got.Incident.State)
	got = c.nextIncidents(t)
	assert.Equal(t, uint64(10), got.Incident.ID)
	assert.Empty(t, got.Incident.MessageID, "a digest is no incident's card")

	late := f.join(t, "ops")
	list = late.nextIncidents(t)
	var ids []uint64
	for _, inc := range list.Incidents {
		ids = append(ids, inc.ID)
	}
	assert.Equal(t, []uint64{10, 7}, ids, "a late joiner gets the list as it stands")
	assert.Equal(t, "alice", list.Incidents[1].By)
}

func TestIncidentPage(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	ack := at.Add(5 * time.Minute)
	inc := timeline.Incident{ID: 7, EntityID: "db-1", Title: "db-1 <disk> full", State: timeline.StateAcknowledged, Rooms: []string{"ops", "pay-hc"},
		Fields:   map[string]string{"entity_id": "db-1", "host": "db-1.example.com", "auth_token": "hunter2-0123456789"},
		OpenedAt: at, AcknowledgedAt: &ack, AcknowledgedBy: "bob (unverified)"}
	events := []timeline.Event{
		{ID: 1, Kind: timeline.KindTriggered, Text: "97% used", Origin: timeline.Origin{Adapter: "http"}, Time: at},
		{ID: 2, Kind: timeline.KindAcknowledged, Text: "on it", Origin: timeline.Origin{Adapter: "webroom", Room: "ops", User: "bob (unverified)", Unverified: true}, Time: ack},
	}
	opts := Options{Key: "s3cret",
		Incident: func(id uint64) (timeline.Incident, []timeline.Event, error) {
			if id != 7 {
				return timeline.Incident{}, nil, timeline.ErrNotFound
			}
			return inc, events, nil
		},
		RoomPath: func(name string) (string, bool) { return "/rooms/" + name, name == "ops" },
	}
	f := newFixture(t, opts, nil)
	get := func(path string) (int, string, http.Header) {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}

	code, body, hdr := get("/incidents/7?key=s3cret")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
	for _, want := range []string{
		`<span id="incident-title">db-1 &lt;disk&gt; full</span>`, // escaped
		`<span id="incident-state" class="state acknowledged">acknowledged</span>`,
		"2026-12-01 09:35:00 UTC by bob (unverified)",
		`<a href="/rooms/ops">ops</a>`, "<li>pay-hc</li>",
		"db-1.example.com",
		`<span class="who unverified">bob (unverified)</span>`, "webroom #ops", "on it",
		`<section id="status-pages">`, "No status page shows this incident.",
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "hunter2", "secret-looking fields are not shown")

	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/incidents/7", http.StatusUnauthorized, "This page needs its key"},
		{"/incidents/8?key=s3cret", http.StatusNotFound, "sitrep has no incident #8."},
		{"/incidents/x?key=s3cret", http.StatusNotFound, "/incidents/NUMBER"},
	} {
		code, body, hdr := get(tc.path)
		assert.Equal(t, tc.status, code, tc.path)
		assert.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
		assert.Contains(t, body, tc.says)
	}
}
