// Package config reads sitrep's YAML config file, strictly: an unknown key,
// a value of the wrong type, a duplicate key or a setting that cannot work is
// an error naming the key path and the line, and every such problem in the file
// is reported at once. Credentials may also come from SITREP_* environment
// variables, which win over the file. No error and no Redacted copy shows a
// credential's value.
package config

import (
	"fmt"
	"maps"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sitrep/sitrep/oncall"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/webhooks"
)

// Config is sitrep's whole configuration.
type Config struct {
	Listen      string               `yaml:"listen"`       // address to serve HTTP on; default "127.0.0.1:8080" (loopback only)
	Data        string               `yaml:"data"`         // bbolt file; default "sitrep.db"
	PublicURL   string               `yaml:"public_url"`   // base for links in messages; default "http://" + Listen
	Log         Log                  `yaml:"log"`          //
	IngestToken string               `yaml:"ingest_token"` // required (here or SITREP_INGEST_TOKEN): alert sources present it
	AdminToken  string               `yaml:"admin_token"`  // required (here or SITREP_ADMIN_TOKEN): the admin API takes it
	DefaultRoom string               `yaml:"default_room"` // required: where alerts no route claims go; must name a room
	Rooms       []rooms.Room         `yaml:"rooms"`        //
	Teams       []Team               `yaml:"teams"`        // settings of the teams rooms name (a team no entry names takes the defaults)
	Routes      []routing.Rule       `yaml:"routes"`       // ordered routing rules
	Outbox      Outbox               `yaml:"outbox"`       //
	Ingest      Ingest               `yaml:"ingest"`       // caps on what one alert may carry
	RateLimits  map[string]RateLimit `yaml:"rate_limits"`  // by platform name
	StatusPages []StatusPage         `yaml:"status_pages"` // status pages routes publish on
	// DefaultStatusPage is the page /incident commands use without --page
	// when there is more than one; must name one of status_pages.
	DefaultStatusPage string `yaml:"default_status_page"`
	// StatusAdmins says who may change status pages from chat; nil: every room.
	StatusAdmins *StatusAdmins          `yaml:"status_admins"`
	Webhooks     []webhooks.Hook        `yaml:"webhooks"`  // outgoing webhooks, Splunk On-Call style
	Schedules    []oncall.Schedule      `yaml:"schedules"` // on-call schedules, one per team
	Users        map[string]oncall.User `yaml:"users"`     // people's user IDs by platform, for mentions
	Retention    string                 `yaml:"retention"` // how long a resolved incident is kept after its last event ("90d", "2160h"); "0" or "off" keeps everything; default 90d (see RetentionPeriod)
	// Each platform's own block (web:, hipchat:, ...) is read into the
	// block its Platform gives; see Block.

	platforms []Platform        // the platforms Parse was given
	blocks    map[string]any    // platform name → its block
	file      string            // name given to Parse, for messages
	lines     map[string]int    // key path → line, from the file
	env       map[string]string // key path → the variable that set it
}

// Log sets how sitrep logs.
type Log struct {
	Format string `yaml:"format"` // text or json; default text
	Level  string `yaml:"level"`  // debug, info, warn or error; default info
}

// Ingest caps what one alert may carry; an alert beyond them gets 422.
type Ingest struct {
	MaxFields     int `yaml:"max_fields"`      // default 256
	MaxAlertBytes int `yaml:"max_alert_bytes"` // bytes of field names and values; default 65536
}

// Team is one team's settings. Rooms that name the same team are linked.
type Team struct {
	Name string `yaml:"name"`
	// TimeZone is the IANA zone on-call and chat commands use for the team; default UTC.
	TimeZone string `yaml:"time_zone"`
	// BridgeChat mirrors chat lines that name no incident to the team's
	// other rooms; default true.
	BridgeChat *bool `yaml:"bridge_chat"`
}

// Bridges reports whether the team mirrors chat: it does unless bridge_chat is false.
func (t Team) Bridges() bool { return t.BridgeChat == nil || *t.BridgeChat }

// Location is the team's time zone (UTC if unset or unknown).
func (t Team) Location() *time.Location {
	if t.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Team returns the settings of the team named name.
func (c *Config) Team(name string) (Team, bool) {
	for _, t := range c.Teams {
		if t.Name == name {
			return t, true
		}
	}
	return Team{}, false
}

// Outbox sets how long and how often sitrep retries a delivery.
type Outbox struct {
	MaxAge      time.Duration `yaml:"max_age"`      // default 24h; after it an undeliverable entry goes to the dead-letter list
	BaseBackoff time.Duration `yaml:"base_backoff"` // default 1s
	MaxBackoff  time.Duration `yaml:"max_backoff"`  // default 10s: a room is retried within seconds of its platform coming back
}

// RateLimit is how many messages sitrep sends to one platform per interval.
type RateLimit struct {
	Messages int           `yaml:"messages"`
	Per      time.Duration `yaml:"per"`
}

// Defaults.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultData        = "sitrep.db"
	DefaultLogFormat   = "text"
	DefaultLogLevel    = "info"
	DefaultMaxAge      = 24 * time.Hour
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 10 * time.Second
	DefaultRetention   = "90d"
)

