package webroom

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/inbox"
)

// outFrame is an encoded frame waiting in a connection's send queue.
type outFrame struct {
	data []byte
	seq  uint64 // log sequence of a "message" frame, else 0
}

// conn is one websocket client of one room.
type conn struct {
	w    *WebRoom
	ws   *websocket.Conn
	room string
	user string // display name unless the client names itself
	// verified is the name whose user key the connection was opened with;
	// "" means the client names itself, unverified.
	verified string
	addr     string // remote address, without the port

	send       chan outFrame
	done       chan struct{} // closed by stop: the writer quits
	stopOnce   sync.Once
	writerDone chan struct{}
	inbox      chan pendingLine // lines for the Handler worker

	// histMax is the room's last sequence when the history was read; the
	// writer skips live "message" frames at or below it, which the client
	// already has. Set before the writer starts.
	histMax uint64
}

// serveWS upgrades a room's websocket after checking room name, origin and key.
func (w *WebRoom) serveWS(rw http.ResponseWriter, r *http.Request) {
	room, ok := w.checkRoom(rw, r)
	if !ok {
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !w.originAllowed(origin, r.Host) {
		w.log.Warn("refused cross-origin websocket", "room", room, "origin", origin)
		httpjson.Error(rw, http.StatusForbidden, "", "cross-origin websocket refused: origin "+origin)
		return
	}
	verified, ok := w.checkKey(rw, r)
	if !ok {
		return
	}
	ws, err := w.upgrader.Upgrade(rw, r, nil)
	if err != nil {
		// Upgrade has answered the request already.
		w.log.Debug("websocket upgrade failed", "room", room, "err", err)
		return
	}
	c := &conn{
		w:          w,
		ws:         ws,
		room:       room,
		user:       "web-" + randomID(3),
		verified:   verified,
		addr:       remoteHost(r.RemoteAddr),
		send:       make(chan outFrame, w.queueLen),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		inbox:      make(chan pendingLine, inboxLen),
	}
	if !w.register(c) {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(writeWait))
		_ = ws.Close()
		return
	}
	w.log.Debug("websocket connected", "room", room, "user", c.user, "remote", r.RemoteAddr)
	go c.handleLoop()
	defer w.wg.Done()
	defer func() { _ = ws.Close() }()
	defer w.unregister(c)
	c.serve()
	w.log.Debug("websocket disconnected", "room", room, "user", c.user)
}

// originAllowed reports whether a websocket upgrade from origin may proceed:
// same origin (the Origin's host is the request's Host) or listed in AllowedOrigins.
func (w *WebRoom) originAllowed(origin, host string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	for _, o := range w.opts.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// serve sends the history, starts the writer and runs the read loop until the
// connection ends.
func (c *conn) serve() {
	defer close(c.inbox) // the Handler worker finishes the lines it has, then quits
	hist, last, open, err := c.w.historyAndOpen(c.room, c.w.opts.History)
	if err != nil {
		c.w.log.Error("websocket history", "room", c.room, "err", err)
		c.stop(websocket.CloseInternalServerErr, "could not read the room's history")
		return
	}
	c.histMax = last
	for _, f := range append(hist, open) {
		data, err := json.Marshal(f)
		if err != nil {
			c.w.log.Error("encode history frame", "room", c.room, "err", err)
			continue
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
			c.stop(0, "")
			return
		}
	}
	go c.writeLoop()
	c.readLoop()
	c.stop(0, "")
	<-c.writerDone
}

// stop sends a close frame (unless code is 0) and ends the writer. Only the
// first call has an effect.
func (c *conn) stop(code int, reason string) {
	c.stopOnce.Do(func() {
		if code != 0 {
			msg := websocket.FormatCloseMessage(code, reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
		}
		close(c.done)
	})
}

// kill stops c and cuts the connection without waiting for the peer.
func (c *conn) kill(code int, reason string) {
	c.stop(code, reason)
	_ = c.ws.Close()
}

// enqueue queues f without waiting; false means the queue is full.
func (c *conn) enqueue(f outFrame) bool {
	select {
	case <-c.done:
		return true // closing anyway
	default:
	}
	select {
	case c.send <- f:
		return true
	default:
		return false
	}
}

// sendFrame queues a frame for this client only.
func (c *conn) sendFrame(f Frame) {
	data, err := json.Marshal(f)
	if err != nil {
		c.w.log.Error("encode frame", "room", c.room, "err", err)
		return
	}
	if !c.enqueue(outFrame{data: data}) {
		c.w.log.Warn("dropping slow client", "room", c.room, "user", c.user)
		go c.kill(websocket.CloseTryAgainLater, "too slow to keep up")
	}
}

func (c *conn) sendError(msg string) {
	c.sendFrame(Frame{Type: FrameError, Error: msg})
}

// writeLoop sends queued frames and keepalive pings until stop.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-c.done:
			return
		case f := <-c.send:
			if f.seq != 0 && f.seq <= c.histMax {
				continue // already sent with the history
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, f.data); err != nil {
				c.writeFailed(err)
				return
			}
		case <-ticker.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				c.writeFailed(err)
				return
			}
		}
	}
}

