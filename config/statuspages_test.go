package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/sitrep/sitrep/config"
)

const pages = `status_pages:
  - name: public
    kind: statushub
    services:
      api: https://hooks.statushub.io/hooks/generic_v2?token=apitoken0123456789
      web: https://hooks.statushub.io/hooks/generic_v2?token=webtoken0123456789
  - name: cast
    kind: statuscast
    url: https://yourapp.statuscast.com/webhook/victorops
`

func TestStatusPages(t *testing.T) {
	doc := base + pages + `routes:
  - name: db
    matchers: ['service="db"']
    status_page: {page: public, services: [api], wait: 30s, publish: draft, auto_close: true, closing_comment: fixed}
`
	c, err := Parse([]byte(doc), "config.yaml", envOf(map[string]string{"SITREP_STATUS_PAGE_PUBLIC_WEB_URL": "https://hooks.statushub.io/hooks/generic_v2?token=fromenv0123456789"}), all()...)
	require.NoError(t, err)
	p, ok := c.StatusPage("public")
	require.True(t, ok)
	assert.Equal(t, []string{"api", "web"}, p.ServiceNames())
	assert.Contains(t, p.Services["web"], "fromenv")
	r := c.Redacted()
	assert.Equal(t, "****6789", r.StatusPages[0].Services["api"])
	assert.Equal(t, "****rops", r.StatusPages[1].URL)
	assert.Contains(t, c.StatusPages[0].Services["api"], "apitoken", "Redacted is a copy")
	require.NotNil(t, c.Routes[0].StatusPage)
	assert.Equal(t, "draft", c.Routes[0].StatusPage.Publish)
}

func TestStatusPageErrors(t *testing.T) {
	cases := []struct {
		name, doc, key, msg string
	}{
		{"unknown kind", "status_pages:\n  - {name: p, kind: statusio, url: https://x.example/h}\n", "status_pages[0].kind", "unknown status page kind"},
		{"not http", "status_pages:\n  - {name: p, kind: statuscast, url: ftp://x.example/h}\n", "status_pages[0].url", "http:// or https://"},
		{"service not http", "status_pages:\n  - name: p\n    kind: statushub\n    services: {api: 'hooks.statushub.io/hooks/generic_v2?token=abcdef0123456789'}\n", "status_pages[0].services.api", "http:// or https://"},
		{"statushub without services", "status_pages:\n  - {name: p, kind: statushub}\n", "status_pages[0].services", "required"},
		{"statuscast with services", "status_pages:\n  - {name: p, kind: statuscast, url: https://x.example/h, services: {a: https://x.example/a}}\n", "status_pages[0].services", "no services"},
		{"duplicate", "status_pages:\n  - {name: p, kind: statuscast, url: https://x.example/h}\n  - {name: p, kind: statuscast, url: https://x.example/h}\n", "status_pages[1].name", "duplicate"},
		{"unknown page in route", pages + "routes:\n  - {name: r, status_page: {page: private}}\n", "routes[0].status_page.page", `unknown status page "private"`},
		{"unknown service in route", pages + "routes:\n  - {name: r, status_page: {page: public, services: [api, db]}}\n", "routes[0].status_page.services[1]", `unknown service "db"`},
		{"bad publish in route", pages + "routes:\n  - {name: r, status_page: {page: cast, publish: now}}\n", "routes[0].status_page.publish", "expected auto or draft"},
		{"page kind as a room platform", "  - {name: sh, platform: statushub}\n", "rooms[1].platform", "status page kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, base+tc.doc, noEnv)
			var found bool
			for _, e := range errs {
				if e.Key == tc.key {
					found = true
					assert.Contains(t, e.Msg, tc.msg)
				}
				assert.NotContains(t, e.Error(), "0123456789", "a hook URL's token is never shown")
			}
			assert.True(t, found, "no problem at %s in %v", tc.key, errs)
		})
	}
}
