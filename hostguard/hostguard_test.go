package hostguard

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tc := range []struct {
		name string
		opts Options
		host string
		path string
		want int
	}{
		{"loopback listener: loopback address", Options{Listen: "127.0.0.1:8080"}, "127.0.0.1:8080", "/rooms/ops", http.StatusTeapot},
		{"loopback listener: localhost", Options{Listen: "127.0.0.1:8080"}, "localhost:8080", "/", http.StatusTeapot},
		{"loopback listener: IPv6 loopback", Options{Listen: "[::1]:8080"}, "[::1]:8080", "/", http.StatusTeapot},
		{"loopback listener: a rebinding name", Options{Listen: "127.0.0.1:8080"}, "evil.example:8080", "/rooms/ops", http.StatusForbidden},
		{"loopback listener: a name under localhost", Options{Listen: "localhost:8080"}, "app.localhost:8080", "/", http.StatusTeapot},
		{"loopback listener: no host", Options{Listen: "127.0.0.1:8080"}, "", "/", http.StatusForbidden},
		{"loopback listener: public_url's host", Options{Listen: "127.0.0.1:8080", PublicURL: "https://sitrep.example.com"}, "SITREP.example.com.", "/", http.StatusTeapot},
		{"loopback listener: an allowed host", Options{Listen: "127.0.0.1:8080", Allowed: []string{"ops.internal:8443"}}, "ops.internal", "/", http.StatusTeapot},
		{"health checks whatever the host", Options{Listen: "127.0.0.1:8080", Open: []string{"/healthz"}}, "10.0.0.7:8080", "/healthz", http.StatusTeapot},
		{"open listener, nothing set: not checked", Options{Listen: ":8080", PublicURL: "http://localhost:8080"}, "anything.example", "/", http.StatusTeapot},
		{"open listener with public_url: its host", Options{Listen: ":8080", PublicURL: "https://sitrep.example.com", PublicURLSet: true}, "sitrep.example.com", "/", http.StatusTeapot},
		{"open listener with public_url: another", Options{Listen: ":8080", PublicURL: "https://sitrep.example.com", PublicURLSet: true}, "evil.example", "/", http.StatusForbidden},
		{"open listener with public_url: loopback is another host", Options{Listen: "0.0.0.0:8080", PublicURL: "https://sitrep.example.com", PublicURLSet: true}, "127.0.0.1:8080", "/", http.StatusForbidden},
		{"open listener, only allowed hosts", Options{Listen: ":8080", Allowed: []string{"sitrep.corp"}}, "sitrep.corp:8080", "/", http.StatusTeapot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(ok, tc.opts)
			r := httptest.NewRequest(http.MethodGet, "http://x"+tc.path, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			assert.Equal(t, tc.want, w.Code)
			if tc.want == http.StatusForbidden {
				assert.Contains(t, w.Body.String(), `"field":"Host"`)
			}
		})
	}
}