// writeFailed ends a connection the writer can no longer write to, so the
// read loop stops too. After a close frame was sent the read loop is already
// waiting for the peer's answer and is left alone.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, websocket.ErrCloseSent) {
		return
	}
	c.w.log.Debug("websocket write failed", "room", c.room, "user", c.user, "err", err)
	_ = c.ws.Close()
}

// readLoop reads the client's frames until the connection ends or the client
// breaks a rule, in which case it is closed with a code saying which.
func (c *conn) readLoop() {
	maxFrame := c.w.opts.MaxFrame
	_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	bucket := newBucket(c.w.opts.RatePerSec, c.w.opts.Burst, time.Now())
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				c.w.log.Debug("websocket read", "room", c.room, "user", c.user, "err", err)
			}
			return
		}
		if mt == websocket.BinaryMessage {
			c.closeAndDrain(websocket.CloseUnsupportedData, "binary frames are not accepted")
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, int64(maxFrame)+1))
		if err != nil {
			return
		}
		if len(data) > maxFrame {
			c.closeAndDrain(websocket.CloseMessageTooBig, fmt.Sprintf("message exceeds %d bytes", maxFrame))
			return
		}
		if !bucket.take(time.Now()) {
			c.closeAndDrain(websocket.ClosePolicyViolation, "too many messages")
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		c.handleLine(data)
	}
}

// closeAndDrain sends a close frame and reads (discarding) until the peer
// answers it or closeGrace passes, so the peer gets the close frame rather
// than a reset connection.
func (c *conn) closeAndDrain(code int, reason string) {
	c.w.log.Info("closing websocket", "room", c.room, "user", c.user, "code", code, "reason", reason)
	c.stop(code, reason)
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}

// clientFrame is what a client sends: a line typed in the room. Ref, if
// set, comes back on the "error" frame that refuses the line or the "sent"
// frame that says it is stored, to the sender only.
//
// A press of a card's button is {"action":{"verb":"ack","incident_id":7},
// "message_id":"12","ref":"..."} instead: the Ref (required) also makes the
// press's dedupe key, so a page that sends it again after reconnecting has it
// applied once.
type clientFrame struct {
	Text      *string          `json:"text"`
	User      string           `json:"user"`
	Ref       string           `json:"ref"`
	Action    *adapters.Action `json:"action"`
	MessageID string           `json:"message_id"`
}

// unverifiedMark follows a name the client chose, wherever it is shown.
const unverifiedMark = " (unverified)"

// maxRefBytes bounds the Ref a client may have echoed.
const maxRefBytes = 64