// ParseRetention reads a retention: a Go duration ("2160h"), a number of
// days ("90d"), or "0" or "off" (0: keep everything); "" is the default.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultRetention
	}
	if s == "off" || s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("expected a number of days from 1 to 65535 before \"d\", got %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf(`expected a retention such as "90d", "2160h", or "off", got %q`, s)
	}
	return d, nil
}

// RetentionPeriod is how long resolved incidents are kept (0: forever).
// Validate has checked it parses.
func (c *Config) RetentionPeriod() time.Duration {
	d, _ := ParseRetention(c.Retention)
	return d
}

// envVar ties an environment variable to the key it overrides.
type envVar struct {
	name string
	key  string
	dst  func(*Config) *string
}

func envVars() []envVar {
	return []envVar{
		{"SITREP_LISTEN", "listen", func(c *Config) *string { return &c.Listen }},
		{"SITREP_DATA", "data", func(c *Config) *string { return &c.Data }},
		{"SITREP_INGEST_TOKEN", "ingest_token", func(c *Config) *string { return &c.IngestToken }},
		{"SITREP_ADMIN_TOKEN", "admin_token", func(c *Config) *string { return &c.AdminToken }},
	}
}

// envName returns the variable that can set key, or "".
func envName(key string) string {
	for _, v := range envVars() {
		if v.key == key {
			return v.name
		}
	}
	return ""
}

// Load reads the config file at path, applies SITREP_* environment
// variables, fills defaults and validates it, for the platforms listed (each
// with its own block of settings). On any problem it returns a *Errors
// listing them all.
func Load(path string, platforms ...Platform) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{{File: path, Msg: fmt.Sprintf("cannot read config: %v", err), err: err}}
	}
	return Parse(data, path, os.Getenv, platforms...)
}

// Parse is Load on bytes already read: name is used in messages, env looks up
// environment variables (os.Getenv, or nil for none). On any problem it
// returns a *Errors listing them all.
func Parse(data []byte, name string, env func(string) string, platforms ...Platform) (*Config, error) {
	d := newDecoder(name)
	blocks := map[string]any{}
	for _, p := range platforms {
		if p.New == nil {
			continue
		}
		b := p.New()
		blocks[p.Name] = b
		if p.Key != "" {
			d.blocks = append(d.blocks, block{p.Key, reflect.ValueOf(b).Elem()})
		}
	}
	root := d.parseDocument(data)
	if root == nil {
		// The file as a whole is unusable: validating would only add that every key is missing.
		return nil, finish(d.errs, d.secrets)
	}
	if root.Kind != yaml.MappingNode {
		d.fail(root.Line, "", "the top level must be a mapping of keys such as listen, rooms and routes, got %s", describe(root))
		return nil, finish(d.errs, d.secrets)
	}
	c := &Config{file: name, platforms: platforms, blocks: blocks}
	d.decode(root, reflect.ValueOf(c).Elem(), "", root.Line)
	c.lines = d.lines
	c.applyEnv(env)
	c.applyDefaults()
	errs := d.errs
	if err := c.validate(); len(err) > 0 {
		errs = append(errs, err...)
	}
	if len(errs) == 0 {
		return c, nil
	}
	return nil, finish(errs, append(d.secrets, c.secrets()...))
}

// finish makes the problems fit to show: no secret values, no repeats, in line order.
func finish(errs Errors, secrets []string) *Errors {
	errs.scrub(secrets)
	errs = dedupe(errs)
	errs.sortByLine()
	return &errs
}

// dedupe drops repeats of a problem, which a mapping merged (<<) into
// several places would otherwise report once per place.
func dedupe(errs Errors) Errors {
	type k struct {
		line     int
		key, msg string
	}
	seen := map[k]bool{}
	out := errs[:0]
	for _, e := range errs {
		if seen[k{e.Line, e.Key, e.Msg}] {
			continue
		}
		seen[k{e.Line, e.Key, e.Msg}] = true
		out = append(out, e)
	}
	return out
}

