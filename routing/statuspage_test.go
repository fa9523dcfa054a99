package routing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pageCheck(page string, services []string) (string, error) {
	if page != "public" {
		return "page", fmt.Errorf("unknown status page %q", page)
	}
	for i, s := range services {
		if !slices.Contains([]string{"api", "web"}, s) {
			return fmt.Sprintf("services[%d]", i), fmt.Errorf("unknown service %q", s)
		}
	}
	return "", nil
}

func TestStatusPageErrors(t *testing.T) {
	cases := []struct {
		name  string
		sp    StatusPage
		field string
		msg   string
	}{
		{"unknown page", StatusPage{Page: "private"}, "status_page.page", `unknown status page "private"`},
		{"no page", StatusPage{}, "status_page.page", "required"},
		{"unknown service", StatusPage{Page: "public", Services: []string{"api", "db"}}, "status_page.services[1]", `unknown service "db"`},
		{"duplicate service", StatusPage{Page: "public", Services: []string{"api", "api"}}, "status_page.services[1]", "already listed"},
		{"bad publish", StatusPage{Page: "public", Publish: "later"}, "status_page.publish", "expected auto or draft"},
		{"negative wait", StatusPage{Page: "public", Wait: -time.Second}, "status_page.wait", "negative"},
		{"closing comment without auto_close", StatusPage{Page: "public", ClosingComment: "fixed"}, "status_page.closing_comment", "auto_close"},
		{"bad monitor name", StatusPage{Page: "public", MonitorName: "${{ALERT.x"}, "status_page.monitor_name", "unclosed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := tc.sp
			_, err := Compile([]Rule{{Name: "r", StatusPage: &sp}}, Options{StatusPage: pageCheck})
			res := RuleErrors(err)
			require.Len(t, res, 1, "%v", err)
			assert.Equal(t, tc.field, res[0].Field)
			assert.Contains(t, res[0].Err.Error(), tc.msg)
		})
	}
}

func TestRouteStatusPages(t *testing.T) {
	r, err := Compile([]Rule{
		{Name: "db", Matchers: []string{`service="db"`}, StatusPage: &StatusPage{Page: "public", Services: []string{"api"}, AutoClose: true}, Continue: true},
		{Name: "all", Rooms: []string{"ops"}, StatusPage: &StatusPage{Page: "public", MonitorName: "mon-${{ALERT.host}}"}},
	}, Options{StatusPage: pageCheck})
	require.NoError(t, err)
	d := r.Route(map[string]string{"service": "db", "monitor_name": "m1"}, nil)
	require.Len(t, d.StatusPages, 2)
	assert.Equal(t, PageTarget{Rule: "db", StatusPage: StatusPage{Page: "public", Services: []string{"api"}, AutoClose: true}, MonitorName: "m1"}, d.StatusPages[0])
	assert.Equal(t, "", d.StatusPages[1].MonitorName, "an unset field leaves the monitor name empty")
	d = r.Route(map[string]string{"host": "h1"}, nil)
	require.Len(t, d.StatusPages, 1)
	assert.Equal(t, "mon-h1", d.StatusPages[0].MonitorName)
}