// handleLine validates a client's line, stores it in the room log, shows it
// to the room and queues it for the Handler. Rejected lines are answered
// with an error frame and not stored.
func (c *conn) handleLine(data []byte) {
	var in clientFrame
	if err := json.Unmarshal(data, &in); err != nil {
		c.sendError(`frame is not valid JSON of the form {"text":"..."}: ` + err.Error())
		return
	}
	if len(in.Ref) > maxRefBytes {
		in.Ref = ""
	}
	refuse := func(msg string) { c.sendFrame(Frame{Type: FrameError, Error: msg, Ref: in.Ref}) }
	if in.Action != nil {
		c.handlePress(in, refuse)
		return
	}
	if in.Text == nil {
		refuse(`frame has no "text" field`)
		return
	}
	text := strings.TrimSpace(*in.Text)
	if text == "" {
		refuse(`"text" is empty`)
		return
	}
	if n := utf8.RuneCountInString(text); n > maxTextRunes {
		refuse(fmt.Sprintf("text is %d characters long; the limit is %d", n, maxTextRunes))
		return
	}
	user, unverified, ok := c.sender(in.User, refuse)
	if !ok {
		return
	}
	if c.w.ctx.Err() != nil { // shutting down: store nothing that would not be handled
		refuse("sitrep is shutting down; send that again in a moment")
		return
	}
	now := time.Now()
	if !c.w.addrLimit.take(c.addr, now) {
		refuse("too many lines from your address just now; wait a moment and send that again")
		return
	}
	if !c.w.roomLimit.take(c.room, now) {
		refuse("this room is taking too many lines just now; wait a moment and send that again")
		return
	}
	e := entry{Time: now.UTC(), Message: adapters.Message{Kind: KindChat, User: user, Text: text}}
	x := encodeEntry(e)
	line := adapters.Inbound{Platform: Platform, RoomID: c.room, User: user, UserID: c.verified, Unverified: unverified, Text: text, Time: e.Time}
	var ticket inbox.Ticket
	seq, err := c.w.appendLogWith(c.w.ctx, c.room, x, func(tx *bolt.Tx, seq uint64) error {
		line.MessageID = strconv.FormatUint(seq, 10)
		if c.w.inbox == nil {
			return nil
		}
		var err error
		ticket, err = c.w.inbox.Put(tx, line) // shown and queued for the Handler in one commit
		return err
	})
	if err != nil {
		c.w.log.Error("store chat line", "room", c.room, "err", err)
		refuse("could not store your message; please try again")
		return
	}
	if in.Ref != "" {
		c.sendFrame(Frame{Type: FrameSent, ID: line.MessageID, Ref: in.Ref})
	}
	c.w.broadcast(c.room, seq, func() ([]byte, error) { return x.frame(FrameMessage, c.room, seq), nil })
	if c.w.inbox == nil {
		return
	}
	select {
	case c.inbox <- pendingLine{ticket, line, ""}:
	case <-c.w.ctx.Done():
	}
}

// sender is the name a line or press is shown and recorded under: the
// verified one of the connection's user key (which is also the Inbound's
// UserID, so status_admins can name "webroom:alice"), else the one the
// client chose (or the connection's own), marked unverified. A name passing
// for sitrep is refused.
func (c *conn) sender(chosen string, refuse func(string)) (user string, unverified, ok bool) {
	if c.verified != "" {
		return c.verified, false, true
	}
	user = c.user
	if u := cleanUser(chosen); u != "" {
		user = u
	}
	if reservedName(user) {
		refuse(fmt.Sprintf("the name %q is sitrep's own: choose another", user))
		return "", false, false
	}
	return user + unverifiedMark, true, true
}

