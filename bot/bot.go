// Package bot wires sitrep together: config → storage → timeline → routing →
// outbox → chat adapters, behind one HTTP server with the ingest endpoints,
// the admin API, web rooms, health checks and metrics.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/webroom"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/ingest"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// GCPercent is the garbage collector setting sitrep serve runs with unless
// GOGC is set: the live heap is small (a few MiB even with 100,000 events), so
// collecting at 3× it instead of 2× costs little memory and measured about
// 10% more ingest throughput on 2 cores.
const GCPercent = 300

// hipchatHook is where HipChat's room_message webhook posts.
const hipchatHook = "/hooks/hipchat"

// Bot is one running sitrep.
type Bot struct {
	cfg    *config.Config
	log    *slog.Logger
	db     *storage.DB
	rooms  *rooms.Store
	router *routing.Store
	tl     *timeline.Timeline
	outbox *outbox.Outbox
	web    *webroom.WebRoom
	chats  map[string]adapters.Chat
	cmds   *commands.Handler
	reg    *prometheus.Registry
	mux    *http.ServeMux
	ready  atomic.Bool
	events *prometheus.CounterVec
	now    func() time.Time

	updates sync.WaitGroup // in-place message updates under way
}

// New opens the store, seeds rooms and routes from cfg, and builds every part.
// It does not listen; Run does.
func New(cfg *config.Config, log *slog.Logger) (*Bot, error) {
	db, err := storage.Open(cfg.Data, storage.Options{})
	if err != nil {
		return nil, err
	}
	b, err := build(cfg, log, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

func build(cfg *config.Config, log *slog.Logger, db *storage.DB) (*Bot, error) {
	b := &Bot{cfg: cfg, log: log, db: db, reg: prometheus.NewRegistry(), mux: http.NewServeMux(), now: time.Now}
	b.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sitrep_events_total", Help: "Timeline events committed, by kind.",
	}, []string{"kind"})
	b.reg.MustRegister(b.events)

	ctx := context.Background()
	var err error
	if b.rooms, err = rooms.Open(db); err != nil {
		return nil, err
	}
	for _, r := range cfg.Rooms {
		if err := b.rooms.Put(ctx, r); err != nil {
			return nil, fmt.Errorf("seed room %s: %w", r.Name, err)
		}
	}
	if b.router, err = routing.OpenStore(ctx, db, cfg.Routes, routing.Options{
		RoomExists: b.rooms.Exists, DefaultRooms: []string{cfg.DefaultRoom},
	}); err != nil {
		return nil, err
	}

	b.tl = timeline.New(db, timeline.Options{Dispatch: b.dispatch, Now: b.now})
	b.tl.Subscribe(b.afterCommit)

	b.cmds = commands.New(commands.Options{
		Timeline: b.tl,
		RoomOf:   b.rooms.ByPlatformID,
		Extra:    map[commands.Verb]func(context.Context, commands.Command, adapters.Inbound) (string, error){"route": b.routeCommand},
	})

	b.chats = map[string]adapters.Chat{}
	if cfg.Web.On() {
		b.web = webroom.New(db, b.cmds.Handle, webroom.Options{
			Key: cfg.Web.Key, History: cfg.Web.History, AllowedOrigins: cfg.Web.AllowedOrigins, Logger: log,
			Exists: func(id string) bool { _, ok := b.rooms.ByPlatformID(rooms.PlatformWebRoom, id); return ok },
		})
		b.web.Register(b.mux)
		b.chats[rooms.PlatformWebRoom] = b.web
	} else {
		log.Info("web rooms off (web.enabled: false)")
	}
	if cfg.HipChat.Enabled() {
		hc := hipchat.New(hipchat.Options{
			BaseURL:      cfg.HipChat.BaseURL,
			Token:        cfg.HipChat.Token,
			WebhookToken: cfg.HipChat.WebhookToken,
			Handler:      b.cmds.Handle,
			Logger:       log.With("adapter", "hipchat"),
		})
		b.chats[rooms.PlatformHipChat] = hc
		if cfg.HipChat.WebhookToken != "" {
			hc.Register(b.mux, hipchatHook)
		} else {
			log.Info("hipchat inbound off: responders' chat is not read", "enable", "set hipchat.webhook_token and point a room_message webhook at "+hipchatHook)
		}
	}
	b.logOffAdapters()

	b.outbox = outbox.New(db, outbox.Options{
		Resolve:     b.resolveRoom,
		MaxAge:      cfg.Outbox.MaxAge,
		BaseBackoff: cfg.Outbox.BaseBackoff,
		MaxBackoff:  cfg.Outbox.MaxBackoff,
		Logger:      log.With("component", "outbox"),
		Metrics:     b.reg,
	})

	ingest.New(ingest.Options{
		Token:   cfg.IngestToken,
		Sink:    b.tl,
		Logger:  log.With("component", "ingest"),
		Metrics: b.reg,
	}).Register(b.mux)
	b.registerAPI()
	return b, nil
}

