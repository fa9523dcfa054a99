package routing

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sitrep/sitrep/storage"
)

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "sitrep.db"), storage.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func rule(name, room string) Rule {
	return Rule{Name: name, Matchers: []string{`team="` + name + `"`}, Rooms: []string{room}}
}

// secretRule has a secret-looking set value and matcher, which Rule.Redacted
// shows as "****4242" and auth_token!="****5678".
func secretRule() Rule {
	return Rule{
		Name:     "hooks",
		Matchers: []string{`team="hooks"`, `auth_token!="matcher-secret-5678"`},
		Rooms:    []string{"hooks"},
		Set:      map[string]string{"auth_token": "route-secret-token-4242", "team": "hooks"},
	}
}

func TestStoreOpenSeedsFromConfigUntilItChanges(t *testing.T) {
	config := []Rule{rule("payments", "payments")}
	edited := []Rule{rule("payments", "payments"), rule("db", "db")}
	tests := []struct {
		name       string
		reopenWith []Rule
		want       []Rule
	}{
		{"same config keeps the edited routes", config, edited},
		{"changed config replaces them", []Rule{rule("sre", "sre")}, []Rule{rule("sre", "sre")}},
		{"config emptied replaces them", nil, []Rule{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t)
			s, err := OpenStore(ctx, db, config, opts())
			require.NoError(t, err)
			assert.Equal(t, config, s.Load().Rules(), "a new store runs the config's routes")
			require.NoError(t, s.Replace(ctx, edited))
			assert.Equal(t, edited, s.Load().Rules())

			again, err := OpenStore(ctx, db, tt.reopenWith, opts())
			require.NoError(t, err)
			assert.Equal(t, tt.want, again.Load().Rules())
		})
	}
}

func TestStoreOpenRefusesStoredRoutesThatNoLongerCompile(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	config := []Rule{rule("payments", "payments")}
	s, err := OpenStore(ctx, db, config, opts())
	require.NoError(t, err)
	require.NoError(t, s.Replace(ctx, []Rule{rule("db", "db")}))

	gone := Options{RoomExists: func(n string) bool { return n != "db" }, DefaultRooms: []string{"ops"}}
	_, err = OpenStore(ctx, db, config, gone)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stored routes")
	require.Len(t, RuleErrors(err), 1)
	assert.Equal(t, "rooms[0]", RuleErrors(err)[0].Field)
}

func TestStoreReplaceRejectsAndKeepsTheRunningRoutes(t *testing.T) {
	running := []Rule{secretRule()}
	redacted := func(edit func(*Rule)) []Rule {
		r := running[0].Redacted()
		edit(&r)
		return []Rule{r}
	}
	tests := []struct {
		name  string
		rules []Rule
		field string // of the one RuleError
	}{
		{"unknown room", []Rule{rule("x", "nowhere")}, "rooms[0]"},
		{"bad matcher", []Rule{{Name: "x", Matchers: []string{"team"}, Rooms: []string{"ops"}}}, "matchers[0]"},
		{"redacted set value matching nothing", redacted(func(r *Rule) { r.Set["auth_token"] = "****9999" }), "set.auth_token"},
		{"redacted matcher matching nothing", redacted(func(r *Rule) { r.Matchers[1] = `auth_token!="****0000"` }), "matchers[1]"},
		{"redacted value under another rule's name", redacted(func(r *Rule) { r.Name = "other" }), "matchers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t)
			s, err := OpenStore(ctx, db, running, opts())
			require.NoError(t, err)

			err = s.Replace(ctx, tt.rules)
			require.Error(t, err)
			problems := RuleErrors(err)
			require.Len(t, problems, 1, "%v", err)
			assert.Equal(t, tt.field, problems[0].Field)
			assert.Equal(t, running, s.Load().Rules(), "the running routes stay")

			again, err := OpenStore(ctx, db, running, opts())
			require.NoError(t, err)
			assert.Equal(t, running, again.Load().Rules(), "and so do the stored ones")
		})
	}
}

func TestStoreReplaceKeepsRedactedSecrets(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, openDB(t), []Rule{secretRule()}, opts())
	require.NoError(t, err)

	shown := s.Load().Rules()[0].Redacted()
	require.Equal(t, "****4242", shown.Set["auth_token"])
	require.Equal(t, `auth_token!="****5678"`, shown.Matchers[1])
	shown.Set["team"] = "web"
	require.NoError(t, s.Replace(ctx, []Rule{shown}))

	got := s.Load().Rules()[0]
	assert.Equal(t, "route-secret-token-4242", got.Set["auth_token"], "the real secret stays")
	assert.Equal(t, `auth_token!="matcher-secret-5678"`, got.Matchers[1], "and the real matcher")
	assert.Equal(t, "web", got.Set["team"], "the edit applies")
	assert.Equal(t, "****4242", shown.Set["auth_token"], "the caller's map is not written to")
}
