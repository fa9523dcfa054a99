package hipchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sitrep/sitrep/httpjson"
)

// Paths of sitrep's HipChat add-on.
const (
	CapabilitiesPath = "/hipchat/capabilities.json"
	InstalledPath    = "/hipchat/installed"
	// MaxInstallBody is the largest install callback body accepted.
	MaxInstallBody = 8 << 10
	maxOAuthField  = 256
)

// Addon is what sitrep's HipChat add-on needs beyond a Client.
type Addon struct {
	// PublicURL is sitrep's address as HipChat reaches it.
	PublicURL string
	// Room is the sitrep room an install is for when its descriptor URL
	// names none (hipchat.install_room, else the default room).
	Room string
	// RoomExists reports whether a sitrep room called name exists.
	RoomExists func(name string) bool
}

// Capabilities is HipChat's add-on capabilities descriptor, the parts sitrep uses.
type Capabilities struct {
	Name         string            `json:"name"`
	Key          string            `json:"key"`
	Description  string            `json:"description"`
	Links        map[string]string `json:"links"`
	Capabilities struct {
		HipchatAPIConsumer struct {
			FromName string   `json:"fromName"`
			Scopes   []string `json:"scopes"`
		} `json:"hipchatApiConsumer"`
		Installable struct {
			CallbackURL string `json:"callbackUrl"`
			AllowRoom   bool   `json:"allowRoom"`
			AllowGlobal bool   `json:"allowGlobal"`
		} `json:"installable"`
		Webhook []CapabilityWebhook `json:"webhook"`
	} `json:"capabilities"`
}

// CapabilityWebhook is a webhook an add-on's descriptor subscribes to.
type CapabilityWebhook struct {
	Event          string `json:"event"`
	URL            string `json:"url"`
	Name           string `json:"name"`
	Authentication string `json:"authentication"`
}

// RegisterAddon serves the add-on install flow: GET CapabilitiesPath (the
// descriptor, ?room= naming the sitrep room an install is for), POST
// InstalledPath (HipChat's install callback) and DELETE InstalledPath/{oauthId}
// (its uninstall). It needs Options.Installs.
func (c *Client) RegisterAddon(mux *http.ServeMux, a Addon) {
	a.PublicURL = strings.TrimRight(a.PublicURL, "/")
	mux.HandleFunc("GET "+CapabilitiesPath, func(w http.ResponseWriter, r *http.Request) { c.serveCapabilities(w, r, a) })
	mux.HandleFunc("POST "+InstalledPath, func(w http.ResponseWriter, r *http.Request) { c.serveInstalled(w, r, a) })
	mux.HandleFunc("DELETE "+InstalledPath+"/{oauthId}", func(w http.ResponseWriter, r *http.Request) {
		c.serveUninstalled(w, r, r.PathValue("oauthId"))
	})
	// HipChat appends "/{oauthId}" to the callback URL as given, query and
	// all: an install for ?room=ops is uninstalled at ?room=ops/{oauthId}.
	mux.HandleFunc("DELETE "+InstalledPath, func(w http.ResponseWriter, r *http.Request) {
		_, id, _ := strings.Cut(r.URL.Query().Get("room"), "/")
		c.serveUninstalled(w, r, id)
	})
}

// installRoom is the sitrep room the request's ?room= names, or a's default;
// "" when that room does not exist.
func installRoom(r *http.Request, a Addon) (string, bool) {
	room := r.URL.Query().Get("room")
	if room == "" {
		room = a.Room
	}
	return room, room != "" && a.RoomExists != nil && a.RoomExists(room)
}

func (c *Client) serveCapabilities(w http.ResponseWriter, r *http.Request, a Addon) {
	room, ok := installRoom(r, a)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "room", "no sitrep room "+room)
		return
	}
	q := ""
	if r.URL.Query().Get("room") != "" {
		q = "?" + url.Values{"room": {room}}.Encode()
	}
	var d Capabilities
	d.Name = "sitrep"
	d.Key = "sitrep-incidents"
	d.Description = "Incident timelines from sitrep in this room, and this room's chat on them (room " + room + ")."
	d.Links = map[string]string{"self": a.PublicURL + CapabilitiesPath + q, "homepage": a.PublicURL + "/"}
	d.Capabilities.HipchatAPIConsumer.FromName = From
	d.Capabilities.HipchatAPIConsumer.Scopes = []string{"send_notification", "view_messages"}
	d.Capabilities.Installable.CallbackURL = a.PublicURL + InstalledPath + q
	d.Capabilities.Installable.AllowRoom = true
	d.Capabilities.Webhook = []CapabilityWebhook{{Event: "room_message", URL: a.PublicURL + WebhookPath,
		Name: "sitrep chat", Authentication: "jwt"}}
	httpjson.Write(w, http.StatusOK, d)
}

