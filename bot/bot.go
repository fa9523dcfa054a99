// Package bot wires sitrep together and does nothing else: config → storage
// → rooms and routes → timeline → fan-out → outbox → the platforms' adapters
// (from the platform list), behind one HTTP server with the ingest endpoints,
// the admin API, the platforms' own routes, health checks and metrics. Every
// background loop runs under Run.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/accesslog"
	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/webhook"
	"github.com/sitrep/sitrep/commands"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/fanout"
	"github.com/sitrep/sitrep/hostguard"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/inbox"
	"github.com/sitrep/sitrep/ingest"
	"github.com/sitrep/sitrep/oncall"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/statuspage"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/teams"
	"github.com/sitrep/sitrep/timeline"
	"github.com/sitrep/sitrep/webhooks"
)

// GCPercent is the garbage collector setting sitrep serve runs with unless
// GOGC is set: the live heap is small (a few MiB even with 100,000 events), so
// collecting at 3× it instead of 2× costs little memory and measured about
// 10% more ingest throughput on 2 cores.
const GCPercent = 300

// Bot is one running sitrep.
type Bot struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *storage.DB
	rooms     *rooms.Store
	router    *routing.Store
	hooks     *webhooks.Store // outgoing webhooks
	hookChat  *webhook.Chat   // delivers them for the outbox
	tl        *timeline.Timeline
	fan       *fanout.Fanout
	outbox    *outbox.Outbox
	inbox     *inbox.Inbox
	teams     *teams.Teams
	oncall    *oncall.Service
	escalator *oncall.Escalator
	pages     *statuspage.Engine
	pageStore *statuspage.Pages
	platforms platform.List
	chats     map[string]platform.Built // the platforms that are on, by name
	cmds      *commands.Handler
	reg       *prometheus.Registry
	mux       *http.ServeMux
	guard     *hostguard.Guard
	ready     atomic.Bool
	events    *prometheus.CounterVec
	now       func() time.Time
}

// New opens the store, seeds rooms and routes from cfg, and builds every
// part, with the platforms of platforms.All. It does not listen; Run does.
func New(cfg *config.Config, log *slog.Logger) (*Bot, error) {
	return NewWith(cfg, log, platforms.All())
}

// NewWith is New with the platforms of list.
func NewWith(cfg *config.Config, log *slog.Logger, list platform.List) (*Bot, error) {
	return newWith(cfg, log, list, time.Now)
}

