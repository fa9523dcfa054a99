package api

import (
	"fmt"
	"net/http"

	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/statuspage"
)

// StatusPages is what the API reads and changes of the status pages.
type StatusPages struct {
	Store *statuspage.Pages
	// Check checks a page as the config would, returning the field at
	// fault and why, or "".
	Check func(config.StatusPage) (field, msg string)
	// Shown lists what sitrep last sent each page's services.
	Shown func() ([]statuspage.Shown, error)
}

func (a *API) listStatusPages(w http.ResponseWriter, _ *http.Request) {
	list := a.opts.StatusPages.Store.List()
	for i := range list {
		list[i] = list[i].Redacted()
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"status_pages": list})
}

// statusPageView is a page as GET /v1/status_pages/{name} shows it: its
// hook URLs redacted (they are write-only), and what sitrep last sent each
// of its services.
type statusPageView struct {
	config.StatusPage
	Shown []statuspage.Shown `json:"shown"`
}

func (a *API) getStatusPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sp, ok := a.opts.StatusPages.Store.Get(name)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "name", fmt.Sprintf("no status page %q", clipName(name)))
		return
	}
	view := statusPageView{StatusPage: sp.Redacted(), Shown: []statuspage.Shown{}}
	shown, err := a.opts.StatusPages.Shown()
	if err != nil {
		a.internalError(w, err)
		return
	}
	for _, s := range shown {
		if s.Page == name {
			view.Shown = append(view.Shown, s)
		}
	}
	httpjson.Write(w, http.StatusOK, view)
}

// putStatusPage adds or replaces a page. Hook URLs are write-only: one left
// out, or sent back as GET showed it, keeps the stored one.
func (a *API) putStatusPage(w http.ResponseWriter, r *http.Request) {
	var sp config.StatusPage
	if !decodeBody(w, r, &sp) {
		return
	}
	name := r.PathValue("name")
	if sp.Name != "" && sp.Name != name {
		httpjson.Error(w, http.StatusBadRequest, "name", fmt.Sprintf("body names status page %q but the URL names %q", clipName(sp.Name), clipName(name)))
		return
	}
	sp.Name = name
	a.adminMu.Lock()
	defer a.adminMu.Unlock()
	old, existed := a.opts.StatusPages.Store.Get(name)
	same := existed && old.Kind == sp.Kind
	var ok bool
	if sp.URL, ok = keepToken(w, "url", sp.URL, old.URL, same && len(old.Services) == 0); !ok {
		return
	}
	for svc, u := range sp.Services {
		stored, had := old.Services[svc]
		if sp.Services[svc], ok = keepToken(w, "services."+svc, u, stored, same && had); !ok {
			return
		}
	}
	if field, msg := a.opts.StatusPages.Check(sp); field != "" || msg != "" {
		httpjson.Error(w, http.StatusBadRequest, field, msg)
		return
	}
	if err := a.opts.StatusPages.Store.Put(r.Context(), sp); err != nil {
		a.internalError(w, err)
		return
	}
	if existed {
		a.audit(r, "status_page.put", "status_page", name, "before", old.Redacted(), "after", sp.Redacted())
	} else {
		a.audit(r, "status_page.put", "status_page", name, "after", sp.Redacted())
	}
	httpjson.Write(w, http.StatusOK, sp.Redacted())
}

// clipName cuts an echoed name to 64 runes.
func clipName(s string) string {
	if r := []rune(s); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return s
}
