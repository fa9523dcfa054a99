package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/oncall"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
)

// Validate checks that the config can work, as Parse and Load do after
// filling defaults. It returns nil or a *Errors listing every problem, each
// with its key and, for a config read from a file, its line.
func (c *Config) Validate() error {
	errs := c.validate()
	if len(errs) == 0 {
		return nil
	}
	return finish(errs, c.secrets())
}

// problems collects what Validate finds.
type problems struct {
	c    *Config
	errs Errors
}

// add records a problem with key, at the line of key in the file, or of the
// nearest enclosing key written there. A value that came from an environment
// variable has no line; the message names the variable instead.
func (p *problems) add(key, format string, args ...any) *Error {
	e := &Error{File: p.c.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if v := p.c.env[key]; v != "" {
		e.Msg += " (set by " + v + ")"
	} else {
		e.Line = p.c.lineOf(key)
	}
	p.errs = append(p.errs, e)
	return e
}

// lineOf is Line for key, or else for the nearest enclosing key that has one:
// a missing "routes[2].name" points at routes[2].
func (c *Config) lineOf(key string) int {
	for key != "" {
		if l, ok := c.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

func (c *Config) validate() Errors {
	p := &problems{c: c}
	p.listen()
	if c.Data == "" {
		p.add("data", "required: the file sitrep keeps incidents in")
	}
	p.url("public_url", c.PublicURL, true)
	p.log()
	p.tokens()
	p.blocks()
	p.rooms()
	p.teams()
	p.defaultRoom()
	p.statusPages()
	p.statusAdmins()
	p.routes()
	p.webhooks()
	p.schedules()
	p.outbox()
	p.retention()
	if c.Ingest.MaxFields < 0 {
		p.add("ingest.max_fields", "must not be negative (leave it out for the default, 256)")
	}
	if c.Ingest.MaxAlertBytes < 0 {
		p.add("ingest.max_alert_bytes", "must not be negative (leave it out for the default, 65536)")
	}
	p.rateLimits()
	return p.errs
}

func (p *problems) listen() {
	_, port, err := net.SplitHostPort(p.c.Listen)
	if err != nil {
		p.add("listen", "expected host:port such as 127.0.0.1:8080%s", got("listen", p.c.Listen))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("listen", "port must be a number from 0 to 65535%s", got("listen", port))
	}
}

// url checks an absolute http(s) base URL; empty is fine unless required.
func (p *problems) url(key, raw string, required bool) {
	if raw == "" {
		if required {
			p.add(key, "required")
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(key, "expected an absolute http:// or https:// URL%s", got(key, raw))
		return
	}
	if u.User != nil {
		p.add(key, "must not hold credentials (user:password@)")
	}
}

func (p *problems) log() {
	switch p.c.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", "expected text or json%s", got("log.format", p.c.Log.Format))
	}
	switch p.c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "expected debug, info, warn or error%s", got("log.level", p.c.Log.Level))
	}
}

func (p *problems) tokens() {
	c := p.c
	for _, t := range []struct{ key, val string }{{"ingest_token", c.IngestToken}, {"admin_token", c.AdminToken}} {
		if t.val == "" {
			p.add(t.key, "required: set it here or in %s", envName(t.key))
		}
	}
	if c.IngestToken != "" && c.IngestToken == c.AdminToken {
		p.add("admin_token", "must differ from ingest_token: alert sources hold the ingest token and must not get admin rights with it")
	}
}

// blocks lets each platform check its own block.
func (p *problems) blocks() {
	for _, pl := range p.c.platforms {
		if pl.Check != nil {
			pl.Check(p.c.blocks[pl.Name], &Problems{p})
		}
	}
}

func (p *problems) rooms() {
	c := p.c
	first := map[string]int{}
	for i, r := range c.Rooms {
		prefix := fmt.Sprintf("rooms[%d]", i)
		// A config made in code with no platforms checks no platform rules.
		if r.Platform != "" && len(c.platforms) > 0 && !slices.Contains(c.Platforms(), r.Platform) {
			p.add(prefix+".platform", "unknown platform %q: one of %s", r.Platform, strings.Join(c.Platforms(), ", "))
		} else if pl, ok := c.platform(r.Platform); ok && pl.PageKind != nil {
			p.add(prefix+".platform", "%s is a status page kind, not a chat platform: list the page under status_pages", r.Platform)
		} else if err := r.Validate(); err != nil {
			var fe *rooms.FieldError
			if errors.As(err, &fe) {
				p.add(prefix+"."+fe.Field, "%s", fe.Msg).err = err
			} else {
				p.add(prefix, "%v", err).err = err
			}
		} else {
			p.platformOn(prefix, r)
		}
		if r.Name == "" {
			continue
		}
		if j, dup := first[r.Name]; dup {
			p.add(prefix+".name", "duplicate room name %q: also rooms[%d].name (line %d)", r.Name, j, c.lineOf(fmt.Sprintf("rooms[%d].name", j)))
			continue
		}
		first[r.Name] = i
	}
}

// platformOn checks that a room's platform is on, and what the platform
// asks of a room.
func (p *problems) platformOn(prefix string, r rooms.Room) {
	r = r.WithDefaults()
	pl, ok := p.c.platform(r.Platform)
	if !ok {
		return
	}
	block := p.c.blocks[pl.Name]
	if pl.On != nil {
		if on, why := pl.On(block); !on {
			p.add(prefix+".platform", "%s", why)
			return
		}
	}
	if pl.Room != nil {
		if field, msg := pl.Room(block, r); field != "" {
			p.add(prefix+"."+field, "%s", msg)
		}
	}
}

func (p *problems) teams() {
	first := map[string]int{}
	for i, t := range p.c.Teams {
		prefix := fmt.Sprintf("teams[%d]", i)
		if err := (rooms.Room{Name: t.Name, Platform: "x"}).Validate(); t.Name == "" || err != nil {
			p.add(prefix+".name", "%s is not a valid team name (letters, digits, '.', '_', '-'; up to 64)", show(prefix+".name", t.Name))
		} else if j, dup := first[t.Name]; dup {
			p.add(prefix+".name", "duplicate team %q: also teams[%d]", t.Name, j)
		} else {
			first[t.Name] = i
		}
		if t.TimeZone != "" {
			if _, err := time.LoadLocation(t.TimeZone); err != nil {
				p.add(prefix+".time_zone", "unknown time zone%s: use an IANA name such as Europe/Berlin", got(prefix+".time_zone", t.TimeZone))
			}
		}
	}
}

func (p *problems) schedules() {
	c := p.c
	first := map[string]int{}
	for i, s := range c.Schedules {
		prefix := fmt.Sprintf("schedules[%d]", i)
		t, _ := c.Team(s.Team)
		if _, err := oncall.Compile(s, t.Location()); err != nil {
			for _, fe := range oncall.Problems(err) {
				p.add(prefix+"."+fe.Field, "%s", fe.Msg)
			}
		}
		if j, dup := first[s.Team]; dup && s.Team != "" {
			p.add(prefix+".team", "team %q already has a schedule: schedules[%d]", s.Team, j)
		} else {
			first[s.Team] = i
		}
	}
	for _, fe := range oncall.CheckUsers(c.Users) {
		p.add(fe.Field, "%s", fe.Msg)
	}
}

// Warnings lists what works but is likely a mistake, each naming its key
// and line: a schedule for a team that has no rooms announces to no one.
func (c *Config) Warnings() []string {
	var out []string
	for i, s := range c.Schedules {
		has := false
		for _, r := range c.Rooms {
			has = has || r.Team == s.Team
		}
		if !has {
			key := fmt.Sprintf("schedules[%d].team", i)
			out = append(out, fmt.Sprintf("%s:%d: %s: team %q has no rooms: its handoffs are announced in none (give rooms team: %s)", c.file, c.lineOf(key), key, s.Team, s.Team))
		}
	}
	return out
}

func (p *problems) defaultRoom() {
	c := p.c
	if c.DefaultRoom == "" {
		p.add("default_room", "required: the room that gets alerts no route sends elsewhere")
		return
	}
	if !c.roomExists(c.DefaultRoom) {
		p.add("default_room", "%s is not one of the rooms (%s)", show("default_room", c.DefaultRoom), strings.Join(c.roomNames(), ", "))
	}
}

func (c *Config) roomExists(name string) bool {
	for _, r := range c.Rooms {
		if r.Name == name {
			return true
		}
	}
	return false
}

func (c *Config) roomNames() []string {
	names := make([]string, 0, len(c.Rooms))
	for _, r := range c.Rooms {
		names = append(names, r.Name)
	}
	return names
}

func (p *problems) routes() {
	c := p.c
	// default_room is checked on its own (with its line), so not again here.
	_, err := routing.Compile(c.Routes, routing.Options{RoomExists: c.roomExists, StatusPage: c.pageCheck})
	if err == nil {
		return
	}
	res := routing.RuleErrors(err)
	if len(res) == 0 {
		p.add("routes", "%v", err).err = err
		return
	}
	for _, re := range res {
		key := fmt.Sprintf("routes[%d]", re.Index)
		if re.Field != "" {
			key += "." + re.Field
		}
		msg := "<nil>"
		if re.Err != nil {
			msg = re.Err.Error()
		}
		p.add(key, "%s", msg).err = re
	}
}

func (p *problems) retention() {
	if _, err := ParseRetention(p.c.Retention); err != nil {
		p.add("retention", "%s", err.Error())
	}
}

func (p *problems) outbox() {
	o := p.c.Outbox
	for _, d := range []struct {
		key string
		val int64
	}{{"outbox.max_age", int64(o.MaxAge)}, {"outbox.base_backoff", int64(o.BaseBackoff)}, {"outbox.max_backoff", int64(o.MaxBackoff)}} {
		if d.val < 0 || d.val == 0 && p.c.set(d.key) {
			p.add(d.key, "must be longer than 0 (leave it out for the default)")
		}
	}
	if o.BaseBackoff > 0 && o.MaxBackoff > 0 && o.BaseBackoff > o.MaxBackoff {
		p.add("outbox.base_backoff", "must not be longer than outbox.max_backoff (%s)", o.MaxBackoff)
	}
}

func (p *problems) rateLimits() {
	for _, name := range slices.Sorted(maps.Keys(p.c.RateLimits)) {
		l := p.c.RateLimits[name]
		key := "rate_limits." + name
		if _, ok := p.c.platform(name); !ok {
			p.add(key, "unknown platform (known: %s)", strings.Join(p.c.Platforms(), ", "))
			continue
		}
		if l.Messages <= 0 {
			p.add(key+".messages", "must be at least 1")
		}
		if l.Per <= 0 {
			p.add(key+".per", "must be longer than 0")
		}
	}
}
