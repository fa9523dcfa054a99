package bot

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
)

const discordToken = "discord-test-token"

type discordRig struct {
	fake    *discordtest.Fake
	channel string
	priv    ed25519.PrivateKey
	yaml    string
}

func newDiscordRig(t testing.TB, data string) *discordRig {
	t.Helper()
	fake := discordtest.New(discordToken)
	t.Cleanup(fake.Close)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ch := fake.AddChannel()
	extra := fmt.Sprintf(`  - name: war-room
    platform: discord
    id: "%s"
discord:
  bot_token: %s
  public_key: %s
  application_id: "800000000000000001"
  api_url: %s
`, ch, discordToken, hex.EncodeToString(pub), fake.URL())
	return &discordRig{fake: fake, channel: ch, priv: priv, yaml: baseConfig(data, extra)}
}

// click presses a card's button, signed, as user.
func (r *discordRig) click(t testing.TB, url, id, messageID, user string, verb adapters.Verb, incident uint64, signed bool) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": id, "application_id": "800000000000000001", "type": 3, "token": "tok-" + id, "channel_id": r.channel,
		"member":  map[string]any{"user": map[string]any{"id": "700000000000000001", "username": user, "global_name": user}},
		"message": map[string]any{"id": messageID, "channel_id": r.channel, "embeds": []any{map[string]any{"title": "card"}}},
		"data":    map[string]any{"custom_id": discord.CustomID(verb, incident), "component_type": 2},
	})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url+discord.InteractionsPath, bytes.NewReader(body))
	require.NoError(t, err)
	if signed {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(r.priv, append([]byte(ts), body...))))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (r *discordRig) card(t testing.TB) discordtest.Message {
	t.Helper()
	var card discordtest.Message
	require.Eventually(t, func() bool {
		msgs := r.fake.Messages(r.channel)
		if len(msgs) == 0 {
			return false
		}
		card = msgs[0]
		return true
	}, 10*time.Second, 5*time.Millisecond, "the card in the Discord channel")
	return card
}

func TestDiscordEndToEnd(t *testing.T) {
	rig := newDiscordRig(t, newDataPath(t))
	tb := startBot(t, rig.yaml)
	code, body := tb.do(t, http.MethodPut, "/v1/routes", adminToken, map[string]any{"routes": []any{
		map[string]any{"name": "discord", "matchers": []string{`routing_key="dc"`}, "rooms": []string{"war-room", "ops"}},
	}})
	require.Equal(t, http.StatusOK, code, "%v", body)
	ops := tb.join(t, "ops")
	require.Eventually(t, func() bool { return rig.fake.Connected() == 1 }, 10*time.Second, 10*time.Millisecond, "the gateway session")
	require.Len(t, rig.fake.Commands("800000000000000001", ""), 1, "/sitrep registered")

	id := uint64(num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "dc-1", "routing_key": "dc", "entity_display_name": "Queue stuck"})["incident_id"]))
	card := rig.card(t)
	assert.Equal(t, []string{discord.CustomID(adapters.VerbAck, id), discord.CustomID(adapters.VerbResolve, id)}, card.Buttons)
	require.Len(t, card.Embeds, 1)
	assert.Contains(t, card.Embeds[0].Title, "Queue stuck")
	assert.Equal(t, fmt.Sprintf("%s/incidents/%d", tb.Bot.cfg.PublicURL, id), card.Embeds[0].URL,
		"the card links to the incident's readable page, not the admin API")

	// An unsigned request is refused, and changes nothing.
	code, _ = rig.click(t, tb.URL, "1001", card.ID, "carol", adapters.VerbAck, id, false)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, "triggered", tb.incident(t, id)["state"])

	code, body = rig.click(t, tb.URL, "1002", card.ID, "carol", adapters.VerbAck, id, true)
	require.Equal(t, http.StatusOK, code, "%v", body)
	assert.Equal(t, float64(7), body["type"], "the press updates the card in place")
	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := rig.fake.Message(card.ID); return m.Edits >= 1 }, 10*time.Second, 5*time.Millisecond, "the card edited")
	edited, _ := rig.fake.Message(card.ID)
	assert.Equal(t, []string{discord.CustomID(adapters.VerbResolve, id)}, edited.Buttons, "only Resolve after an ack")
	ops.waitFor(t, 5*time.Second, "the ack in the web room", textHas("acknowledged by carol"))

	// A click on a resolved incident is answered privately.
	_, err := tb.inbox.Receive(t.Context(), adapters.Inbound{Platform: "webroom", RoomID: "ops", User: "dave", Text: fmt.Sprintf("/resolve %d", id)})
	require.NoError(t, err)
	code, body = rig.click(t, tb.URL, "1003", card.ID, "carol", adapters.VerbResolve, id, true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(64), body["data"].(map[string]any)["flags"], "ephemeral: %v", body)

	// A reply typed in the card's thread lands on the incident and is mirrored.
	rig.fake.Say(card.ID, "700000000000000002", "erin", "draining the queue", nil)
	ops.waitFor(t, 5*time.Second, "the thread reply in the web room", textHas("draining the queue"))
	require.Eventually(t, func() bool {
		for _, ev := range tb.incident(t, id)["events"].([]any) {
			if e := ev.(map[string]any); e["kind"] == "chat" && e["text"] == "draining the queue" {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "a chat event on the timeline")
	assert.Len(t, rig.fake.Messages(rig.channel), 1, "one card, edited, never a second one")
}

// sitrep stops between posting a card and its acknowledgement; once it is
// back, a click edits the original card, and no second one is posted.
func TestDiscordRestartThenClick(t *testing.T) {
	data := newDataPath(t)
	rig := newDiscordRig(t, data)
	routes := map[string]any{"routes": []any{map[string]any{"name": "discord", "matchers": []string{`routing_key="dc"`}, "rooms": []string{"war-room"}}}}
	tb := startBot(t, rig.yaml)
	code, body := tb.do(t, http.MethodPut, "/v1/routes", adminToken, routes)
	require.Equal(t, http.StatusOK, code, "%v", body)
	id := uint64(num(tb.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "dc-2", "routing_key": "dc", "entity_display_name": "Disk full"})["incident_id"]))
	card := rig.card(t)
	tb.stop()

	tb = startBot(t, rig.yaml)
	code, body = rig.click(t, tb.URL, "2001", card.ID, "carol", adapters.VerbAck, id, true)
	require.Equal(t, http.StatusOK, code, "%v", body)
	assert.Equal(t, "acknowledged", tb.incident(t, id)["state"])
	require.Eventually(t, func() bool { m, _ := rig.fake.Message(card.ID); return m.Edits >= 1 }, 10*time.Second, 5*time.Millisecond, "the original card edited")
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, rig.fake.Messages(rig.channel), 1, "no second card")
	_, _, creates := rig.fake.Counts()
	assert.Equal(t, 1, creates)
}