// newWith is NewWith on the clock now.
func newWith(cfg *config.Config, log *slog.Logger, list platform.List, now func() time.Time) (*Bot, error) {
	db, err := storage.Open(cfg.Data, storage.Options{})
	if err != nil {
		return nil, err
	}
	b, err := build(cfg, log, db, list, now)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

func build(cfg *config.Config, log *slog.Logger, db *storage.DB, list platform.List, now func() time.Time) (*Bot, error) {
	b := &Bot{cfg: cfg, log: log, db: db, platforms: list, chats: map[string]platform.Built{},
		reg: prometheus.NewRegistry(), mux: http.NewServeMux(), now: now}
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
	if b.pageStore, err = statuspage.OpenPages(ctx, db, cfg.StatusPages); err != nil {
		return nil, err
	}
	if b.router, err = routing.OpenStore(ctx, db, cfg.Routes, routing.Options{
		RoomExists: b.rooms.Exists, DefaultRooms: []string{cfg.DefaultRoom}, StatusPage: b.pageCheck,
	}); err != nil {
		return nil, err
	}
	if b.hooks, err = webhooks.OpenStore(ctx, db, cfg.Webhooks, webhooks.Options{PublicURL: cfg.PublicURL}); err != nil {
		return nil, err
	}
	b.hookChat = webhook.New(webhook.Options{Secret: func(name string) (string, bool) { return b.hooks.Load().Secret(name) }})

	b.teams = teams.New(teams.Options{
		DB: db, Rooms: b.rooms.List, Room: b.rooms.Get, Team: b.team, Now: b.now,
		Notify: func(rooms ...string) { b.outbox.Notify(rooms...) },
		Heard: func(q *outbox.Queue, e teams.Entry) ([]string, error) {
			if e.Kind != teams.KindChat {
				return nil, nil
			}
			return b.hooks.Load().TeamChat(q, e.Team, e.Origin, e.Text) // All-Chats
		},
	})
	if b.oncall, err = b.newOnCall(); err != nil {
		return nil, err
	}
	b.fan = fanout.New(fanout.Options{Router: b.router.Load, Capabilities: b.capabilities, PublicURL: cfg.PublicURL, TeamOf: b.teams.TeamOf,
		OnCall: func(room string, at time.Time) string { return b.oncall.Line(b.teams.TeamOf(room), at) }})
	b.tl = timeline.New(db, timeline.Options{Dispatch: b.dispatch, Now: b.now, Shown: render.AlertFields})
	b.tl.Subscribe(b.afterCommit)
	b.escalator = oncall.NewEscalator(oncall.EscalatorOptions{
		DB: db, Timeline: b.tl, OnCall: b.oncall, Room: b.rooms.Get,
		Logger: log.With("component", "escalations"), Now: b.now,
	})
	b.pages = b.newPages()

	b.cmds = commands.New(commands.Options{
		Timeline: b.tl,
		RoomOf:   b.roomOf,
		Extra: map[commands.Verb]func(context.Context, commands.Command, adapters.Inbound) (string, error){
			"route": b.routeCommand, "status": b.pages.StatusCommand, "oncall": b.oncall.Command(b.teamOfInbound),
		},
		Chat:  b.teams.Chat,
		Pages: b.pages.Command,
	})
	b.inbox = inbox.New(db, b.handle, inbox.Options{Logger: log.With("component", "inbox")})

	incidentPage := func(id uint64) string { return "/v1/incidents/" + strconv.FormatUint(id, 10) }
	for _, d := range list {
		built, err := d.Build(platform.Env{
			Config: cfg, DB: db, Inbox: b.inbox, Mux: b.mux, Log: log.With("adapter", d.Name),
			RoomExists: func(id string) bool { _, ok := b.rooms.ByPlatformID(d.Name, id); return ok },
			RoomNamed:  b.rooms.Exists,
			Room: func(id string) (rooms.Room, bool) {
				if name, ok := b.rooms.ByPlatformID(d.Name, id); ok {
					return b.rooms.Get(name)
				}
				return rooms.Room{}, false
			},
			RoomByName:   b.rooms.Get,
			Timeline:     b.tl,
			IncidentPath: func(id uint64) string { return incidentPage(id) },
			StatusPages:  b.pageLines,
		})
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", d.Name, err)
		}
		if built.Chat == nil {
			log.Info("chat adapter off", "platform", d.Name, "enable", built.Off)
			continue
		}
		if built.IncidentPage != nil {
			incidentPage = built.IncidentPage
		}
		b.chats[d.Name] = built
	}

	b.outbox = outbox.New(db, outbox.Options{
		Resolve:     b.resolveRoom,
		MaxAge:      cfg.Outbox.MaxAge,
		BaseBackoff: cfg.Outbox.BaseBackoff,
		MaxBackoff:  cfg.Outbox.MaxBackoff,
		Dead:        b.pages.Refused,
		Logger:      log.With("component", "outbox"),
		Metrics:     b.reg,
	})

	if err := b.oncall.Seed(ctx, cfg.Schedules); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}

	ingest.New(ingest.Options{
		Token:         cfg.IngestToken,
		MaxFields:     cfg.Ingest.MaxFields,
		MaxAlertBytes: cfg.Ingest.MaxAlertBytes,
		Sink:          b.tl,
		Logger:        log.With("component", "ingest"),
		Metrics:       b.reg,
		Now:           b.now,
	}).Register(b.mux)
	b.registerAPI()
	b.guard = hostguard.New(accesslog.Handler(b.mux, log.With("component", "http"), adminWrite), hostguard.Options{
		Listen: cfg.Listen, PublicURL: cfg.PublicURL, PublicURLSet: cfg.PublicURLSet(), Allowed: list.Hosts(cfg),
		Open: []string{"/healthz", "/readyz", "/metrics"}, Log: log.With("component", "http"),
	})
	if len(cfg.StatusPages) > 0 && cfg.StatusAdmins == nil {
		log.Info("every sitrep room may change the status pages from chat (/incident open, update, resolve, maintenance)",
			"limit", "set status_admins: {rooms: [...], users: [platform:user, ...]}")
	}
	if !b.guard.Checks() {
		log.Warn("sitrep listens beyond loopback and checks no Host header: a DNS-rebinding page could reach it",
			"fix", "set public_url (and web.allowed_hosts for other names it is reached by)")
	}
	return b, nil
}