// applyEnv lets every set, non-empty SITREP_* variable override its key.
func (c *Config) applyEnv(env func(string) string) {
	if env == nil {
		return
	}
	set := func(name, key string, dst func(string)) {
		if val := env(name); val != "" {
			dst(val)
			if c.env == nil {
				c.env = map[string]string{}
			}
			c.env[key] = name
		}
	}
	for _, v := range envVars() {
		set(v.name, v.key, func(val string) { *v.dst(c) = val })
	}
	for _, p := range c.platforms {
		blockFields(c.blocks[p.Name], p.Key, func(path string, tag reflect.StructTag, f reflect.Value) {
			if name := tag.Get("env"); name != "" {
				set(name, path, f.SetString)
			}
		})
	}
	c.applyPageEnv(set)
	c.applyWebhookEnv(set)
}

// PublicURLSet reports whether public_url was configured rather than derived from listen.
func (c *Config) PublicURLSet() bool { return c.set("public_url") }

// set reports whether key was written in the file.
func (c *Config) set(key string) bool {
	_, ok := c.lines[key]
	return ok
}

// applyDefaults fills what the file left out. A value written out, even a
// zero, is kept for Validate to judge.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Data == "" {
		c.Data = DefaultData
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + browsable(c.Listen)
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Retention == "" && !c.set("retention") {
		c.Retention = DefaultRetention
	}
	if c.Outbox.MaxAge == 0 && !c.set("outbox.max_age") {
		c.Outbox.MaxAge = DefaultMaxAge
	}
	if c.Outbox.BaseBackoff == 0 && !c.set("outbox.base_backoff") {
		c.Outbox.BaseBackoff = DefaultBaseBackoff
	}
	if c.Outbox.MaxBackoff == 0 && !c.set("outbox.max_backoff") {
		c.Outbox.MaxBackoff = DefaultMaxBackoff
	}
	if c.RateLimits == nil {
		c.RateLimits = map[string]RateLimit{}
	}
	for _, pl := range c.platforms {
		p, def := pl.Name, pl.Limit
		l, ok := c.RateLimits[p]
		if !ok {
			c.RateLimits[p] = def
			continue
		}
		// A platform's entry that leaves out a field takes that field's default.
		if l.Messages == 0 && !c.set("rate_limits."+p+".messages") {
			l.Messages = def.Messages
		}
		if l.Per == 0 && !c.set("rate_limits."+p+".per") {
			l.Per = def.Per
		}
		c.RateLimits[p] = l
	}
}

// browsable turns a listen address into one a browser can reach: a listener
// on every interface (":8080", "0.0.0.0:8080") is reached through localhost.
func browsable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// Line returns the line of a key path such as "routes[2].matchers[0]" in the
// file the config was parsed from, or 0 if the file did not have that key.
func (c *Config) Line(key string) int { return c.lines[key] }

// RoomsByName returns the rooms by name, with defaults filled (a web room's ID is its name).
func (c *Config) RoomsByName() map[string]rooms.Room {
	m := make(map[string]rooms.Room, len(c.Rooms))
	for _, r := range c.Rooms {
		m[r.Name] = r.WithDefaults()
	}
	return m
}

// Limit returns the rate limit for a platform: the config's, else the
// platform's default; zero for an unknown platform.
func (c *Config) Limit(platform string) RateLimit {
	if l, ok := c.RateLimits[platform]; ok {
		return l
	}
	p, _ := c.platform(platform)
	return p.Limit
}

// Redacted returns a copy safe to print or log: every token and secret,
// including the rooms' tokens, cut to its last four characters.
func (c *Config) Redacted() Config {
	r := *c
	r.IngestToken = secret.Redact(c.IngestToken)
	r.AdminToken = secret.Redact(c.AdminToken)
	r.blocks = make(map[string]any, len(c.blocks))
	for name, b := range c.blocks {
		r.blocks[name] = redactedBlock(b)
	}
	r.Rooms = make([]rooms.Room, len(c.Rooms))
	for i, room := range c.Rooms {
		r.Rooms[i] = room.Redacted()
	}
	if c.Rooms == nil {
		r.Rooms = nil
	}
	if c.Routes != nil {
		r.Routes = make([]routing.Rule, len(c.Routes))
		for i, rt := range c.Routes {
			r.Routes[i] = rt.Redacted()
		}
	}
	r.RateLimits = maps.Clone(c.RateLimits)
	r.StatusPages = redactedPages(c.StatusPages)
	r.Webhooks = redactedWebhooks(c.Webhooks)
	return r
}

// secrets lists every credential the config holds.
func (c *Config) secrets() []string {
	s := []string{c.IngestToken, c.AdminToken}
	for _, r := range c.Rooms {
		s = append(s, r.Token, r.NotifyToken)
	}
	s = append(s, c.pageSecrets()...)
	s = append(s, c.webhookSecrets()...)
	for _, p := range c.platforms {
		blockFields(c.blocks[p.Name], p.Key, func(_ string, tag reflect.StructTag, f reflect.Value) {
			if tag.Get("secret") == "true" {
				s = append(s, f.String())
			}
		})
	}
	return s
}
