package webroom

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/storage"
)

const waitFrame = 5 * time.Second

// fixture is a WebRoom on a real bbolt file behind a real HTTP server, with
// an inbox in front of its Handler.
type fixture struct {
	path    string
	db      *storage.DB
	ib      *inbox.Inbox
	w       *WebRoom
	srv     *httptest.Server
	inbound chan adapters.Inbound
}

// newFixture serves a WebRoom with opts. Its inbox's Handler records every
// line on f.inbound and answers with reply(in), if reply is not nil.
func newFixture(t *testing.T, opts Options, reply adapters.Handler) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "sitrep.db"), inbound: make(chan adapters.Inbound, 100)}
	db, err := storage.Open(f.path, storage.Options{})
	require.NoError(t, err)
	f.db = db
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	handler := func(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
		select {
		case f.inbound <- in:
		default:
		}
		if reply == nil {
			return adapters.Reply{}, nil
		}
		return reply(ctx, in)
	}
	f.ib = inbox.New(db, handler, inbox.Options{Logger: opts.Logger})
	f.w = New(db, f.ib, opts)
	mux := http.NewServeMux()
	f.w.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.w.Close()
		_ = f.db.Close()
	})
	return f
}

func (f *fixture) wsURL(room, query string) string {
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/rooms/" + room + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial opens a websocket to room; query and hdr may be empty.
func (f *fixture) dial(room, query string, hdr http.Header) (*client, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(f.wsURL(room, query), hdr)
	if err != nil {
		return nil, resp, err
	}
	return &client{ws: ws}, resp, nil
}

// join dials room and fails the test if that does not work.
func (f *fixture) join(t *testing.T, room string) *client {
	t.Helper()
	return f.joinWith(t, room, "")
}

// joinWith is join with a query, such as "key=...".
func (f *fixture) joinWith(t *testing.T, room, query string) *client {
	t.Helper()
	c, resp, err := f.dial(room, query, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	t.Cleanup(func() { _ = c.ws.Close() })
	return c
}

func (f *fixture) post(t *testing.T, room string, msg adapters.Message) string {
	t.Helper()
	id, err := f.w.Post(context.Background(), adapters.Room{Name: room, ID: room}, msg)
	require.NoError(t, err)
	return id
}

// client is a test's end of a room websocket.
type client struct {
	ws *websocket.Conn
	// incidents are the "incident" and "incidents" frames next has passed
	// over, in order: tests of messages read past them.
	incidents []Frame
}

// next reads the next frame other than the open-incident ones, failing the
// test on a read error or after waitFrame.
func (c *client) next(t *testing.T) Frame {
	t.Helper()
	for {
		f, err := c.read(waitFrame)
		require.NoError(t, err)
		if f.Type != FrameIncident && f.Type != FrameIncidents {
			return f
		}
		c.incidents = append(c.incidents, f)
	}
}

// nextIncidents reads until the next open-incident frame and returns it.
func (c *client) nextIncidents(t *testing.T) Frame {
	t.Helper()
	if len(c.incidents) > 0 {
		f := c.incidents[0]
		c.incidents = c.incidents[1:]
		return f
	}
	for {
		f, err := c.read(waitFrame)
		require.NoError(t, err)
		if f.Type == FrameIncident || f.Type == FrameIncidents {
			return f
		}
	}
}

func (c *client) read(d time.Duration) (Frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return Frame{}, err
	}
	if mt != websocket.TextMessage {
		return Frame{}, errors.New("not a text frame")
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// closed reads until the connection ends and returns the close frame's error.
func (c *client) closed(t *testing.T) *websocket.CloseError {
	t.Helper()
	deadline := time.Now().Add(waitFrame)
	for time.Now().Before(deadline) {
		_, err := c.read(time.Until(deadline))
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce, "connection ended without a close frame")
		return ce
	}
	t.Fatal("connection was not closed")
	return nil
}

func (c *client) sendText(t *testing.T, s string) {
	t.Helper()
	require.NoError(t, c.ws.WriteMessage(websocket.TextMessage, []byte(s)))
}

func (c *client) say(t *testing.T, user, text string) {
	t.Helper()
	data, err := json.Marshal(map[string]string{"text": text, "user": user})
	require.NoError(t, err)
	c.sendText(t, string(data))
}

func text(f Frame) string {
	if f.Message == nil {
		return ""
	}
	return f.Text
}
