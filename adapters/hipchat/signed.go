package hipchat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sitrep/sitrep/adapters"
)

// Leeway is the clock skew allowed on a signed request's exp and iat.
const Leeway = 30 * time.Second

// MaxSignedLifetime is the longest a signed request may be valid for, exp
// minus iat: it bounds how long its jti must be remembered (HipChat's are
// valid for minutes).
const MaxSignedLifetime = 10 * time.Minute

// maxSignedRequest bounds the JWT sitrep parses.
const maxSignedRequest = 8 << 10

// Claims are those of the JWT HipChat signs an add-on's webhooks with.
type Claims struct {
	jwt.RegisteredClaims
	Context struct {
		RoomID json.RawMessage `json:"room_id"`
	} `json:"context"`
}

// AuthError is a webhook refused for its credentials (401): Field names the
// claim or header at fault. It never holds the token or a secret.
type AuthError struct {
	Field string
	Msg   string
}

func (e *AuthError) Error() string { return e.Field + ": " + e.Msg }

func authError(field, msg string) error { return &AuthError{Field: field, Msg: msg} }

// SignedRequest returns the JWT r carries, as "Authorization: JWT <token>"
// or the signed_request query parameter, and whether it carries one.
func SignedRequest(r *http.Request) (string, bool) {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "JWT") {
		tok = strings.TrimSpace(tok)
		return tok, tok != ""
	}
	tok := r.URL.Query().Get("signed_request")
	return tok, tok != ""
}

var errUnknownIssuer = errors.New("unknown issuer")

// VerifyWebhook checks a signed room_message webhook and decodes it: the
// JWT is HS256, signed with the secret of the install its iss names, not
// expired (exp required, Leeway allowed), issued (iat required, not in the
// future), valid for at most MaxSignedLifetime (exp - iat), with a jti not
// seen before; its context.room_id is the install's
// HipChat room and the room the body names. A refusal is an *AuthError; a
// body that is not a webhook, a *FieldError; a valid webhook not for
// sitrep, an error IsIgnored reports. It needs Options.Installs.
func (c *Client) VerifyWebhook(ctx context.Context, token string, body []byte) (adapters.Inbound, error) {
	if c.installs == nil {
		return adapters.Inbound{}, authError("authorization", "signed requests are not accepted: no HipChat add-on install")
	}
	if len(token) > maxSignedRequest {
		return adapters.Inbound{}, authError("authorization", "signed request too long")
	}
	var inst Install
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		var ok bool
		if inst, ok = c.installs.Get(iss); !ok {
			return nil, errUnknownIssuer
		}
		return []byte(inst.OAuthSecret), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(c.now))
	switch {
	case errors.Is(err, errUnknownIssuer):
		return adapters.Inbound{}, authError("iss", "not a HipChat add-on install of this server")
	case errors.Is(err, jwt.ErrTokenExpired):
		return adapters.Inbound{}, authError("exp", "signed request expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return adapters.Inbound{}, authError("exp", "required")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return adapters.Inbound{}, authError("iat", "in the future")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return adapters.Inbound{}, authError("nbf", "not valid yet")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return adapters.Inbound{}, authError("authorization", "bad signature, or not HS256")
	case err != nil:
		return adapters.Inbound{}, authError("authorization", "not a valid signed request")
	}
	if claims.IssuedAt == nil {
		return adapters.Inbound{}, authError("iat", "required")
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxSignedLifetime {
		return adapters.Inbound{}, authError("exp", "more than "+MaxSignedLifetime.String()+" after iat")
	}
	if claims.ID == "" {
		return adapters.Inbound{}, authError("jti", "required")
	}
	room, err := idString(claims.Context.RoomID)
	if err != nil {
		return adapters.Inbound{}, authError("context.room_id", err.Error())
	}
	if room != inst.RoomID {
		return adapters.Inbound{}, authError("context.room_id", "not the HipChat room the install is for")
	}
	in, err := ParseWebhook(body)
	if err != nil {
		return adapters.Inbound{}, err
	}
	if in.RoomID != room {
		return adapters.Inbound{}, authError("item.room.id", "not the room the signed request is for")
	}
	if err := c.installs.Seen(ctx, inst.OAuthID, claims.ID, claims.ExpiresAt.Add(Leeway), c.now()); errors.Is(err, ErrReplay) {
		return adapters.Inbound{}, authError("jti", "signed request seen before")
	} else if err != nil {
		return adapters.Inbound{}, err
	}
	in.UserID = in.User // HipChat signed the request it names the sender in
	return in, nil
}
