package hipchat

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfterParsing(t *testing.T) {
	now := time.Unix(1_366_037_800, 250_000_000) // 0.25 s past a whole second
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"nothing", nil, minRetryAfter},
		{"flood control reset", map[string]string{
			"X-FloodControl-Limit": "30", "X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(2 * time.Second),
		}, 1750 * time.Millisecond},
		{"token limit reset", map[string]string{
			"X-Ratelimit-Limit": "500", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": unix(4 * time.Minute),
		}, 4*time.Minute - 250*time.Millisecond},
		{"flood control with the token's headers to spare", map[string]string{
			"X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(3 * time.Second),
			"X-Ratelimit-Remaining": "420", "X-Ratelimit-Reset": unix(200 * time.Second),
		}, 2750 * time.Millisecond},
		{"token limit with the room's headers to spare", map[string]string{
			"X-FloodControl-Remaining": "12", "X-FloodControl-Reset": unix(2 * time.Second),
			"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": unix(90 * time.Second),
		}, 90*time.Second - 250*time.Millisecond},
		{"both spent: the later reset", map[string]string{
			"X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(30 * time.Second),
			"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": unix(10 * time.Second),
		}, 30*time.Second - 250*time.Millisecond},
		{"reset without remaining counts", map[string]string{"X-Ratelimit-Reset": unix(10 * time.Second)}, 10*time.Second - 250*time.Millisecond},
		{"reset with fractions", map[string]string{"X-FloodControl-Reset": "1366037802.75"}, 2500 * time.Millisecond},
		{"reset in milliseconds", map[string]string{"X-FloodControl-Reset": "1366037802750"}, 2500 * time.Millisecond},
		{"retry-after seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"retry-after HTTP date", map[string]string{"Retry-After": now.Add(5 * time.Second).UTC().Format(http.TimeFormat)}, 4750 * time.Millisecond},
		{"retry-after shorter than the reset: the reset", map[string]string{
			"Retry-After": "1", "X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(20 * time.Second),
		}, 20*time.Second - 250*time.Millisecond},
		{"retry-after longer than the reset: retry-after", map[string]string{
			"Retry-After": "40", "X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(20 * time.Second),
		}, 40 * time.Second},
		{"retry-after zero", map[string]string{"Retry-After": "0"}, minRetryAfter},
		{"retry-after negative", map[string]string{"Retry-After": "-5"}, minRetryAfter},
		{"retry-after garbage", map[string]string{"Retry-After": "soon"}, minRetryAfter},
		{"retry-after date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).UTC().Format(http.TimeFormat)}, minRetryAfter},
		{"reset garbage", map[string]string{"X-FloodControl-Remaining": "0", "X-FloodControl-Reset": "tomorrow"}, minRetryAfter},
		{"reset NaN", map[string]string{"X-FloodControl-Reset": "NaN"}, minRetryAfter},
		{"reset zero", map[string]string{"X-Ratelimit-Reset": "0"}, minRetryAfter},
		{"reset in the past", map[string]string{"X-FloodControl-Remaining": "0", "X-FloodControl-Reset": unix(-30 * time.Second)}, minRetryAfter},
		{"reset absurdly far", map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "99999999999"}, maxRetryAfter},
		{"reset infinite", map[string]string{"X-Ratelimit-Reset": "1e999"}, minRetryAfter},
		{"retry-after absurd", map[string]string{"Retry-After": "99999999999999"}, maxRetryAfter},
		{"retry-after date absurd", map[string]string{"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, maxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			assert.Equal(t, tt.want, retryAfter(h, now))
		})
	}
}
