package webroom

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/render"
	"github.com/sitrep/sitrep/timeline"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed incident.html
	incidentHTML string
	//go:embed notice.html
	noticeHTML string
	//go:embed base.css
	baseCSS string
)

// pages are the web room's HTML pages: a room, an incident, a notice (a
// readable "no such room" or "needs its key").
type pages struct{ room, incident, notice *template.Template }

// parsePages parses the pages; they are part of the binary, so a failure is a bug.
func parsePages() pages {
	parse := func(name, text string) *template.Template {
		t := template.Must(template.New(name).Funcs(template.FuncMap{"stamp": stampPtr}).Parse(text))
		template.Must(t.New("base.css").Parse(baseCSS))
		return t
	}
	return pages{room: parse("room", pageHTML), incident: parse("incident", incidentHTML), notice: parse("notice", noticeHTML)}
}

type pageData struct {
	Room     string
	Title    string // the room's display name, else its name
	Nonce    string
	User     string // the verified name of the page's key, if it is a user's
	MaxFrame int    // bytes of the largest frame the server takes
	MaxText  int    // characters of the longest line
	Incident bool   // incidents have pages (/incidents/{id})
}

// servePage serves a room's page. Its one inline style and one inline script
// carry a fresh nonce that the Content-Security-Policy names, so nothing else
// can run or style the page. A room that is not there, or a missing key, is
// a readable page too.
func (w *WebRoom) servePage(rw http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !w.roomKnown(room) {
		w.notice(rw, http.StatusNotFound, "No such room", "sitrep has no web room called "+clip(room, maxUserRunes)+".",
			"Rooms are set under rooms: in the config, or with PUT /v1/rooms/NAME on the admin API; a web room's name is 1-64 letters, digits, '_', '.' or '-'.")
		return
	}
	user, ok := w.keyOf(r)
	if !ok {
		w.notice(rw, http.StatusUnauthorized, "This room needs its key", "Open it as /rooms/"+room+"?key=… with the room key (web.key) or your own (web.users).", "")
		return
	}
	title := room
	if w.opts.Room != nil {
		if rm, ok := w.opts.Room(room); ok && rm.DisplayName != "" {
			title = rm.DisplayName
		}
	}
	w.serveHTML(rw, http.StatusOK, w.pages.room, "room "+room, func(nonce string) any {
		return pageData{Room: room, Title: title, Nonce: nonce, User: user, MaxFrame: w.opts.MaxFrame, MaxText: maxTextRunes, Incident: w.opts.Incident != nil}
	})
}

// noticeData is a notice page's text.
type noticeData struct{ Nonce, Title, Text, Hint string }

// notice serves a readable page saying what is wrong, with status.
func (w *WebRoom) notice(rw http.ResponseWriter, status int, title, text, hint string) {
	w.serveHTML(rw, status, w.pages.notice, "notice", func(nonce string) any {
		return noticeData{Nonce: nonce, Title: title, Text: text, Hint: hint}
	})
}

// serveHTML renders t with the data for a fresh nonce, and serves it with
// the headers every page has.
func (w *WebRoom) serveHTML(rw http.ResponseWriter, status int, t *template.Template, what string, data func(nonce string) any) {
	nonce := newNonce()
	var buf bytes.Buffer
	if err := t.Execute(&buf, data(nonce)); err != nil {
		w.log.Error("render page", "page", what, "err", err)
		httpjson.Error(rw, http.StatusInternalServerError, "", "could not render the page")
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL may carry the key
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	// URL-safe base64 is valid in a CSP nonce and needs no escaping in HTML.
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxEventsShown bounds an incident page's timeline (the newest are shown).
const maxEventsShown = 500

type incidentData struct {
	Nonce       string
	Inc         timeline.Incident
	Opened      string
	Fields      []field
	Rooms       []roomLink
	StatusPages []StatusPageState
	Events      []eventRow
	Skipped     int
}

type field struct{ Name, Value string }

type roomLink struct{ Name, Path string }

type eventRow struct {
	When, Kind, Who, From, Text string
	Unverified                  bool
}

// StatusPageState is what one status page shows of an incident, for its page.
type StatusPageState struct {
	Page   string // the status page's name
	State  string // what it shows: investigating, monitoring, resolved, a draft...
	Detail string // anything further: when it was published, the comment
}

// serveIncident serves an incident's page: its state, fields, rooms,
// status pages and timeline, each event with where it came from. It is
// behind the key like the rooms.
func (w *WebRoom) serveIncident(rw http.ResponseWriter, r *http.Request) {
	if _, ok := w.keyOf(r); !ok {
		w.notice(rw, http.StatusUnauthorized, "This page needs its key", "Open it with ?key=… (web.key, or your own from web.users), as the rooms are opened.", "")
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		w.notice(rw, http.StatusNotFound, "No such incident", "An incident's page is /incidents/NUMBER.", "")
		return
	}
	inc, events, err := w.opts.Incident(id)
	switch {
	case errors.Is(err, timeline.ErrNotFound):
		w.notice(rw, http.StatusNotFound, "No such incident", "sitrep has no incident #"+strconv.FormatUint(id, 10)+".", "")
		return
	case err != nil:
		w.log.Error("read incident for its page", "incident", id, "err", err)
		w.notice(rw, http.StatusInternalServerError, "Could not read the incident", "It is in the server log; try again in a moment.", "")
		return
	}
	d := incidentData{Inc: inc, Opened: stamp(inc.OpenedAt)}
	for k, v := range render.ShownFields(inc.Fields) {
		if k != timeline.FieldEntityID && k != timeline.FieldEntityDisplayName {
			d.Fields = append(d.Fields, field{k, v})
		}
	}
	sort.Slice(d.Fields, func(i, j int) bool { return d.Fields[i].Name < d.Fields[j].Name })
	for _, name := range inc.Rooms {
		l := roomLink{Name: name}
		if w.opts.RoomPath != nil {
			if path, ok := w.opts.RoomPath(name); ok {
				l.Path = path
			}
		}
		d.Rooms = append(d.Rooms, l)
	}
	if w.opts.StatusPages != nil {
		d.StatusPages = w.opts.StatusPages(inc)
	}
	if len(events) > maxEventsShown {
		d.Skipped = len(events) - maxEventsShown
		events = events[d.Skipped:]
	}
	for _, ev := range events {
		row := eventRow{When: stamp(ev.Time), Kind: string(ev.Kind), Who: ev.Origin.User, Unverified: ev.Origin.Unverified, Text: ev.Text}
		if row.Who == "" {
			row.Who = ev.Origin.Adapter
		} else {
			row.From = ev.Origin.Adapter
		}
		if ev.Origin.Room != "" {
			row.From += " #" + ev.Origin.Room
		}
		d.Events = append(d.Events, row)
	}
	w.serveHTML(rw, http.StatusOK, w.pages.incident, "incident", func(nonce string) any {
		d.Nonce = nonce
		return d
	})
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}
