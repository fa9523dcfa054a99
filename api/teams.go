package api

import (
	"net/http"
	"strconv"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/teams"
)

// Teams is what the API reads of team timelines.
type Teams interface {
	Timeline(team string, limit int, before uint64) ([]teams.Entry, error)
}

// teamTimeline serves GET /v1/teams/{team}/timeline?limit=N&before=ID:
// newest first; "next_before" pages on to older entries.
func (a *API) teamTimeline(w http.ResponseWriter, r *http.Request) {
	if a.opts.Teams == nil {
		httpjson.Error(w, http.StatusNotFound, "", "team timelines are not served here")
		return
	}
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	var before uint64
	if s := r.URL.Query().Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			httpjson.Error(w, http.StatusBadRequest, "before", "before must be an entry id (a positive number)")
			return
		}
		before = n
	}
	team := r.PathValue("team")
	entries, err := a.opts.Teams.Timeline(team, limit, before)
	if err != nil {
		a.internalError(w, err)
		return
	}
	out := map[string]any{"team": team, "entries": entries}
	if len(entries) == limit {
		out["next_before"] = entries[len(entries)-1].ID
	}
	httpjson.Write(w, http.StatusOK, out)
}
