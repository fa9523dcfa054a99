package httpjson

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReplies(t *testing.T) {
	tests := []struct {
		name   string
		write  func(http.ResponseWriter)
		status int
		body   string
	}{
		{"value", func(w http.ResponseWriter) { Write(w, http.StatusCreated, map[string]any{"b": 1, "a": "<x>"}) },
			http.StatusCreated, `{"a":"\u003cx\u003e","b":1}` + "\n"},
		{"raw", func(w http.ResponseWriter) { WriteRaw(w, http.StatusAccepted, []byte(`{"ok":true}`)) },
			http.StatusAccepted, `{"ok":true}`},
		{"error with field", func(w http.ResponseWriter) { Error(w, http.StatusBadRequest, "limit", "too many") },
			http.StatusBadRequest, `{"error":"too many","field":"limit"}` + "\n"},
		{"error without field", func(w http.ResponseWriter) { Error(w, http.StatusUnauthorized, "", "invalid admin token") },
			http.StatusUnauthorized, `{"error":"invalid admin token"}` + "\n"},
		{"value that cannot be encoded", func(w http.ResponseWriter) { Write(w, http.StatusOK, math.Inf(1)) },
			http.StatusInternalServerError, `{"error":"internal error: reply not encodable"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec)
			assert.Equal(t, tt.status, rec.Code)
			assert.Equal(t, tt.body, rec.Body.String())
			assert.Equal(t, http.Header{
				"Content-Type":           {"application/json; charset=utf-8"},
				"X-Content-Type-Options": {"nosniff"},
				"Cache-Control":          {"no-store"},
			}, rec.Header())
		})
	}
}
