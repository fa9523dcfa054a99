package routing

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// StatusPage is a rule's status_page block: what the alerts it matches
// publish on a status page.
type StatusPage struct {
	Page     string   `json:"page" yaml:"page"`                             // a status_pages name
	Services []string `json:"services,omitempty" yaml:"services,omitempty"` // the page's services to update (pages with services); default all
	// Wait holds a publication back this long: an alert that recovers
	// within it never reaches the page (flap suppression).
	Wait time.Duration `json:"wait,omitempty" yaml:"wait,omitempty"`
	// Combine lets concurrent alerts on the same services share one page
	// incident, which recovers with the last of them.
	Combine bool `json:"combine,omitempty" yaml:"combine,omitempty"`
	// Publish is auto (the default) or draft.
	Publish string `json:"publish,omitempty" yaml:"publish,omitempty"`
	// Silent publishes without notifying the page's subscribers.
	Silent bool `json:"silent,omitempty" yaml:"silent,omitempty"`
	// AutoClose resolves the page's incident after the recovery's update.
	AutoClose bool `json:"auto_close,omitempty" yaml:"auto_close,omitempty"`
	// ClosingComment is the text of the closing update.
	ClosingComment string `json:"closing_comment,omitempty" yaml:"closing_comment,omitempty"`
	// MonitorName names the page's monitor template (StatusCast); default
	// ${{ALERT.monitor_name}}. An alert it names an unset field of does not
	// reach the page.
	MonitorName string `json:"monitor_name,omitempty" yaml:"monitor_name,omitempty"`
}

// DefaultMonitorName is a status_page block's monitor_name unless it sets one.
const DefaultMonitorName = "${{ALERT.monitor_name}}"

// Publish modes.
const (
	PublishAuto  = "auto"
	PublishDraft = "draft"
)

// PageTarget is one status page an alert goes to, as a rule's status_page
// block made it.
type PageTarget struct {
	Rule string `json:"rule"`
	StatusPage
	// MonitorName is the rendered monitor_name; "" when it named an unset field.
	MonitorName string `json:"monitor_name,omitempty"`
}

// PageCheck reports whether page is a configured status page and, when it
// has services, whether each of services is one of them (nil error).
type PageCheck func(page string, services []string) (field string, err error)

type compiledPage struct {
	sp      StatusPage
	monitor template
}

func compilePage(sp *StatusPage, check PageCheck, fail func(field string, err error)) *compiledPage {
	if sp == nil {
		return nil
	}
	ok := true
	if sp.Page == "" {
		fail("status_page.page", errors.New("required: the name of one of status_pages"))
		ok = false
	} else if check != nil {
		if field, err := check(sp.Page, sp.Services); err != nil {
			fail("status_page."+field, err)
			ok = false
		}
	}
	for i, s := range sp.Services {
		if j := slices.Index(sp.Services, s); j < i {
			fail(fmt.Sprintf("status_page.services[%d]", i), fmt.Errorf("service %q is already listed as services[%d]", s, j))
			ok = false
		}
	}
	if sp.Wait < 0 {
		fail("status_page.wait", errors.New("must not be negative"))
		ok = false
	}
	switch sp.Publish {
	case "", PublishAuto, PublishDraft:
	default:
		fail("status_page.publish", fmt.Errorf("expected auto or draft, got %q", sp.Publish))
		ok = false
	}
	if sp.ClosingComment != "" && !sp.AutoClose {
		fail("status_page.closing_comment", errors.New("needs auto_close: true"))
		ok = false
	}
	name := sp.MonitorName
	if name == "" {
		name = DefaultMonitorName
	}
	t, err := lexTemplate(name, true)
	if err != nil {
		fail("status_page.monitor_name", err)
		ok = false
	}
	if !ok {
		return nil
	}
	return &compiledPage{sp: *sp, monitor: t}
}

// target renders the page's target for an alert's fields.
func (c *compiledPage) target(rule string, fields, incident map[string]string) PageTarget {
	t := PageTarget{Rule: rule, StatusPage: c.sp}
	t.Services = slices.Clone(c.sp.Services)
	if c.monitor.complete(fields, incident) {
		t.MonitorName, _ = c.monitor.render(fields, incident, nil)
	}
	return t
}
