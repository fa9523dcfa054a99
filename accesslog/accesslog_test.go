package accesslog

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sitrep/sitrep/logtest"
)

func TestAccessLog(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	mux.HandleFunc("POST /v1/alerts", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	mux.HandleFunc("PUT /v1/routes", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name, method, target string
		debug                bool
		want                 []string
		not                  []string
	}{
		{"a read is debug", http.MethodGet, "/ok", true, []string{"level=DEBUG", "path=/ok", "status=200", "bytes=5"}, nil},
		{"a read is quiet at info", http.MethodGet, "/ok", false, nil, []string{"path=/ok"}},
		{"a refusal at info, without its query", http.MethodPost, "/v1/alerts?token=s3cret-token-value", false, []string{"level=INFO", "path=/v1/alerts", "status=401"}, []string{"s3cret"}},
		{"a change at info", http.MethodPut, "/v1/routes", false, []string{"level=INFO", "method=PUT", "status=200"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := &logtest.Buffer{}
			level := buf.Logger(0)
			if tc.debug {
				level = buf.Logger(-4)
			}
			h := Handler(mux, level, nil)
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(""))
			h.ServeHTTP(httptest.NewRecorder(), r)
			for _, s := range tc.want {
				assert.Contains(t, buf.String(), s)
			}
			for _, s := range tc.not {
				assert.NotContains(t, buf.String(), s)
			}
		})
	}
}
