package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Headers sitrep sets on every webhook request.
const (
	// HeaderTimestamp is when the request was signed, in Unix seconds.
	HeaderTimestamp = "X-Sitrep-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// webhook's signing secret, of the timestamp, ".", and the body (see Sign);
	// only on webhooks with a signing secret.
	HeaderSignature = "X-Sitrep-Signature"
	// HeaderDelivery is the same on every try of one delivery, for a receiver
	// to drop a repeat.
	HeaderDelivery = "X-Sitrep-Delivery"
	// HeaderEvent is the webhook's event (Incident-Triggered, ...).
	HeaderEvent = "X-Sitrep-Event"
)

// SignaturePrefix begins the signature header's value (its scheme's version).
const SignaturePrefix = "v1="

// Sign is the HeaderSignature value of a request with body sent at Unix time
// ts: "v1=" + hex(HMAC-SHA256(secret, "<ts>.<body>")). A receiver recomputes it
// from the raw body and the timestamp header, compares in constant time, and
// refuses a timestamp more than five minutes off its clock.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return SignaturePrefix + hex.EncodeToString(mac.Sum(nil))
}
