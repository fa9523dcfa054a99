package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/webhooks"
)

func (a *API) getWebhooks(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"webhooks": webhooks.Redact(a.opts.Webhooks.Load().Hooks())})
}

func (a *API) putWebhooks(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Webhooks []webhooks.Hook `json:"webhooks"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Webhooks == nil {
		httpjson.Error(w, http.StatusBadRequest, "webhooks", `body must be {"webhooks": [...]}`)
		return
	}
	a.adminMu.Lock()
	before := hookSummary(a.opts.Webhooks.Load().Hooks())
	err := a.opts.Webhooks.Replace(r.Context(), body.Webhooks)
	after := hookSummary(a.opts.Webhooks.Load().Hooks())
	a.adminMu.Unlock()
	if err != nil {
		if fes := webhooks.FieldErrors(err); len(fes) > 0 {
			problems := make([]map[string]string, len(fes))
			for i, fe := range fes {
				problems[i] = map[string]string{"field": fmt.Sprintf("webhooks[%d].%s", fe.Index, fe.Field), "error": fe.Error()}
			}
			// field names the first problem; errors lists them all.
			httpjson.Write(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "field": problems[0]["field"], "errors": problems})
			return
		}
		a.internalError(w, err)
		return
	}
	a.audit(r, "webhooks.put", "before", before, "after", after)
	a.getWebhooks(w, r)
}

// hookSummary is a webhook list as the audit log shows it: each one's name,
// event and redacted URL.
func hookSummary(hooks []webhooks.Hook) []string {
	out := make([]string, len(hooks))
	for i, h := range hooks {
		out[i] = h.Name + " " + h.Event + " " + webhooks.RedactURL(h.URL)
	}
	return out
}

// redactDead hides what a dead webhook request carries: its URL's tokens,
// secret-looking headers and body members.
func redactDead(dead []outbox.DeadEntry) {
	for i := range dead {
		d := &dead[i]
		if !strings.HasPrefix(d.Room, webhooks.RoomPrefix) || len(d.Entry.Msg.Payload) == 0 {
			continue
		}
		req, err := webhooks.DecodeRequest(d.Entry.Msg.Payload)
		if err != nil {
			d.Entry.Msg.Payload = nil
			continue
		}
		b, _ := json.Marshal(req.Redacted())
		d.Entry.Msg.Payload = b
	}
}
