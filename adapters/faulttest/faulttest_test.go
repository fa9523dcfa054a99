package faulttest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/adapters/faulttest"
	"github.com/sitrep/sitrep/adapters/hipchat"
	"github.com/sitrep/sitrep/adapters/hipchat/hipchattest"
	slackadapter "github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/adapters/slack/slacktest"
	"github.com/sitrep/sitrep/timeline"
)

// backend counts the requests that got through.
func backend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// fates sends n requests and returns each one's status (0: no answer).
func fates(t *testing.T, url string, n int) []int {
	client := &http.Client{Timeout: 10 * time.Second}
	out := make([]int, n)
	for i := range out {
		resp, err := client.Post(url+"/x", "application/json", strings.NewReader(`{}`))
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		out[i] = resp.StatusCode
	}
	return out
}

func TestFaultShares(t *testing.T) {
	srv, hits := backend(t)
	p := faulttest.New(t, srv.URL, faulttest.Options{Faults: faulttest.Standard(), Seed: 7})
	const n = 2000
	got := map[int]int{}
	for _, code := range fates(t, p.URL(), n) {
		got[code]++
	}
	c := p.Counts()
	assert.Equal(t, n, c.Requests)
	assert.Equal(t, c.RateLimited, got[http.StatusTooManyRequests])
	assert.Equal(t, c.Unavailable, got[http.StatusServiceUnavailable])
	assert.Equal(t, c.Dropped, got[0], "a dropped connection gets no answer")
	assert.Equal(t, c.Passed, got[http.StatusNoContent])
	assert.EqualValues(t, c.Passed, hits.Load(), "only what passed reached the fake")
	for _, tc := range []struct {
		name  string
		count int
		share float64
	}{{"429", c.RateLimited, 0.15}, {"503", c.Unavailable, 0.15}, {"dropped", c.Dropped, 0.05}, {"passed", c.Passed, 0.65}} {
		assert.InDelta(t, tc.share, float64(tc.count)/n, 0.03, tc.name)
	}
	assert.Equal(t, n-c.Passed, c.Refused())
}

func TestSameSeedSameFates(t *testing.T) {
	srv, _ := backend(t)
	a := faulttest.New(t, srv.URL, faulttest.Options{Faults: faulttest.Standard(), Seed: 42})
	b := faulttest.New(t, srv.URL, faulttest.Options{Faults: faulttest.Standard(), Seed: 42})
	c := faulttest.New(t, srv.URL, faulttest.Options{Faults: faulttest.Standard(), Seed: 43})
	fa, fb, fc := fates(t, a.URL(), 200), fates(t, b.URL(), 200), fates(t, c.URL(), 200)
	assert.Equal(t, fa, fb)
	assert.NotEqual(t, fa, fc)
}

func TestDownAndUp(t *testing.T) {
	srv, hits := backend(t)
	p := faulttest.New(t, srv.URL, faulttest.Options{})
	assert.Equal(t, []int{204, 204}, fates(t, p.URL(), 2), "no faults asked, none met")
	p.Down(faulttest.Unreachable)
	assert.Equal(t, []int{0, 0, 0}, fates(t, p.URL(), 3))
	p.Down(faulttest.Unavailable)
	assert.Equal(t, []int{503, 503}, fates(t, p.URL(), 2))
	p.Up()
	assert.Equal(t, []int{204}, fates(t, p.URL(), 1))
	assert.EqualValues(t, 3, hits.Load(), "nothing reached the fake while down")
	assert.Equal(t, faulttest.Counts{Requests: 8, Passed: 3, Down: 5}, p.Counts())
}

func TestMatchAndPath(t *testing.T) {
	srv, _ := backend(t)
	p := faulttest.New(t, srv.URL, faulttest.Options{Faults: faulttest.Faults{Unavailable: 1}, Match: func(r *http.Request) bool { return r.URL.Path == "/x" }})
	assert.Equal(t, []int{503}, fates(t, p.URL(), 1))
	resp, err := http.Get(p.URL() + "/api/v9/gateway")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "requests faults do not match pass")
	assert.Equal(t, "/api/v9/gateway", resp.Header.Get("X-Path"), "the path goes through as sent")
	assert.Equal(t, faulttest.Counts{Requests: 2, Passed: 1, Unavailable: 1}, p.Counts())
}

