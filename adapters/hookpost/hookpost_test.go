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

// A status page's hook that answers with a redirect is not followed: Go's
// default client would turn the POST into a GET of the new location and
// count its 200 as the update delivered, which the page never got.
func TestChatDoesNotFollowRedirects(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			followed := 0
			mux := http.NewServeMux()
			mux.HandleFunc("/hooks/generic_v2", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/login", code)
			})
			mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { followed++ })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c := NewChat("statushub", nil)
			_, err := c.Deliver(context.Background(), adapters.Delivery{
				Room: adapters.Room{Name: "statuspage:public/api", ID: srv.URL + "/hooks/generic_v2?token=supersecrettoken42"},
				Msg:  adapters.Message{Payload: []byte(`{}`)},
			})
			require.Error(t, err)
			assert.True(t, adapters.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), "redirect")
			assert.NotContains(t, err.Error(), "supersecrettoken42")
			assert.Zero(t, followed, "the redirect was followed")
		})
	}
}
