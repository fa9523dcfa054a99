package webroom

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/sitrep/sitrep/httpjson"
)

//go:embed page.html
var pageHTML string

// parsePage parses page.html; it is part of the binary, so a failure is a bug.
func parsePage() *template.Template {
	return template.Must(template.New("room").Parse(pageHTML))
}

type pageData struct {
	Room     string
	Nonce    string
	User     string // the verified name of the page's key, if it is a user's
	MaxFrame int    // bytes of the largest frame the server takes
	MaxText  int    // characters of the longest line
}

// servePage serves a room's page. Its one inline style and one inline script
// carry a fresh nonce that the Content-Security-Policy names, so nothing else
// can run or style the page.
func (w *WebRoom) servePage(rw http.ResponseWriter, r *http.Request) {
	room, ok := w.checkRoom(rw, r)
	if !ok {
		return
	}
	user, ok := w.checkKey(rw, r)
	if !ok {
		return
	}
	nonce := newNonce()
	var buf bytes.Buffer
	data := pageData{Room: room, Nonce: nonce, User: user, MaxFrame: w.opts.MaxFrame, MaxText: maxTextRunes}
	if err := w.page.Execute(&buf, data); err != nil {
		w.log.Error("render room page", "room", room, "err", err)
		httpjson.Error(rw, http.StatusInternalServerError, "", "could not render the room page")
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
	_, _ = rw.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	// URL-safe base64 is valid in a CSP nonce and needs no escaping in HTML.
	return base64.RawURLEncoding.EncodeToString(b)
}
