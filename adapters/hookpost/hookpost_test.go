package hookpost

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
)

func TestPost(t *testing.T) {
	cases := []struct {
		name      string
		code      int
		header    string
		body      string
		permanent bool
		after     time.Duration
		ok        bool
	}{
		{name: "ok", code: 200, ok: true},
		{name: "created", code: 201, ok: true},
		{name: "rate limited", code: 429, header: "7", after: 7 * time.Second},
		{name: "rate limited without header", code: 429, after: DefaultRetryAfter},
		{name: "rejected", code: 422, body: "state: must be one of investigating, ...", permanent: true},
		{name: "server error", code: 503, body: "busy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			hook := srv.URL + "/hooks/generic_v2?token=supersecrettoken42"
			err := Post(context.Background(), srv.Client(), hook, []byte(`{}`))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "supersecrettoken42")
			assert.Equal(t, tc.permanent, adapters.IsPermanent(err))
			after, limited := adapters.RetryAfter(err)
			assert.Equal(t, tc.after != 0, limited)
			assert.Equal(t, tc.after, after)
			if tc.body != "" {
				assert.Contains(t, err.Error(), tc.body)
			}
		})
	}
}

func TestPostNetworkErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	hook := srv.URL + "/hooks/generic_v2?token=supersecrettoken42"
	srv.Close()
	err := Post(context.Background(), http.DefaultClient, hook, []byte(`{}`))
	require.Error(t, err)
	assert.False(t, adapters.IsPermanent(err))
	assert.NotContains(t, err.Error(), "supersecrettoken42")
	assert.NotContains(t, err.Error(), "generic_v2")
}
