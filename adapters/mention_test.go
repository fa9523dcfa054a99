package adapters

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMention(t *testing.T) {
	slack := func(id string) string { return "<@" + id + ">" }
	for _, tc := range []struct {
		name     string
		text     string
		mentions map[string]string
		want     string
	}{
		{"none", "payments: alice → bob is now on call", nil, "payments: alice → bob is now on call"},
		{"the name in the text", "payments: alice → bob is now on call", map[string]string{"bob": "U1"}, "payments: alice → <@U1> is now on call"},
		{"whole words only", "bobby and bob", map[string]string{"bob": "U1"}, "bobby and <@U1>"},
		{"longest first", "al, alice", map[string]string{"al": "U1", "alice": "U2"}, "<@U1>, <@U2>"},
		{"absent name appended", "#4 escalated", map[string]string{"bob": "U1"}, "#4 escalated <@U1>"},
		{"empty id ignored", "bob", map[string]string{"bob": ""}, "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Mention(tc.text, tc.mentions, slack))
		})
	}
}