// platform is one adapter against its fake behind a proxy.
type platform struct {
	deliver func(ctx context.Context, proxyURL string) error
	shown   func() int
	fake    string // the fake's base URL
	refuse  faulttest.Refusal
}

func platforms(t *testing.T) map[string]func() platform {
	msg := adapters.Message{IncidentID: 1, EventID: 1, Kind: timeline.KindTriggered, State: timeline.StateTriggered, Title: "db-1 down", Text: "db-1 down"}
	return map[string]func() platform{
		"hipchat": func() platform {
			hc := hipchattest.New(t)
			hc.AddRoom("101", "tok-101")
			return platform{fake: hc.URL(), refuse: faulttest.HipChat, shown: func() int { return len(hc.Messages("101")) },
				deliver: func(ctx context.Context, u string) error {
					_, err := hipchat.New(hipchat.Options{BaseURL: u}).Deliver(ctx, adapters.Delivery{Room: adapters.Room{Name: "ops", ID: "101", Token: "tok-101"}, Op: adapters.OpPost, Msg: msg, Key: "ops:1"})
					return err
				}}
		},
		"slack": func() platform {
			fake := slacktest.New(t)
			fake.AddChannel("C0OPS", true)
			return platform{fake: strings.TrimSuffix(fake.URL(), "/api"), refuse: faulttest.Slack, shown: func() int { return len(fake.Messages("C0OPS")) },
				deliver: func(ctx context.Context, u string) error {
					c := slackadapter.New(slackadapter.Options{Token: slacktest.BotToken, APIURL: u + "/api"})
					defer c.Close()
					_, err := c.Deliver(ctx, adapters.Delivery{Room: adapters.Room{Name: "ops", ID: "C0OPS"}, Op: adapters.OpPost, Msg: msg, Key: "ops:1"})
					return err
				}}
		},
		"discord": func() platform {
			fake := discordtest.New("tok")
			t.Cleanup(fake.Close)
			ch := fake.AddChannel()
			return platform{fake: fake.URL(), refuse: faulttest.Discord, shown: func() int { return len(fake.Messages(ch)) },
				deliver: func(ctx context.Context, u string) error {
					c, err := discord.New(discord.Options{Token: "tok", APIURL: u})
					require.NoError(t, err)
					_, err = c.Deliver(ctx, adapters.Delivery{Room: adapters.Room{Name: "ops", ID: ch}, Op: adapters.OpPost, Msg: msg, Key: "ops:1"})
					return err
				}}
		},
	}
}

// Each platform's adapter reads its refusal as the platform's own 429 (wait
// 1 s, not an attempt), a 503 and a dropped connection as transient
// failures, and nothing a fault refused reaches the fake.
func TestAdaptersReadTheFaults(t *testing.T) {
	for name, newPlatform := range platforms(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				fault  string
				faults faulttest.Faults
				check  func(t *testing.T, err error)
			}{
				{"429", faulttest.Faults{RateLimited: 1}, func(t *testing.T, err error) {
					after, ok := adapters.RetryAfter(err)
					require.True(t, ok, "a rate limit: %v", err)
					assert.InDelta(t, time.Second, after, float64(50*time.Millisecond))
				}},
				{"503", faulttest.Faults{Unavailable: 1}, func(t *testing.T, err error) {
					require.Error(t, err)
					_, limited := adapters.RetryAfter(err)
					assert.False(t, limited || adapters.IsPermanent(err), "transient: %v", err)
				}},
				{"dropped", faulttest.Faults{Dropped: 1}, func(t *testing.T, err error) {
					require.Error(t, err)
					_, limited := adapters.RetryAfter(err)
					assert.False(t, limited || adapters.IsPermanent(err), "transient: %v", err)
				}},
				{"none", faulttest.Faults{}, func(t *testing.T, err error) { require.NoError(t, err) }},
			} {
				t.Run(tc.fault, func(t *testing.T) {
					pl := newPlatform()
					p := faulttest.New(t, pl.fake, faulttest.Options{Faults: tc.faults, Refuse: pl.refuse})
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					tc.check(t, pl.deliver(ctx, p.URL()))
					assert.Equal(t, p.Counts().Passed, pl.shown(), "the fake shows what passed, only")
				})
			}
		})
	}
}
