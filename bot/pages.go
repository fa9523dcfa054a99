package bot

import (
	"time"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/statuspage"
)

// newPages builds the status page engine over the configured pages and the
// page kinds of the platform list.
func (b *Bot) newPages() *statuspage.Engine {
	return statuspage.New(statuspage.Options{
		DB:    b.db,
		Page:  b.statusPage,
		Pages: b.statusPages,
		Render: func(kind string) (statuspage.Renderer, bool) {
			d, ok := b.platforms.Get(kind)
			return d.Render, ok && d.Render != nil
		},
		Ingest:      b.tl.Ingest,
		Act:         b.tl.Act,
		Notify:      func(rooms ...string) { b.outbox.Notify(rooms...) },
		DefaultPage: b.cfg.DefaultStatusPage,
		Admins: func(room string, in adapters.Inbound) bool {
			return b.cfg.StatusAdmins.Allows(room, in.Platform, in.UserID, in.UserID != "")
		},
		Location: func(room string) *time.Location {
			if t, ok := b.team(b.teams.TeamOf(room)); ok && t.TimeZone != nil {
				return t.TimeZone
			}
			return time.UTC
		},
		Now:    b.now,
		Logger: b.log.With("component", "statuspage"),
	})
}

// pageCheck checks a route's status_page block against the pages in force.
func (b *Bot) pageCheck(page string, services []string) (string, error) {
	c := config.Config{StatusPages: b.pageStore.List()}
	return c.PageCheck()(page, services)
}

// statusPage is the page named name, as the engine sees it.
func (b *Bot) statusPage(name string) (statuspage.Page, bool) {
	sp, ok := b.pageStore.Get(name)
	if !ok {
		return statuspage.Page{}, false
	}
	return b.pageOf(sp), true
}

// statusPages lists the pages, sorted by name, as the engine sees them.
func (b *Bot) statusPages() []statuspage.Page {
	list := b.pageStore.List()
	out := make([]statuspage.Page, len(list))
	for i, sp := range list {
		out[i] = b.pageOf(sp)
	}
	return out
}

// pageOf is sp as the engine sees it, with what its kind's descriptor says.
func (b *Bot) pageOf(sp config.StatusPage) statuspage.Page {
	p := statuspage.Page{Name: sp.Name, Kind: sp.Kind, Title: sp.Kind}
	if d, ok := b.platforms.Get(sp.Kind); ok && d.PageKind != nil {
		p.Monitor = d.PageKind.Monitor
		if d.PageKind.Title != "" {
			p.Title = d.PageKind.Title
		}
		if d.PageKind.Services {
			p.Services = sp.ServiceNames()
		}
	}
	return p
}

// resolvePage is the outbox endpoint of a page's service: its hook URL,
// posted to by the page kind's Chat.
func (b *Bot) resolvePage(name string) (outbox.Endpoint, bool) {
	page, service, ok := statuspage.ParseRoom(name)
	if !ok {
		return outbox.Endpoint{}, false
	}
	sp, ok := b.pageStore.Get(page)
	if !ok {
		return outbox.Endpoint{}, false
	}
	url := sp.URL
	if service != "" {
		if url, ok = sp.Services[service]; !ok {
			return outbox.Endpoint{}, false
		}
	}
	return b.endpoint(adapters.Room{Name: name, ID: url}, sp.Kind), true
}

// pageLines says what each status page shows of an incident, one line per
// page incident: "StatusHub public/api: identified, down (since 2026-12-01 09:00 UTC)".
func (b *Bot) pageLines(incident uint64) []string {
	list, err := b.pages.Of(incident)
	if err != nil {
		b.log.Error("status pages of an incident", "incident", incident, "err", err)
		return nil
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, b.pages.Where(p)+": "+p.Shows()+" (since "+p.Start.UTC().Format("2006-01-02 15:04 UTC")+")")
	}
	return out
}
