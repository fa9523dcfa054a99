package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/secret"
)

// StatusPage is one status page sitrep publishes incidents on. Its hook URLs
// carry their token and are credentials: no error and no Redacted copy shows
// them, and SITREP_STATUS_PAGE_<NAME>_URL (a page with one URL) or
// SITREP_STATUS_PAGE_<NAME>_<SERVICE>_URL (a service's) overrides the file.
type StatusPage struct {
	Name string `yaml:"name" json:"name"`
	Kind string `yaml:"kind" json:"kind"` // statushub, statuscast
	// URL is the page's one hook URL, for a kind without services (StatusCast).
	URL string `yaml:"url" json:"url,omitempty"`
	// Services maps each service of the page to its hook URL, for a kind with
	// services (StatusHub: one Generic Hook v2 URL per service).
	Services map[string]string `yaml:"services" json:"services,omitempty"`
}

// PageKind is what the config knows of a status page kind (a Platform whose
// PageKind is set): whether its pages list services, whether it is driven
// by monitors (an alert reaches it only with a monitor_name), and its name
// as people write it.
type PageKind struct {
	Services bool
	Monitor  bool
	Title    string // "StatusHub"
}

// StatusAdmins are who may change status pages from chat (/incident open,
// update, resolve, maintenance): anyone in one of Rooms, and the users
// listed as "platform:user ID" where the platform vouches for who they are
// (Slack, Discord, HipChat's signed add-on requests, web-room users named by
// their key).
type StatusAdmins struct {
	Rooms []string `yaml:"rooms"`
	Users []string `yaml:"users"`
}

// Allows reports whether a command from room by user on platform may change
// status pages; verified says whether the platform vouches for user.
func (a *StatusAdmins) Allows(room, platform, user string, verified bool) bool {
	if a == nil {
		return true
	}
	if room != "" && slices.Contains(a.Rooms, room) {
		return true
	}
	return verified && user != "" && slices.Contains(a.Users, platform+":"+user)
}

// StatusPage returns the status page named name.
func (c *Config) StatusPage(name string) (StatusPage, bool) {
	for _, p := range c.StatusPages {
		if p.Name == name {
			return p, true
		}
	}
	return StatusPage{}, false
}

// ServiceNames lists a page's services, sorted.
func (p StatusPage) ServiceNames() []string { return slices.Sorted(maps.Keys(p.Services)) }

// pageKinds lists the names of the platforms that are status page kinds.
func (c *Config) pageKinds() []string {
	var out []string
	for _, p := range c.platforms {
		if p.PageKind != nil {
			out = append(out, p.Name)
		}
	}
	return out
}