// handlePress checks a button press against the card it was pressed on,
// stores it in the inbox and queues it for the Handler. It is not shown in
// the room: the card's update and the sender's reply say what it did.
func (c *conn) handlePress(in clientFrame, refuse func(string)) {
	a := *in.Action
	if in.Ref == "" {
		refuse(`a press needs a "ref"`)
		return
	}
	if a.Verb != adapters.VerbAck && a.Verb != adapters.VerbResolve {
		refuse(fmt.Sprintf("unknown action %q", clip(string(a.Verb), 20)))
		return
	}
	seq, err := strconv.ParseUint(in.MessageID, 10, 64)
	if err != nil || seq == 0 {
		refuse(`a press needs the "message_id" of the card it was on`)
		return
	}
	card, found, err := c.w.message(c.room, seq)
	switch {
	case err != nil:
		c.w.log.Error("read a card for a press", "room", c.room, "err", err)
		refuse("could not read that card; please try again")
		return
	case !found || card.IncidentID == 0 || card.IncidentID != a.IncidentID:
		refuse(fmt.Sprintf("that button is not on a card of incident #%d", a.IncidentID))
		return
	case !slices.Contains(card.Actions, a.Verb):
		refuse(fmt.Sprintf("#%d is %s now: that button is gone", a.IncidentID, card.State))
		return
	}
	user, unverified, ok := c.sender(in.User, refuse)
	if !ok {
		return
	}
	if c.w.ctx.Err() != nil {
		refuse("sitrep is shutting down; press again in a moment")
		return
	}
	if !c.w.addrLimit.take(c.addr, time.Now()) {
		refuse("too many presses from your address just now; wait a moment and press again")
		return
	}
	if c.w.inbox == nil {
		return
	}
	press := adapters.Inbound{Platform: Platform, RoomID: c.room, User: user, UserID: c.verified, Unverified: unverified, Action: &a,
		MessageID: in.MessageID, Key: "press/" + c.room + "/" + in.MessageID + "/" + in.Ref, Time: time.Now().UTC()}
	ticket, err := c.w.inbox.Store(c.w.ctx, press)
	switch {
	case errors.Is(err, inbox.ErrDuplicate):
		c.sendFrame(Frame{Type: FrameSent, ID: in.MessageID, Ref: in.Ref}) // taken already
		return
	case err != nil:
		c.w.log.Error("store a press", "room", c.room, "err", err)
		refuse("could not store your press; please try again")
		return
	}
	select {
	case c.inbox <- pendingLine{ticket, press, in.Ref}:
	case <-c.w.ctx.Done():
	}
}

// clip cuts s to n bytes at most, at a rune boundary.
func clip(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// pendingLine is a stored line or press on its way to the Handler.
type pendingLine struct {
	ticket inbox.Ticket
	in     adapters.Inbound
	ref    string // the client's ref for a press, for its reply
}

// handleLoop hands the connection's lines to the Handler one at a time, so a
// slow Handler holds up only this client, and answers the sender. A line cut
// off by shutdown stays in the inbox, which hands it over at the next start.
func (c *conn) handleLoop() {
	defer c.w.wg.Done()
	for p := range c.inbox {
		reply, err := c.w.inbox.Handle(c.w.handlerCtx, p.ticket, p.in)
		switch {
		case err != nil:
			// Usage problems come back as replies; an error is sitrep's own
			// failure (storage, a bug), logged here and not shown as is.
			c.w.log.Error("handling a line failed", "room", c.room, "user", p.in.User, "err", err)
			c.sendFrame(Frame{Type: FrameError, Error: "sitrep could not handle that message; it is in the server log", Ref: p.ref})
		case !reply.Empty():
			c.sendFrame(Frame{Type: FrameReply, Message: &adapters.Message{Text: reply.Text}, Ref: p.ref})
		case p.ref != "":
			c.sendFrame(Frame{Type: FrameSent, ID: p.in.MessageID, Ref: p.ref}) // handled, nothing to say
		}
	}
}

// cleanUser makes a client-chosen display name safe to store and show:
// no control characters, at most maxUserRunes runes.
func cleanUser(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxUserRunes {
		s = string([]rune(s)[:maxUserRunes])
	}
	return s
}

// remoteHost is the host part of a request's RemoteAddr.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// reservedName reports whether a self-declared name would pass for sitrep
// itself in the room and on the timeline.
func reservedName(name string) bool {
	n := strings.ToLower(strings.Trim(name, " .-_@"))
	return n == "sitrep" || n == "sitrep bot" || n == "system"
}
