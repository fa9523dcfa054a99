package bot

import (
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/adapters"
	"github.com/sitrep/sitrep/adapters/discord"
	"github.com/sitrep/sitrep/adapters/discord/discordtest"
	"github.com/sitrep/sitrep/timeline"
)

// discordRoutes sends routing_key="dc" to the Discord channel.
const discordRoutes = `routes:
  - name: discord
    matchers: ['routing_key="dc"']
    rooms: [war-room]
`

// kill -9 between posting a card and its acknowledgement, then a click on
// it: the original message is edited, and no second one is ever made.
//   - accepted: Discord has made the message but sitrep never heard back.
//     The retried create carries the same nonce and gets that message back.
//   - stored: sitrep has recorded the card.
func TestDiscordKill9BetweenPostAndAck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name     string
		accepted bool // killed inside the create, else once the card is stored
	}{{"accepted", true}, {"stored", false}} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newDiscordRig(t, newDataPath(t))
			cfgPath := writeConfig(t, rig.yaml+discordRoutes)
			var (
				mu     sync.Mutex
				srv    *child
				killed = make(chan struct{})
			)
			if tc.accepted {
				rig.fake.AfterCreate(func(m discordtest.Message) {
					mu.Lock()
					defer mu.Unlock()
					if m.ChannelID != rig.channel || len(m.Buttons) == 0 || srv == nil {
						return
					}
					// Gone before Discord's answer is written.
					_ = srv.cmd.Process.Signal(syscall.SIGKILL)
					_ = srv.cmd.Wait()
					srv = nil
					rig.fake.AfterCreate(nil)
					close(killed)
				})
			}

			mu.Lock()
			srv = startChild(t, cfgPath)
			first := srv
			mu.Unlock()
			id := uint64(num(first.alert(t, map[string]any{"message_type": "CRITICAL", "entity_id": "dc-kill", "routing_key": "dc", "entity_display_name": "Disk full"})["incident_id"]))
			card := rig.card(t)
			if tc.accepted {
				select {
				case <-killed:
				case <-time.After(10 * time.Second):
					t.Fatal("the fake did not kill sitrep after the card's create")
				}
			} else {
				waitDelivered(t, first, "war-room")
				first.kill9(t)
			}
			require.Equal(t, 1, rig.fake.NonceUses(card.Nonce))

			again := startChild(t, cfgPath)
			if tc.accepted {
				require.Eventually(t, func() bool { return rig.fake.NonceUses(card.Nonce) == 2 }, 10*time.Second, 5*time.Millisecond,
					"the create is retried after the restart, with the same nonce")
			}
			waitDelivered(t, again, "war-room")

			code, body := rig.click(t, again.URL, "3001", card.ID, "carol", adapters.VerbAck, id, true)
			require.Equal(t, http.StatusOK, code, "%v", body)
			assert.Equal(t, float64(7), body["type"], "the press updates the card in place")
			assert.Equal(t, "acknowledged", again.incident(t, id)["state"])
			require.Eventually(t, func() bool { m, _ := rig.fake.Message(card.ID); return m.Edits == 1 }, 10*time.Second, 5*time.Millisecond,
				"the original card edited")
			waitDelivered(t, again, "war-room")

			edited, _ := rig.fake.Message(card.ID)
			require.Len(t, edited.Embeds, 1)
			assert.Equal(t, discord.StateColor(timeline.StateAcknowledged), edited.Embeds[0].Color)
			require.NotNil(t, edited.Embeds[0].Footer)
			assert.Equal(t, "sitrep · acknowledged", edited.Embeds[0].Footer.Text)
			assert.Equal(t, []string{discord.CustomID(adapters.VerbResolve, id)}, edited.Buttons, "only Resolve after an ack")

			msgs := rig.fake.Messages(rig.channel)
			require.Len(t, msgs, 1, "one card in the channel, never a second one")
			assert.Equal(t, card.ID, msgs[0].ID)
			_, _, creates := rig.fake.Counts()
			assert.Equal(t, 1, creates, "one message made")
			want := 1
			if tc.accepted {
				want = 2
			}
			assert.Equal(t, want, rig.fake.NonceUses(card.Nonce), "creates that carried the card's nonce")
		})
	}
}

// waitDelivered waits until nothing is pending for room in sitrep's outbox.
func waitDelivered(t testing.TB, tb *child, room string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, body := tb.do(t, http.MethodGet, "/v1/outbox", adminToken, nil)
		pending, _ := body["pending"].(map[string]any)
		n, ok := pending[room].(float64)
		return code == http.StatusOK && ok && n == 0
	}, 10*time.Second, 10*time.Millisecond, "the outbox for %s drained", room)
}
