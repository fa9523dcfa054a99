// Package webroom is sitrep's built-in chat room: a page and a websocket per
// room, served by sitrep itself, so alerts can be routed and answered with no
// external chat account.
//
// Every message a room shows is kept in the room's durable log (a nested
// bucket per room under storage.BucketRoomLog, keyed by a per-room sequence),
// so a client that connects late, or after a restart, sees the recent history
// with its current (updated) content. A responder's line typed in the page
// goes onto the same log and, in the same commit, into sitrep's inbox, which
// hands it over as an adapters.Inbound (and again after a restart if it was
// not handled yet). A press of a card's button is stored in the inbox and
// handed over the same way, as an Inbound with an Action. A web room edits
// messages in place, shows buttons and answers a sender privately; it has
// no threads (see Capabilities).
//
// Each room also keeps its open incidents (see OpenIncident), which its page
// lists at a glance, and, given the timeline (Options.Incident), each
// incident has a readable page behind the same key.
//
// Who a responder is: a name the client chooses is shown and recorded as
// unverified ("bob (unverified)", Inbound.Unverified); a key of a person's
// own (Options.Users) names its holder, verified. Lines are rate limited per
// connection, per room and per remote address, so no crowd of sockets can
// push a room's history out of its log.
package webroom

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/jsonenc"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// Platform is the name this adapter gives its platform.
const Platform = "webroom"

// KindChat is the Message.Kind of a line a responder typed in the room.
const KindChat = timeline.KindChat

// Limits and timings.
const (
	defaultHistory   = 100
	defaultMaxFrame  = 4096
	defaultRate      = 5
	defaultBurst     = 10
	defaultRoomRate  = 2 // lines a second one room takes from all its clients
	defaultRoomBurst = 20
	defaultAddrRate  = 5 // lines a second taken from one remote address, over all its connections and rooms
	defaultAddrBurst = 20
	defaultMaxLog    = 1000 // log entries kept per room
	defaultQueue     = 256  // frames buffered per connection before it is dropped
	maxTextRunes     = 2000 // longest line a responder may type
	maxUserRunes     = 64   // longest display name
	writeWait        = 10 * time.Second
	pongWait         = 60 * time.Second
	pingPeriod       = pongWait * 9 / 10
	closeGrace       = 2 * time.Second // wait for the peer's close frame
	inboxLen         = 16              // lines queued for the Handler per connection
)

// roomNameRE is what a web room's name (and platform ID) must look like.
var roomNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// ErrNotFound means Update named a message the room's log does not hold.
var ErrNotFound = errors.New("message not found")

// ValidRoomName reports whether name can name a web room.
func ValidRoomName(name string) bool { return roomNameRE.MatchString(name) }

// Options configure a WebRoom. The zero value serves open rooms with the defaults.
type Options struct {
	// Key, if set, is required on the page and the websocket, as ?key=<Key>
	// (what a browser can send) or as the header "Authorization: Bearer <Key>".
	Key string
	// History is how many recent messages a connecting client is sent first; default 100.
	History int
	// AllowedOrigins are extra Origin values accepted on websocket upgrades,
	// such as "https://ops.example.com". Same-origin requests are always accepted.
	AllowedOrigins []string
	// Logger receives connection and error logs; default slog.Default().
	Logger *slog.Logger
	// MaxFrame is the largest message a client may send, in bytes; default 4096.
	MaxFrame int
	// RatePerSec is how many messages per second one connection may send on
	// average; default 5.
	RatePerSec float64
	// Burst is how many messages one connection may send at once; default 10.
	Burst int
	// RoomRatePerSec and RoomBurst limit the lines one room takes from all
	// its clients together (default 2 a second, 20 at once), so a crowd of
	// sockets cannot push the room's history out of its log; a line over
	// the limit is refused with an error frame, and its connection stays.
	RoomRatePerSec float64
	RoomBurst      int
	// AddrRatePerSec and AddrBurst limit the lines taken from one remote
	// address over all its connections and rooms (default 5 a second, 20 at
	// once), refused the same way.
	AddrRatePerSec float64
	AddrBurst      int
	// Users are the people with a key of their own, name → key. A request
	// with a user's key (where it would carry Key) may open the rooms, and
	// its lines are shown and recorded under that name. Anyone else names
	// themselves, and is shown and recorded as unverified: "bob (unverified)".
	Users map[string]string
	// Exists, if set, says which rooms there are: the page and websocket of
	// any other name answer 404, so nobody can make up rooms (and fill the
	// store with their logs). Nil serves every valid name.
	Exists func(room string) bool
	// Room, if set, returns the sitrep room a web room ID belongs to (its
	// display name heads the page).
	Room func(id string) (rooms.Room, bool)
	// Incident, if set, gives each incident a page, /incidents/{id}, behind
	// the key like the rooms: its state, timeline with origins, rooms and
	// status pages. Messages link their incident there.
	Incident func(id uint64) (timeline.Incident, []timeline.Event, error)
	// RoomPath, if set, is the path of a sitrep room's page on this server,
	// for an incident page's links; false for a room with none.
	RoomPath func(name string) (string, bool)
	// StatusPages, if set, says what each status page shows of an incident,
	// for its page; nil (or none) says no status page shows it.
	StatusPages func(inc timeline.Incident) []StatusPageState
}