// installBody is HipChat's install callback body.
type installBody struct {
	OAuthID         string          `json:"oauthId"`
	OAuthSecret     string          `json:"oauthSecret"`
	RoomID          json.RawMessage `json:"roomId"`
	GroupID         json.RawMessage `json:"groupId"`
	CapabilitiesURL string          `json:"capabilitiesUrl"`
}

// serveInstalled takes HipChat's install callback. HipChat calls it without
// credentials of its own, so an install is accepted only if: its body is at
// most MaxInstallBody and has every field; it is for one room (roomId; a
// global install has none); the sitrep room it is for (?room=, else the
// default) exists; its capabilitiesUrl is on the configured HipChat server;
// that server's OAuth token endpoint accepts its oauthId and oauthSecret;
// the session of the token it grants is for the HipChat room roomId names;
// and its oauthId is not installed in another room. The last three stop a
// forged install: only the HipChat server can have issued credentials it
// accepts, and it says which room it issued them for, so credentials from
// an install in one room cannot take over another room's.
func (c *Client) serveInstalled(w http.ResponseWriter, r *http.Request, a Addon) {
	if c.installs == nil {
		httpjson.Error(w, http.StatusNotFound, "", "HipChat add-on installs are off")
		return
	}
	room, ok := installRoom(r, a)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "room", "no sitrep room "+room)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInstallBody))
	if err != nil {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body larger than %d bytes", MaxInstallBody))
		return
	}
	inst, fe := parseInstall(raw)
	if fe != nil {
		httpjson.Error(w, http.StatusBadRequest, fe.Field, fe.Error())
		return
	}
	inst.Room = room
	if !strings.HasPrefix(inst.CapabilitiesURL, c.base+"/") {
		httpjson.Error(w, http.StatusBadRequest, "capabilitiesUrl", "not on this server's HipChat ("+c.base+")")
		return
	}
	switch err := c.confirmInstall(r.Context(), inst); {
	case errors.Is(err, errOtherRoom):
		c.log.Warn("hipchat install refused: its credentials are for another HipChat room", "install", inst)
		httpjson.Error(w, http.StatusBadRequest, "roomId", "HipChat issued this install's credentials for another room")
		return
	case err != nil:
		c.log.Warn("hipchat install refused: HipChat does not confirm its credentials", "install", inst, "err", err)
		httpjson.Error(w, http.StatusUnauthorized, "oauthSecret", "HipChat does not accept this install's credentials")
		return
	}
	inst.InstalledAt = c.now().UTC()
	switch err := c.installs.Put(r.Context(), inst); {
	case errors.Is(err, ErrOtherRoom):
		c.log.Warn("hipchat install refused: its oauthId is installed in another HipChat room", "install", inst)
		httpjson.Error(w, http.StatusConflict, "oauthId", "already installed in another HipChat room")
		return
	case err != nil:
		c.log.Error("store hipchat install", "install", inst, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "internal error")
		return
	}
	c.log.Info("hipchat add-on installed", "install", inst)
	httpjson.Write(w, http.StatusCreated, inst.Redacted())
}

// parseInstall decodes and checks an install callback body.
func parseInstall(raw []byte) (Install, *FieldError) {
	var b installBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&b); err != nil {
		return Install{}, jsonFieldError(err)
	}
	inst := Install{OAuthID: strings.TrimSpace(b.OAuthID), OAuthSecret: b.OAuthSecret, CapabilitiesURL: b.CapabilitiesURL}
	for _, f := range []struct{ name, v string }{{"oauthId", inst.OAuthID}, {"oauthSecret", inst.OAuthSecret}, {"capabilitiesUrl", inst.CapabilitiesURL}} {
		switch {
		case f.v == "":
			return Install{}, &FieldError{Field: f.name, Msg: "required"}
		case len(f.v) > maxOAuthField:
			return Install{}, &FieldError{Field: f.name, Msg: fmt.Sprintf("longer than %d bytes", maxOAuthField)}
		}
	}
	if strings.ContainsAny(inst.OAuthID, "/?#%\x00") {
		return Install{}, &FieldError{Field: "oauthId", Msg: "not an OAuth client ID"}
	}
	var err error
	if inst.RoomID, err = idString(b.RoomID); err != nil {
		return Install{}, &FieldError{Field: "roomId", Msg: err.Error() + " (sitrep installs in one room, not globally)"}
	}
	if !isDigits(inst.RoomID) {
		return Install{}, &FieldError{Field: "roomId", Msg: "must be a HipChat room number"}
	}
	if inst.GroupID, err = idString(b.GroupID); err != nil {
		return Install{}, &FieldError{Field: "groupId", Msg: err.Error()}
	}
	return inst, nil
}

