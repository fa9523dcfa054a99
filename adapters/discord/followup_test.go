package discord

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

// syncBuf is a bytes.Buffer safe for a logger and a test to share.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// failWebhooks fails every request to an interaction's webhook.
type failWebhooks struct{ next http.RoundTripper }

func (f failWebhooks) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/webhooks/") {
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(r)
}

func TestFollowUpFailureLogsNoToken(t *testing.T) {
	logs := &syncBuf{}
	got := make(chan adapters.Inbound, 4)
	f := newFixture(t, answering(got), func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		o.Transport = failWebhooks{http.DefaultTransport}
	})
	ch := f.fake.AddChannel()
	code, _ := f.post(t, command(ch, "alice", CommandName, "slow"), true)
	require.Equal(t, http.StatusOK, code)
	token := "itoken-" + strconv.FormatInt(interactionSeq, 10)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "follow-up failed") }, 5*time.Second, 20*time.Millisecond)
	assert.Contains(t, logs.String(), "connection reset by peer")
	assert.NotContains(t, logs.String(), token)
}

func TestClassifyKeepsURLsOut(t *testing.T) {
	const u = "https://discord.com/api/v9/webhooks/800000000000000001/itoken-secret/messages/@original"
	ctx := context.Background()
	for name, err := range map[string]error{
		"transport": &url.Error{Op: "Patch", URL: u, Err: errors.New("connection reset by peer")},
		"rate limit": &discordgo.RateLimitError{RateLimit: &discordgo.RateLimit{
			TooManyRequests: &discordgo.TooManyRequests{RetryAfter: time.Second}, URL: u}},
		"rate limit, no body": &discordgo.RateLimitError{RateLimit: &discordgo.RateLimit{URL: u}},
	} {
		t.Run(name, func(t *testing.T) {
			got := classify(ctx, "follow up", err)
			assert.NotContains(t, got.Error(), "itoken-secret")
			assert.NotContains(t, scrub(err).Error(), "itoken-secret")
		})
	}
	after, ok := adapters.RetryAfter(classify(ctx, "x", &discordgo.RateLimitError{RateLimit: &discordgo.RateLimit{
		TooManyRequests: &discordgo.TooManyRequests{RetryAfter: time.Second}, URL: u}}))
	assert.True(t, ok)
	assert.Equal(t, time.Second, after)
}