// EnvSuffix turns a name into its part of an environment variable's name:
// upper case, every character but letters and digits as '_'.
func EnvSuffix(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// applyPageEnv lets SITREP_STATUS_PAGE_* variables set hook URLs.
func (c *Config) applyPageEnv(set func(name, key string, dst func(string))) {
	for i := range c.StatusPages {
		p := &c.StatusPages[i]
		prefix := "SITREP_STATUS_PAGE_" + EnvSuffix(p.Name)
		set(prefix+"_URL", fmt.Sprintf("status_pages[%d].url", i), func(v string) { p.URL = v })
		for _, svc := range p.ServiceNames() {
			set(prefix+"_"+EnvSuffix(svc)+"_URL", fmt.Sprintf("status_pages[%d].services.%s", i, svc), func(v string) { p.Services[svc] = v })
		}
	}
}

func (p *problems) statusPages() {
	c := p.c
	first := map[string]int{}
	kinds := c.pageKinds()
	for i, sp := range c.StatusPages {
		prefix := fmt.Sprintf("status_pages[%d]", i)
		if err := (rooms.Room{Name: sp.Name, Platform: "x"}).Validate(); sp.Name == "" || err != nil {
			p.add(prefix+".name", "%s is not a valid status page name (letters, digits, '.', '_', '-'; up to 64)", show(prefix+".name", sp.Name))
		} else if j, dup := first[sp.Name]; dup {
			p.add(prefix+".name", "duplicate status page %q: also status_pages[%d]", sp.Name, j)
		} else {
			first[sp.Name] = i
		}
		kind, ok := c.platform(sp.Kind)
		if !ok || kind.PageKind == nil {
			p.add(prefix+".kind", "unknown status page kind%s: one of %s", got(prefix+".kind", sp.Kind), strings.Join(kinds, ", "))
			continue
		}
		if kind.PageKind.Services {
			if sp.URL != "" {
				p.add(prefix+".url", "a %s page has one hook URL per service: list them under services", sp.Kind)
			}
			if len(sp.Services) == 0 {
				p.add(prefix+".services", "required: each service of the page with its hook URL")
			}
			for _, svc := range sp.ServiceNames() {
				key := prefix + ".services." + svc
				if err := (rooms.Room{Name: svc, Platform: "x"}).Validate(); err != nil {
					p.add(key, "%s is not a valid service name (letters, digits, '.', '_', '-'; up to 64)", show(key, svc))
				}
				p.url(key, sp.Services[svc], true)
			}
			continue
		}
		if len(sp.Services) > 0 {
			p.add(prefix+".services", "a %s page has no services: give its hook as url", sp.Kind)
		}
		p.url(prefix+".url", sp.URL, true)
	}
}

// statusAdmins checks default_status_page and status_admins.
func (p *problems) statusAdmins() {
	c := p.c
	if c.DefaultStatusPage != "" {
		if _, ok := c.StatusPage(c.DefaultStatusPage); !ok {
			p.add("default_status_page", "unknown status page %q", c.DefaultStatusPage)
		}
	}
	if c.StatusAdmins == nil {
		return
	}
	for i, r := range c.StatusAdmins.Rooms {
		if r == "" {
			p.add(fmt.Sprintf("status_admins.rooms[%d]", i), "empty room name")
		}
	}
	for i, u := range c.StatusAdmins.Users {
		if pl, id, ok := strings.Cut(u, ":"); !ok || pl == "" || id == "" {
			p.add(fmt.Sprintf("status_admins.users[%d]", i), "expected platform:user, like slack:U123, got %q", u)
		}
	}
}

// CheckStatusPage checks one page as the config checks its status_pages
// entries (a page the admin API is given): it returns the field at fault
// ("kind", "services.api", "url") and why, or "".
func (c *Config) CheckStatusPage(sp StatusPage) (field, msg string) {
	one := Config{platforms: c.platforms, StatusPages: []StatusPage{sp}}
	p := &problems{c: &one}
	p.statusPages()
	if len(p.errs) == 0 {
		return "", ""
	}
	e := p.errs[0]
	msg = e.Msg
	for _, u := range one.pageSecrets() {
		if u != "" {
			msg = strings.ReplaceAll(msg, u, secret.Redact(u))
		}
	}
	return strings.TrimPrefix(strings.TrimPrefix(e.Key, "status_pages[0]"), "."), msg
}

// Redacted is the page with its hook URLs redacted.
func (p StatusPage) Redacted() StatusPage { return redactedPages([]StatusPage{p})[0] }

// pageCheck is routing's check of a status_page block's page and services.
func (c *Config) pageCheck(page string, services []string) (string, error) {
	sp, ok := c.StatusPage(page)
	if !ok {
		names := make([]string, len(c.StatusPages))
		for i, p := range c.StatusPages {
			names[i] = p.Name
		}
		return "page", fmt.Errorf("unknown status page %q (status_pages: %s)", page, strings.Join(names, ", "))
	}
	if len(services) > 0 && len(sp.Services) == 0 {
		return "services", fmt.Errorf("status page %q has no services", page)
	}
	for i, s := range services {
		if _, ok := sp.Services[s]; !ok {
			return fmt.Sprintf("services[%d]", i), fmt.Errorf("unknown service %q of status page %q (services: %s)", s, page, strings.Join(sp.ServiceNames(), ", "))
		}
	}
	return "", nil
}

// PageCheck is the check of a route's status_page block against the status pages.
func (c *Config) PageCheck() func(page string, services []string) (string, error) { return c.pageCheck }

// redactedPages is StatusPages with every hook URL redacted.
func redactedPages(in []StatusPage) []StatusPage {
	if in == nil {
		return nil
	}
	out := make([]StatusPage, len(in))
	for i, p := range in {
		out[i] = p
		out[i].URL = secret.Redact(p.URL)
		if p.Services != nil {
			out[i].Services = make(map[string]string, len(p.Services))
			for k, v := range p.Services {
				out[i].Services[k] = secret.Redact(v)
			}
		}
	}
	return out
}

// pageSecrets lists every hook URL.
func (c *Config) pageSecrets() []string {
	var s []string
	for _, p := range c.StatusPages {
		s = append(s, p.URL)
		s = slices.AppendSeq(s, maps.Values(p.Services))
	}
	return s
}
