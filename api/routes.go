package api

import (
	"fmt"
	"net/http"

	"github.com/sitrep/sitrep/httpjson"
	"github.com/sitrep/sitrep/routing"
)

func (a *API) getRoutes(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]any{"routes": redactRules(a.opts.Routes.Load().Rules())})
}

func redactRules(rules []routing.Rule) []routing.Rule {
	for i := range rules {
		rules[i] = rules[i].Redacted()
	}
	return rules
}

func (a *API) putRoutes(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Routes []routing.Rule `json:"routes"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Routes == nil {
		httpjson.Error(w, http.StatusBadRequest, "routes", `body must be {"routes": [...]}`)
		return
	}
	a.adminMu.Lock()
	before := ruleNames(a.opts.Routes.Load().Rules())
	err := a.opts.Routes.Replace(r.Context(), body.Routes)
	a.adminMu.Unlock()
	if err != nil {
		if problems := ruleErrors(err); len(problems) > 0 {
			// field names the first problem; errors lists them all.
			httpjson.Write(w, http.StatusBadRequest, map[string]any{
				"error": err.Error(), "field": problems[0]["field"], "errors": problems,
			})
			return
		}
		a.internalError(w, err)
		return
	}
	a.audit(r, "routes.put", "before", before, "after", ruleNames(body.Routes))
	a.getRoutes(w, r)
}

// ruleNames are the rules' names, in order, as the audit log shows a route list.
func ruleNames(rules []routing.Rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.Name
	}
	return out
}

// ruleErrors lists each *routing.RuleError in err as {"field", "error"}.
func ruleErrors(err error) []map[string]string {
	var out []map[string]string
	for _, re := range routing.RuleErrors(err) {
		out = append(out, map[string]string{"field": fmt.Sprintf("routes[%d].%s", re.Index, re.Field), "error": re.Error()})
	}
	return out
}

func (a *API) testRoutes(w http.ResponseWriter, r *http.Request) {
	var fields map[string]string
	if !decodeBody(w, r, &fields) {
		return
	}
	router := a.opts.Routes.Load()
	ex := router.Explain(fields, nil)
	if a.opts.Webhooks != nil {
		a.opts.Webhooks.Load().ExplainInto(&ex, router.Route(fields, nil).Fields, a.now())
	}
	httpjson.Write(w, http.StatusOK, ex)
}