// logOffAdapters says, once at start, which platforms are off and how to turn them on.
func (b *Bot) logOffAdapters() {
	if _, on := b.chats[rooms.PlatformHipChat]; !on {
		b.log.Info("chat adapter off", "platform", rooms.PlatformHipChat, "enable", "set hipchat.base_url")
	}
	for _, p := range []string{rooms.PlatformSlack, rooms.PlatformDiscord} {
		b.log.Info("chat adapter off", "platform", p, "reason", "not in this version of sitrep")
	}
}

// Handler is the bot's HTTP handler (for tests and for embedding).
func (b *Bot) Handler() http.Handler { return b.mux }

// Timeline exposes the bot's timeline.
func (b *Bot) Timeline() *timeline.Timeline { return b.tl }

// Run serves on ln until ctx ends, then shuts down gracefully: in-flight
// requests finish, web rooms close, the outbox stops, bbolt closes.
func (b *Bot) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           b.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	obCtx, stopOutbox := context.WithCancel(context.Background())
	obDone := make(chan error, 1)
	go func() { obDone <- b.outbox.Run(obCtx) }()

	if b.web != nil { // lines a room showed before the last stop but sitrep had not handled
		if n, err := b.web.Replay(ctx); err != nil {
			b.log.Error("web room lines left over from the last run", "err", err)
		} else if n > 0 {
			b.log.Info("handled web room lines left over from the last run", "lines", n)
		}
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	b.ready.Store(true)
	b.log.Info("sitrep ready", "listen", ln.Addr().String(), "data", b.db.Path(), "web_rooms", b.cfg.Web.On())

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	b.ready.Store(false)
	b.log.Info("shutting down")
	if b.web != nil {
		b.web.Close()
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil && err == nil {
		err = fmt.Errorf("http shutdown: %w", serr)
	}
	stopOutbox()
	if oerr := <-obDone; oerr != nil && !errors.Is(oerr, context.Canceled) && err == nil {
		err = fmt.Errorf("outbox: %w", oerr)
	}
	b.updates.Wait()
	if cerr := b.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close storage: %w", cerr)
	}
	return err
}

// Close releases the store when Run was never called.
func (b *Bot) Close() error { return b.db.Close() }

func (b *Bot) resolveRoom(name string) (outbox.Target, bool) {
	r, ok := b.rooms.Get(name)
	if !ok {
		return outbox.Target{}, false
	}
	chat, on := b.chats[r.Platform]
	if !on {
		chat = offChat{platform: r.Platform}
	}
	lim := b.cfg.Limit(r.Platform)
	return outbox.Target{
		Room:  adapters.Room{Name: r.Name, ID: r.ID, Token: r.Token},
		Chat:  chat,
		Limit: outbox.Limit{Messages: lim.Messages, Per: lim.Per},
	}, true
}

// offChat stands in for a platform whose adapter is off: deliveries wait in the
// outbox (and retry) until it is turned on or they reach the outbox's max age.
type offChat struct{ platform string }

func (o offChat) Platform() string { return o.platform }

func (o offChat) Post(context.Context, adapters.Room, adapters.Message) (string, error) {
	return "", fmt.Errorf("the %s adapter is off: set its credentials and restart", o.platform)
}

func (o offChat) Update(context.Context, adapters.Room, string, adapters.Message) error {
	return fmt.Errorf("the %s adapter is off", o.platform)
}

func (b *Bot) healthz(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (b *Bot) readyz(w http.ResponseWriter, _ *http.Request) {
	if !b.ready.Load() {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "starting or stopping"})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (b *Bot) metrics() http.Handler {
	return promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{Registry: b.reg})
}
