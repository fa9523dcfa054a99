// Package httpjson writes JSON replies, errors included, the one way every
// sitrep HTTP endpoint sends them: the ingest endpoints, the admin API, web
// rooms and the HipChat webhook. Every reply carries the same headers
// (Content-Type: application/json; charset=utf-8, X-Content-Type-Options:
// nosniff, Cache-Control: no-store), and every error has the same body:
// {"error": "...", "field": "..."}, field left out when there is none.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the body of every JSON error reply.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"` // the request field at fault, if one is
}

// Write sends v, encoded as encoding/json encodes it and ending in a newline,
// with status. A value that cannot be encoded is a 500.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: "internal error: reply not encodable"})
	}
	WriteRaw(w, status, append(b, '\n'))
}

// WriteRaw sends body, already JSON, with status.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error sends {"error": msg, "field": field} with status; field is left out
// when empty.
func Error(w http.ResponseWriter, status int, field, msg string) {
	Write(w, status, ErrorBody{Error: msg, Field: field})
}