// dispatch is the timeline's Dispatcher: escalations, fan-out, the status pages and the
// outgoing webhooks (which read the fields routing set), into the event's
// transaction.
func (b *Bot) dispatch(tx *bolt.Tx, inc *timeline.Incident, ev *timeline.Event) (timeline.Dispatched, error) {
	// Escalations first: an escalated event gets its text (who is on call)
	// before fan-out renders it.
	escalated, err := b.escalator.Dispatch(tx, inc, ev)
	if err != nil {
		return timeline.Dispatched{}, err
	}
	w := txWriter{Queue: outbox.TxQueue(tx, b.now()), tx: tx}
	routed, err := b.fan.Dispatch(w, inc, ev)
	if err != nil {
		return timeline.Dispatched{}, err
	}
	if err := b.escalator.Schedule(tx, inc, ev, routed.Escalations); err != nil {
		return timeline.Dispatched{}, err
	}
	d, err := b.pages.Dispatch(tx, w.Queue, inc, ev, routed.StatusPages)
	if err != nil {
		return timeline.Dispatched{}, err
	}
	hooks, err := b.hooks.Load().Dispatch(tx, w, inc, ev)
	if err != nil {
		return timeline.Dispatched{}, err
	}
	d.Wake = append(append(d.Wake, hooks...), escalated...)
	return d, nil
}

// txWriter is fan-out's Writer over one transaction.
type txWriter struct {
	*outbox.Queue
	tx *bolt.Tx
}

func (w txWriter) TeamLog(team string, e teams.Entry) error {
	_, err := teams.Log(w.tx, team, e)
	return err
}

// team is a team's settings from the config.
func (b *Bot) team(name string) (teams.Team, bool) {
	t, ok := b.cfg.Team(name)
	if !ok {
		return teams.Team{}, false
	}
	return teams.Team{Name: t.Name, TimeZone: t.Location(), BridgeChat: t.Bridges()}, true
}

// afterCommit runs once an event is durable: wake the outbox for its rooms.
func (b *Bot) afterCommit(r timeline.Result) {
	b.events.WithLabelValues(string(r.Event.Kind)).Inc()
	for _, f := range r.Follow {
		b.events.WithLabelValues(string(f.Kind)).Inc()
	}
	b.outbox.Notify(r.Incident.Rooms...)
	b.outbox.Notify(r.Wake...)
}

// handle is the inbox's Handler: the commands, less a Quiet reply where the
// platform cannot show it to its sender alone.
func (b *Bot) handle(ctx context.Context, in adapters.Inbound) (adapters.Reply, error) {
	r, err := b.cmds.Handle(ctx, in)
	if built, on := b.chats[in.Platform]; r.Quiet && (!on || !built.Chat.Capabilities().PrivateReplies) {
		return adapters.Reply{}, err
	}
	return r, err
}

// roomOf maps a platform's room ID to its sitrep room: the room with that
// ID, else the one the platform maps it to (a HipChat add-on install).
func (b *Bot) roomOf(platform, id string) (string, bool) {
	if name, ok := b.rooms.ByPlatformID(platform, id); ok {
		return name, true
	}
	if built, on := b.chats[platform]; on && built.RoomOf != nil {
		if name, ok := built.RoomOf(id); ok && b.rooms.Exists(name) {
			return name, true
		}
	}
	return "", false
}

// capabilities are those of the platform of the room named name, as the
// room uses them.
func (b *Bot) capabilities(name string) (adapters.Capabilities, bool) {
	r, ok := b.rooms.Get(name)
	if !ok {
		return adapters.Capabilities{}, false
	}
	built, on := b.chats[r.Platform]
	if !on {
		return adapters.Capabilities{}, false
	}
	caps := built.Chat.Capabilities()
	caps.Threads = caps.Threads && r.ThreadsOn() // a room may post in the room instead
	return caps, true
}

// routeCommand answers "/route test key=value ..." typed in a room.
func (b *Bot) routeCommand(_ context.Context, cmd commands.Command, _ adapters.Inbound) (string, error) {
	if cmd.Sub != "test" {
		return "usage: /route test key=value ...", nil
	}
	return b.explainRoute(cmd.Args).String(), nil
}

// explainRoute is route test's answer: how the routes take the alert, and
// which outgoing webhooks a new incident of it would fire.
func (b *Bot) explainRoute(fields map[string]string) routing.Explanation {
	r := b.router.Load()
	ex := r.Explain(fields, nil)
	b.hooks.Load().ExplainInto(&ex, r.Route(fields, nil).Fields, b.now())
	return ex
}

// Handler is the bot's HTTP handler (for tests and for embedding): every
// route, behind the Host check.
func (b *Bot) Handler() http.Handler { return b.guard }

// Timeline exposes the bot's timeline.
func (b *Bot) Timeline() *timeline.Timeline { return b.tl }