// errOtherRoom means HipChat issued an install's credentials for another
// room than its roomId, or for no one room.
var errOtherRoom = errors.New("HipChat issued these credentials for another room")

// maxTokenBody bounds the token and session responses read.
const maxTokenBody = 64 << 10

// confirmInstall asks the HipChat server for a token with the install's
// credentials (its OAuth 2 client credentials grant), as HipChat's install
// flow has an add-on do, then for that token's session (get_session), which
// names the room HipChat installed the add-on in. A refused grant means
// HipChat did not issue the credentials; a session for another room (or
// none, a global install) is errOtherRoom: genuine credentials from one
// room must not install sitrep in another.
func (c *Client) confirmInstall(ctx context.Context, inst Install) error {
	tok, err := c.installToken(ctx, inst)
	if err != nil {
		return err
	}
	room, err := c.sessionRoom(ctx, tok)
	if err != nil {
		return err
	}
	if room != inst.RoomID {
		return errOtherRoom
	}
	return nil
}

// installToken is a token granted for inst's client credentials.
func (c *Client) installToken(ctx context.Context, inst Install) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"send_notification view_messages"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v2/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(inst.OAuthID, inst.OAuthSecret)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.getJSON(req, &out); err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if out.AccessToken == "" {
		return "", errors.New("token request: HipChat granted no access_token")
	}
	return out.AccessToken, nil
}

// sessionRoom is the number of the room HipChat's session for tok is for
// (client.room.id), or "" when it has none.
func (c *Client) sessionRoom(ctx context.Context, tok string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v2/oauth/token/"+url.PathEscape(tok), nil)
	if err != nil {
		return "", fmt.Errorf("session request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	var out struct {
		Client struct {
			Room *struct {
				ID json.RawMessage `json:"id"`
			} `json:"room"`
		} `json:"client"`
	}
	if err := c.getJSON(req, &out); err != nil {
		return "", fmt.Errorf("session request: %w", err)
	}
	if out.Client.Room == nil {
		return "", nil
	}
	room, err := idString(out.Client.Room.ID)
	if err != nil {
		return "", fmt.Errorf("session request: client.room.id %w", err)
	}
	return room, nil
}

// getJSON does req and decodes its 200 answer into v. Its errors never
// hold the request's credentials or the answer.
func (c *Client) getJSON(req *http.Request, v any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token
		}
		return err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxTokenBody)
	defer func() { _, _ = io.Copy(io.Discard, body) }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HipChat answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return errors.New("HipChat's answer is not JSON")
	}
	return nil
}

// serveUninstalled takes HipChat's uninstall callback. It is unauthenticated
// too; it accepts only the oauthId of an existing install, which is
// HipChat's own unguessable client ID, known only to HipChat and to sitrep
// (it arrives as the iss of signed webhooks), and all it can do is stop that
// HipChat room's chat from reaching sitrep.
func (c *Client) serveUninstalled(w http.ResponseWriter, r *http.Request, oauthID string) {
	if c.installs == nil {
		httpjson.Error(w, http.StatusNotFound, "", "HipChat add-on installs are off")
		return
	}
	ok, err := c.installs.Delete(r.Context(), oauthID)
	switch {
	case err != nil:
		c.log.Error("delete hipchat install", "oauth_id", oauthID, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "", "internal error")
	case !ok:
		httpjson.Error(w, http.StatusNotFound, "oauthId", "no such install")
	default:
		c.log.Info("hipchat add-on uninstalled", "oauth_id", oauthID)
		w.WriteHeader(http.StatusNoContent)
	}
}
