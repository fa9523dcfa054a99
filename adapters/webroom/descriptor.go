package webroom

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platform"
	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/timeline"
)

// Config is the web room's block of settings, under web: in the config file.
type Config struct {
	Enabled        *bool    `yaml:"enabled"`                                // default true; see On
	Key            string   `yaml:"key" secret:"true" env:"SITREP_WEB_KEY"` // optional: if set, room pages and websockets need ?key=
	History        int      `yaml:"history"`                                // messages replayed to a late joiner; default 100, 0 written out means none
	AllowedOrigins []string `yaml:"allowed_origins"`                        // extra origins allowed to open websockets (same-origin always is)
	AllowedHosts   []string `yaml:"allowed_hosts"`                          // host names sitrep is reached by beyond public_url's (and loopback's, while it listens on loopback only)
	// Users are people with a key of their own, by the name they are shown
	// as: their lines carry that name, verified; everyone else's is marked
	// unverified.
	Users map[string]User `yaml:"users"`
}

// User is one web.users entry.
type User struct {
	// Key opens the rooms as web.key does, and names its holder.
	Key string `yaml:"key" secret:"true" env:"SITREP_WEB_USER_*_KEY"`
}

// userKeys is users as Options.Users takes them: name → key.
func userKeys(users map[string]User) map[string]string {
	if len(users) == 0 {
		return nil
	}
	out := make(map[string]string, len(users))
	for name, u := range users {
		out[name] = u.Key
	}
	return out
}

// On reports whether web rooms are served: they are unless enabled is false.
func (c Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Descriptor is the web room as a sitrep platform.
func Descriptor() platform.Descriptor {
	return platform.Descriptor{
		Platform: config.Platform{
			Name:  Platform,
			Key:   "web",
			New:   func() any { return &Config{History: defaultHistory} },
			Limit: platform.Limit{Messages: 20, Per: time.Second},
			Check: check,
			On: func(b any) (bool, string) {
				return b.(*Config).On(), "web rooms are off (web.enabled: false)"
			},
			Room: func(b any, r rooms.Room) (string, string) {
				if r.Token != "" {
					return "token", "platform webroom takes no per-room token (its credentials are set once for the platform)"
				}
				if !ValidRoomName(r.WithDefaults().ID) {
					return "id", "a web room's id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
				}
				return "", ""
			},
		},
		Hosts: func(b any) []string { return b.(*Config).AllowedHosts },
		Build: func(env platform.Env) (platform.Built, error) {
			cfg := config.BlockOf[Config](env.Config, Platform)
			if !cfg.On() {
				return platform.Built{Off: "set web.enabled: true"}, nil
			}
			if !loopback(env.Config.Listen) && cfg.Key == "" {
				env.Log.Warn("web rooms are open to anyone who reaches "+env.Config.Listen+": they can read incidents and ack them",
					"fix", "set web.key (or SITREP_WEB_KEY) and open rooms as /rooms/NAME?key=...")
			}
			opts := Options{
				Key: cfg.Key, Users: userKeys(cfg.Users), History: cfg.History, AllowedOrigins: cfg.AllowedOrigins, Logger: env.Log,
				Exists: env.RoomExists, Room: env.Room,
			}
			if env.Timeline != nil {
				opts.Incident = env.Timeline.Incident
			}
			if env.StatusPages != nil {
				opts.StatusPages = func(inc timeline.Incident) []StatusPageState {
					var out []StatusPageState
					for _, line := range env.StatusPages(inc.ID) {
						page, state, _ := strings.Cut(line, ": ")
						out = append(out, StatusPageState{Page: page, State: state})
					}
					return out
				}
			}
			if env.RoomByName != nil {
				opts.RoomPath = func(name string) (string, bool) {
					r, ok := env.RoomByName(name)
					if !ok || r.Platform != Platform {
						return "", false
					}
					return "/rooms/" + url.PathEscape(r.WithDefaults().ID), true
				}
			}
			w := New(env.DB, env.Inbox, opts)
			w.Register(env.Mux)
			built := platform.Built{Chat: w, Close: w.Close, Page: func(r rooms.Room) string { return "/rooms/" + url.PathEscape(r.ID) }}
			if opts.Incident != nil {
				built.IncidentPage = func(id uint64) string { return "/incidents/" + strconv.FormatUint(id, 10) }
			}
			return built, nil
		},
	}
}

func check(b any, p *config.Problems) {
	w := b.(*Config)
	if w.History < 0 {
		p.Add("web.history", "must not be negative")
	}
	names := make([]string, 0, len(w.Users))
	for name := range w.Users {
		names = append(names, name)
	}
	slices.Sort(names)
	holder := map[string]string{}
	for _, name := range names {
		key := "web.users." + name
		switch {
		case name == "" || cleanUser(name) != name || strings.HasSuffix(name, strings.TrimSpace(unverifiedMark)):
			p.Add(key, "a user's name is up to %d characters, with no control characters or surrounding spaces, and does not end in %q", maxUserRunes, strings.TrimSpace(unverifiedMark))
		case reservedName(name):
			p.Add(key, "%q is sitrep's own name: choose another", name)
		}
		k := w.Users[name].Key
		switch {
		case k == "":
			p.Add(key+".key", "required: the key that names its holder %s (here or SITREP_WEB_USER_%s_KEY)", name, config.EnvSuffix(name))
		case w.Key != "" && k == w.Key:
			p.Add(key+".key", "must differ from web.key: everyone with web.key would be shown as %s", name)
		case holder[k] != "":
			p.Add(key+".key", "the same key as web.users.%s: each user needs a key of their own", holder[k])
		default:
			holder[k] = name
		}
	}
	for i, h := range w.AllowedHosts {
		if key := fmt.Sprintf("web.allowed_hosts[%d]", i); h == "" || strings.ContainsAny(h, "/ @?#") {
			p.Add(key, "expected a host name such as status.example.com, optionally with a port%s", p.Got(key, h))
		}
	}
	for i, o := range w.AllowedOrigins {
		key := fmt.Sprintf("web.allowed_origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			p.Add(key, "expected an origin such as https://status.example.com (scheme, host and optional port, nothing else)%s", p.Got(key, o))
		}
	}
}

// loopback reports whether a listen address is reachable from this machine only.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