// Run serves on ln until ctx ends, then shuts down gracefully: in-flight
// requests finish, the platforms close, the outbox stops, bbolt closes.
func (b *Bot) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           b.guard,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	loopCtx, stopLoops := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loopErrs := make(chan error, 6+len(b.chats))
	loop := func(name string, run func(context.Context) error) {
		loops.Go(func() {
			if err := run(loopCtx); err != nil && !errors.Is(err, context.Canceled) {
				loopErrs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	loop("outbox", b.outbox.Run)
	loop("inbox", b.inbox.Run)
	loop("oncall", b.oncall.Run)
	loop("escalations", b.escalator.Run)
	loop("status pages", b.pages.Run)
	loop("retention", b.newPruner().Run)
	for name, built := range b.chats {
		if built.Run != nil {
			loop(name, built.Run)
		}
	}

	// What responders sent before the last stop that sitrep had not handled.
	if n, err := b.inbox.Replay(ctx); err != nil {
		b.log.Error("inbound left over from the last run", "err", err)
	} else if n > 0 {
		b.log.Info("handled inbound left over from the last run", "count", n)
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	b.ready.Store(true)
	b.log.Info("sitrep ready", "listen", ln.Addr().String(), "data", b.db.Path(), "platforms", b.on(), "rooms", b.roomURLs(20))

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
	for _, built := range b.chats {
		if built.Close != nil {
			built.Close()
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil && err == nil {
		err = fmt.Errorf("http shutdown: %w", serr)
	}
	stopLoops()
	loops.Wait()
	close(loopErrs)
	for lerr := range loopErrs {
		if err == nil {
			err = lerr
		}
	}
	if cerr := b.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close storage: %w", cerr)
	}
	return err
}

// roomURLs lists up to n rooms' pages on sitrep's own server, for the ready line.
func (b *Bot) roomURLs(n int) []string {
	var out []string
	for _, r := range b.rooms.List() {
		if p := b.page(r.WithDefaults()); p != "" && len(out) < n {
			out = append(out, strings.TrimRight(b.cfg.PublicURL, "/")+p)
		}
	}
	return out
}

// adminWrite reports whether r is a write to the admin API (logged at info);
// alerts and platforms' inbound traffic are logged at debug when accepted.
func adminWrite(r *http.Request) bool {
	p := r.URL.Path
	return r.Method != http.MethodGet && strings.HasPrefix(p, "/v1/") && !ingest.IsPath(p)
}

// on lists the chat platforms that are on.
func (b *Bot) on() []string {
	var names []string
	for _, d := range b.platforms {
		if _, on := b.chats[d.Name]; on && d.PageKind == nil {
			names = append(names, d.Name)
		}
	}
	return names
}

// Close releases the store when Run was never called.
func (b *Bot) Close() error { return b.db.Close() }

func (b *Bot) resolveRoom(name string) (outbox.Endpoint, bool) {
	if e, ok := b.resolvePage(name); ok {
		return e, true
	}
	if strings.HasPrefix(name, webhooks.RoomPrefix) {
		// Unlimited: a receiver that wants less answers 429, which is waited out.
		return outbox.Endpoint{Room: adapters.Room{Name: name}, Chat: b.hookChat}, true
	}
	r, ok := b.rooms.Get(name)
	if !ok {
		return outbox.Endpoint{}, false
	}
	return b.endpoint(adapters.Room{Name: r.Name, ID: r.ID, Token: r.Token}, r.Platform), true
}

// endpoint is where deliveries to room on platform go: the platform's Chat
// if it is on (else one that fails, so they wait in the outbox), at its
// rate limit.
func (b *Bot) endpoint(room adapters.Room, platform string) outbox.Endpoint {
	var chat adapters.Chat = offChat{platform: platform}
	if built, on := b.chats[platform]; on {
		chat = built.Chat
	}
	return outbox.Endpoint{Room: room, Chat: chat, Limit: b.limit(platform)}
}

// limit is a platform's rate limit: rate_limits' if set, else its descriptor's.
func (b *Bot) limit(name string) outbox.Limit {
	if l, ok := b.cfg.RateLimits[name]; ok {
		return outbox.Limit{Messages: l.Messages, Per: l.Per}
	}
	if d, ok := b.platforms.Get(name); ok {
		return outbox.Limit{Messages: d.Limit.Messages, Per: d.Limit.Per}
	}
	return outbox.Limit{}
}

// offChat stands in for a platform whose adapter is off: deliveries wait in the
// outbox (and retry) until it is turned on or they reach the outbox's max age.
type offChat struct{ platform string }

func (o offChat) Platform() string { return o.platform }

func (o offChat) Capabilities() adapters.Capabilities { return adapters.Capabilities{} }

func (o offChat) Deliver(context.Context, adapters.Delivery) (string, error) {
	return "", fmt.Errorf("the %s adapter is off: set its credentials and restart", o.platform)
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