// WebRoom serves web rooms and implements adapters.Chat. It is safe for concurrent use.
type WebRoom struct {
	db       *storage.DB
	inbox    *inbox.Inbox
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	pages    pages
	maxLog   int // log entries kept per room
	queueLen int // send queue per connection

	roomLimit *limiter // lines per room, over all its clients
	addrLimit *limiter // lines per remote address, over all its connections

	ctx    context.Context // ends when Close begins: no new lines are taken
	cancel context.CancelFunc
	// handlerCtx is the parent of Handler calls: it ends closeGrace after
	// Close begins, so lines already stored are still handled to the end.
	handlerCtx    context.Context
	handlerCancel context.CancelFunc

	mu     sync.Mutex
	rooms  map[string]map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup // connection and Handler goroutines
}

var _ adapters.Chat = (*WebRoom)(nil)

// New returns a WebRoom that keeps its rooms' logs in db and hands responders'
// lines to sitrep through ib, which stores each in the commit that shows it.
// A nil ib takes no lines.
func New(db *storage.DB, ib *inbox.Inbox, opts Options) *WebRoom {
	if opts.History == 0 {
		opts.History = defaultHistory
	}
	if opts.History < 0 {
		opts.History = 0
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = defaultMaxFrame
	}
	if opts.RatePerSec <= 0 {
		opts.RatePerSec = defaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = defaultBurst
	}
	if opts.RoomRatePerSec <= 0 {
		opts.RoomRatePerSec = defaultRoomRate
	}
	if opts.RoomBurst <= 0 {
		opts.RoomBurst = defaultRoomBurst
	}
	if opts.AddrRatePerSec <= 0 {
		opts.AddrRatePerSec = defaultAddrRate
	}
	if opts.AddrBurst <= 0 {
		opts.AddrBurst = defaultAddrBurst
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	handlerCtx, handlerCancel := context.WithCancel(context.Background())
	w := &WebRoom{
		db:       db,
		inbox:    ib,
		opts:     opts,
		log:      opts.Logger.With("adapter", Platform),
		maxLog:   defaultMaxLog,
		queueLen: defaultQueue,

		roomLimit: newLimiter(opts.RoomRatePerSec, opts.RoomBurst),
		addrLimit: newLimiter(opts.AddrRatePerSec, opts.AddrBurst),
		ctx:       ctx,
		cancel:    cancel,

		handlerCtx:    handlerCtx,
		handlerCancel: handlerCancel,
		rooms:         make(map[string]map[*conn]struct{}),
		pages:         parsePages(),
	}
	w.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// The origin is checked before Upgrade, so that a refusal can say why.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return w
}

// Platform returns "webroom".
func (w *WebRoom) Platform() string { return Platform }

// entry is one message in a room's log, as stored.
type entry struct {
	Time time.Time `json:"time"`
	Rev  uint64    `json:"rev,omitempty"` // times the message was updated
	adapters.Message
}

// Frame is one JSON object the server sends over a room's websocket.
//
// "message" and "update" frames carry every field of adapters.Message; "reply"
// frames carry Text only; "error" frames carry Error, and Ref when they
// refuse a line the client sent with one; "sent" frames, to the sender of a
// line with a Ref, carry the Ref and the stored line's ID.
type Frame struct {
	Type string `json:"type"` // "message", "update", "reply", "error" or "sent"
	ID   string `json:"id,omitempty"`
	Room string `json:"room,omitempty"`
	Time string `json:"time,omitempty"` // RFC 3339
	Rev  uint64 `json:"rev,omitempty"`  // grows with each update of the message
	*adapters.Message
	Error string `json:"error,omitempty"`
	Ref   string `json:"ref,omitempty"`
	// Incident is an "incident" frame's open incident, changed (resolved:
	// it is no longer open).
	Incident *OpenIncident `json:"incident,omitempty"`
	// Incidents is an "incidents" frame's list: the room's open incidents,
	// newest first, sent after the history; More counts those left out.
	Incidents []OpenIncident `json:"incidents,omitempty"`
	More      int            `json:"more,omitempty"`
}

// Frame types.
const (
	FrameMessage = "message"
	FrameUpdate  = "update"
	FrameReply   = "reply"
	FrameError   = "error"
	FrameSent    = "sent"
	// FrameIncident and FrameIncidents keep a page's list of open incidents.
	FrameIncident  = "incident"
	FrameIncidents = "incidents"
)

func entryFrame(typ, room string, seq uint64, e entry) Frame {
	m := e.Message
	return Frame{
		Type:    typ,
		ID:      strconv.FormatUint(seq, 10),
		Room:    room,
		Time:    e.Time.UTC().Format(time.RFC3339),
		Rev:     e.Rev,
		Message: &m,
	}
}

// encodedEntry is a log entry with its message's JSON members encoded once,
// for both the stored entry and the frame clients get. The encoding is
// byte for byte what encoding/json produces for entry and Frame.
type encodedEntry struct {
	e      entry
	fields []byte // the message's members, without braces (adapters.Message.AppendJSONFields)
}

func encodeEntry(e entry) *encodedEntry {
	return &encodedEntry{e: e, fields: e.Message.AppendJSONFields(make([]byte, 0, 512))}
}

// stored is the entry as kept in the room's log.
func (x *encodedEntry) stored() ([]byte, error) {
	out := make([]byte, 0, len(x.fields)+64)
	out = append(out, `{"time":`...)
	out, ok := jsonenc.AppendTime(out, x.e.Time)
	if !ok {
		return json.Marshal(x.e)
	}
	if x.e.Rev != 0 {
		out = append(out, `,"rev":`...)
		out = strconv.AppendUint(out, x.e.Rev, 10)
	}
	out = append(out, ',')
	out = append(out, x.fields...)
	return append(out, '}'), nil
}

// frame is entryFrame(typ, room, seq, x.e) encoded.
func (x *encodedEntry) frame(typ, room string, seq uint64) []byte {
	out := make([]byte, 0, len(x.fields)+128)
	out = append(out, `{"type":`...)
	out = jsonenc.AppendString(out, typ)
	out = append(out, `,"id":"`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, `","room":`...)
	out = jsonenc.AppendString(out, room)
	out = append(out, `,"time":"`...)
	out = x.e.Time.UTC().AppendFormat(out, time.RFC3339)
	out = append(out, '"')
	if x.e.Rev != 0 {
		out = append(out, `,"rev":`...)
		out = strconv.AppendUint(out, x.e.Rev, 10)
	}
	out = append(out, ',')
	out = append(out, x.fields...)
	return append(out, '}')
}

// Capabilities: a web room edits in place, shows a card's actions as
// buttons and replies to their sender only; it has no threads.
func (w *WebRoom) Capabilities() adapters.Capabilities {
	return adapters.Capabilities{Edit: true, Buttons: true, PrivateReplies: true}
}

// Deliver posts (a reply, with no threads, is a post) or updates in place.
func (w *WebRoom) Deliver(ctx context.Context, d adapters.Delivery) (string, error) {
	if d.Op == adapters.OpUpdate {
		return d.Ref, w.Update(ctx, d.Room, d.Ref, d.Msg)
	}
	return w.Post(ctx, d.Room, d.Msg)
}

// Post appends msg to the room's log and then sends it to every client
// connected to the room. The message ID is its sequence in the room's log.
func (w *WebRoom) Post(ctx context.Context, room adapters.Room, msg adapters.Message) (string, error) {
	name := room.ID
	if !ValidRoomName(name) {
		return "", adapters.Permanent(fmt.Errorf("webroom post: invalid room id %q", name))
	}
	now := time.Now().UTC()
	x := encodeEntry(entry{Time: now, Message: msg})
	var changed []OpenIncident
	seq, err := w.appendLogWith(ctx, name, x, func(tx *bolt.Tx, seq uint64) error {
		var err error
		changed, err = noteIncidents(tx, name, adapters.OpPost, strconv.FormatUint(seq, 10), &msg, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("webroom post to %s: %w", name, err)
	}
	w.broadcast(name, seq, func() ([]byte, error) { return x.frame(FrameMessage, name, seq), nil })
	w.broadcastIncidents(name, changed)
	return strconv.FormatUint(seq, 10), nil
}

// appendLogWith stores x as the room's next message, trims the oldest
// beyond maxLog in the same write, and returns the message's sequence. It
// also runs also(tx, seq) in the same transaction, once the message has its
// sequence.
func (w *WebRoom) appendLogWith(ctx context.Context, room string, x *encodedEntry, also func(tx *bolt.Tx, seq uint64) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	val, err := x.stored()
	if err != nil {
		return 0, fmt.Errorf("encode message: %w", err)
	}
	maxLog := uint64(w.maxLog)
	var seq uint64
	err = w.db.Update(ctx, func(tx *bolt.Tx) error {
		rb, err := tx.Bucket(storage.BucketRoomLog).CreateBucketIfNotExists([]byte(room))
		if err != nil {
			return fmt.Errorf("room log bucket: %w", err)
		}
		rb.FillPercent = storage.AppendFill // appended at the tail, trimmed from the head
		n, err := rb.NextSequence()
		if err != nil {
			return fmt.Errorf("next sequence: %w", err)
		}
		if err := rb.Put(storage.U64(n), val); err != nil {
			return fmt.Errorf("put message: %w", err)
		}
		// Entries leave only from the front, so the oldest is the first key
		// and a steady log trims one entry per Post.
		for n > maxLog {
			k, _ := rb.Cursor().First()
			if k == nil || storage.ParseU64(k) > n-maxLog {
				break
			}
			var key [8]byte
			copy(key[:], k)
			if err := rb.Delete(key[:]); err != nil {
				return fmt.Errorf("trim room log: %w", err)
			}
		}
		if also != nil {
			if err := also(tx, n); err != nil {
				return err
			}
		}
		seq = n
		return nil
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Update rewrites a message Post returned and sends the new content to the
// room's clients, which change the message in place. A message the log does
// not hold (never posted, or trimmed) is a permanent error wrapping ErrNotFound.
func (w *WebRoom) Update(ctx context.Context, room adapters.Room, messageID string, msg adapters.Message) error {
	name := room.ID
	if !ValidRoomName(name) {
		return adapters.Permanent(fmt.Errorf("webroom update: invalid room id %q", name))
	}
	seq, err := strconv.ParseUint(messageID, 10, 64)
	if err != nil || seq == 0 {
		return adapters.Permanent(fmt.Errorf("webroom update %s in %s: %w", messageID, name, ErrNotFound))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webroom update %s in %s: %w", messageID, name, err)
	}
	var updated *encodedEntry
	var changed []OpenIncident
	err = w.db.Update(ctx, func(tx *bolt.Tx) error {
		rb := tx.Bucket(storage.BucketRoomLog).Bucket([]byte(name))
		if rb == nil {
			return ErrNotFound
		}
		key := storage.U64(seq)
		old := rb.Get(key)
		if old == nil {
			return ErrNotFound
		}
		var e entry
		if err := json.Unmarshal(old, &e); err != nil {
			return fmt.Errorf("decode message: %w", err)
		}
		e.Message = msg
		e.Rev++
		x := encodeEntry(e)
		val, err := x.stored()
		if err != nil {
			return fmt.Errorf("encode message: %w", err)
		}
		if err := rb.Put(key, val); err != nil {
			return fmt.Errorf("put message: %w", err)
		}
		updated = x
		changed, err = noteIncidents(tx, name, adapters.OpUpdate, messageID, &msg, time.Now())
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return adapters.Permanent(fmt.Errorf("webroom update %s in %s: %w", messageID, name, err))
	}
	if err != nil {
		return fmt.Errorf("webroom update %s in %s: %w", messageID, name, err)
	}
	w.broadcast(name, 0, func() ([]byte, error) { return updated.frame(FrameUpdate, name, seq), nil })
	w.broadcastIncidents(name, changed)
	return nil
}

// broadcastIncidents tells room's clients of each changed open incident.
func (w *WebRoom) broadcastIncidents(room string, changed []OpenIncident) {
	for i := range changed {
		inc := &changed[i]
		w.broadcast(room, 0, func() ([]byte, error) { return json.Marshal(Frame{Type: FrameIncident, Incident: inc}) })
	}
}

// message returns the message seq of room's log; false if the log does not hold it.
func (w *WebRoom) message(room string, seq uint64) (adapters.Message, bool, error) {
	var e entry
	found := false
	err := w.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(storage.BucketRoomLog).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		v := rb.Get(storage.U64(seq))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return adapters.Message{}, false, fmt.Errorf("read message %d of %s: %w", seq, room, err)
	}
	return e.Message, found, nil
}

// history returns the room's last n messages, oldest first, and the room's
// highest sequence so far.
func (w *WebRoom) history(room string, n int) ([]Frame, uint64, error) {
	frames, last, _, err := w.historyAndOpen(room, n)
	return frames, last, err
}

// historyAndOpen is history, with the room's open incidents as of the same
// read, as an "incidents" frame.
func (w *WebRoom) historyAndOpen(room string, n int) ([]Frame, uint64, Frame, error) {
	var frames []Frame
	var last uint64
	open := Frame{Type: FrameIncidents}
	err := w.db.View(func(tx *bolt.Tx) error {
		list, total, err := openIncidents(tx, room, maxOpenShown)
		if err != nil {
			return err
		}
		open.Incidents, open.More = list, total-len(list)
		rb := tx.Bucket(storage.BucketRoomLog).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		last = rb.Sequence()
		c := rb.Cursor()
		for k, v := c.Last(); k != nil && len(frames) < n; k, v = c.Prev() {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode message %d: %w", storage.ParseU64(k), err)
			}
			frames = append(frames, entryFrame(FrameMessage, room, storage.ParseU64(k), e))
		}
		return nil
	})
	if err != nil {
		return nil, 0, Frame{}, fmt.Errorf("read history of %s: %w", room, err)
	}
	for i, j := 0, len(frames)-1; i < j; i, j = i+1, j-1 {
		frames[i], frames[j] = frames[j], frames[i]
	}
	return frames, last, open, nil
}

// broadcast queues the frame encode returns for every client of room, encoding
// it once, and not at all when the room has no clients (a client that joins
// meanwhile reads the message from the log with its history). seq is the
// message's sequence for "message" frames (so a client that already got it in
// its history skips it), 0 otherwise. A client whose queue is full is
// dropped, never waited for.
func (w *WebRoom) broadcast(room string, seq uint64, encode func() ([]byte, error)) {
	w.mu.Lock()
	n := len(w.rooms[room])
	w.mu.Unlock()
	if n == 0 {
		return
	}
	data, err := encode()
	if err != nil {
		w.log.Error("encode frame", "room", room, "err", err)
		return
	}
	out := outFrame{data: data, seq: seq}
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.rooms[room] {
		if !c.enqueue(out) {
			w.log.Warn("dropping slow client", "room", room, "user", c.user)
			go c.kill(websocket.CloseTryAgainLater, "too slow to keep up")
		}
	}
}

// register adds c to its room, unless the WebRoom is closed. Each registered
// connection holds two counts on w.wg: its own and its Handler worker's.
func (w *WebRoom) register(c *conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	set := w.rooms[c.room]
	if set == nil {
		set = make(map[*conn]struct{})
		w.rooms[c.room] = set
	}
	set[c] = struct{}{}
	w.wg.Add(2)
	return true
}

func (w *WebRoom) unregister(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.rooms[c.room], c)
	if len(w.rooms[c.room]) == 0 {
		delete(w.rooms, c.room)
	}
}

// Close sends every connected client a "going away" close frame, ends the
// connections and waits for their goroutines (Handler calls in flight are
// cancelled). Post and Update keep working afterwards, with no one to tell.
func (w *WebRoom) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	var all []*conn
	for _, set := range w.rooms {
		for c := range set {
			all = append(all, c)
		}
	}
	w.mu.Unlock()

	// A close frame can wait behind a write to a slow client, so send them
	// side by side.
	var stops sync.WaitGroup
	for _, c := range all {
		stops.Go(func() { c.stop(websocket.CloseGoingAway, "server shutting down") })
	}
	w.cancel()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		stops.Wait()
		close(done)
	}()
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	defer w.handlerCancel()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	// Clients that did not answer the close frame in time are cut off, and
	// Handler calls still running are cancelled.
	w.handlerCancel()
	for _, c := range all {
		_ = c.ws.Close()
	}
	<-done
}

// Register adds the room page (GET /rooms/{room}), its websocket
// (GET /rooms/{room}/ws) and, with Options.Incident, the incident pages
// (GET /incidents/{id}) to mux.
func (w *WebRoom) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /rooms/{room}", w.servePage)
	mux.HandleFunc("GET /rooms/{room}/ws", w.serveWS)
	if w.opts.Incident != nil {
		mux.HandleFunc("GET /incidents/{id}", w.serveIncident)
	}
}

// roomKnown reports whether room names a room these web rooms serve.
func (w *WebRoom) roomKnown(room string) bool {
	return ValidRoomName(room) && (w.opts.Exists == nil || w.opts.Exists(room))
}

// checkRoom returns the request's room name, or writes a 404 and returns false
// if it is not a valid one.
func (w *WebRoom) checkRoom(rw http.ResponseWriter, r *http.Request) (string, bool) {
	room := r.PathValue("room")
	if !ValidRoomName(room) {
		httpjson.Error(rw, http.StatusNotFound, "", "no such room: a room name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
		return "", false
	}
	if w.opts.Exists != nil && !w.opts.Exists(room) {
		httpjson.Error(rw, http.StatusNotFound, "", "no such room")
		return "", false
	}
	return room, true
}

// checkKey writes a 401 and returns false unless the request carries the
// key or a user's key (when either is set). user is the name whose key it
// carries, if any: the verified name of whoever holds it.
func (w *WebRoom) checkKey(rw http.ResponseWriter, r *http.Request) (user string, ok bool) {
	if user, ok = w.keyOf(r); !ok {
		httpjson.Error(rw, http.StatusUnauthorized, "", "missing or wrong key")
	}
	return user, ok
}

// keyOf is checkKey without the answer.
func (w *WebRoom) keyOf(r *http.Request) (user string, ok bool) {
	presented := false
	bearer, _ := secret.Bearer(r)
	for _, key := range []string{r.URL.Query().Get("key"), bearer} {
		if key == "" {
			continue
		}
		presented = true
		if name := w.userOf(key); name != "" {
			return name, true
		}
		if w.opts.Key != "" && secret.Equal(key, w.opts.Key) {
			return "", true
		}
	}
	// Open rooms take anyone; a wrong user key is refused, so its holder
	// learns of the typo rather than being shown as unverified.
	return "", w.opts.Key == "" && (len(w.opts.Users) == 0 || !presented)
}

// userOf returns the name of the user whose key is key, or "". Every key
// is compared, in constant time.
func (w *WebRoom) userOf(key string) string {
	found := ""
	for name, k := range w.opts.Users {
		if k != "" && secret.Equal(key, k) {
			found = name
		}
	}
	return found
}

// randomID returns n random bytes as hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
