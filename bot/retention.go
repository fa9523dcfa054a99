package bot

import (
	bolt "go.etcd.io/bbolt"

	"github.com/sitrep/sitrep/adapters/discord"
	"github.com/sitrep/sitrep/adapters/slack"
	"github.com/sitrep/sitrep/outbox"
	"github.com/sitrep/sitrep/retention"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/timeline"
)

// newPruner is the retention pruner over every bucket that names incidents.
func (b *Bot) newPruner() *retention.Pruner {
	hooks, sweeps := retentionHooks()
	return retention.New(retention.Options{
		DB: b.db, Timeline: b.tl, Keep: b.cfg.RetentionPeriod(),
		Hooks: hooks, Sweeps: sweeps,
		Logger: b.log.With("component", "retention"), Now: b.now,
	})
}

// retentionHooks says, for each bucket beside the timeline's own that names
// incidents, how a pruned incident leaves it. A package that adds such a
// bucket adds its line here: a Hook for a bucket keyed by incident, a Sweep
// for one that names incidents in its values.
//
// Not here, because they keep nothing of a resolved incident: escalation
// timers (storage.BucketEscalate, deleted on ack and resolve) and the web
// rooms' open incidents (storage.BucketWebOpen). Still to add, by the
// package that owns it: status pages' links of a sitrep incident
// (storage.BucketStatusPages, "l/" ‖ incident ID), a Hook whose Keep spares an
// incident an open page incident or a held-back publication still names.
func retentionHooks() ([]retention.Hook, []retention.Sweep) {
	hooks := []retention.Hook{{
		Name: "outbox",
		Keep: func(tx *bolt.Tx) (func(timeline.Incident) bool, error) {
			pending, err := outbox.PendingIncidents(tx)
			return func(inc timeline.Incident) bool { return pending[inc.ID] }, err
		},
		Prune: func(tx *bolt.Tx, inc timeline.Incident) error { return outbox.DeleteRefs(tx, inc.ID) },
	}}
	sweeps := []retention.Sweep{
		{Name: "slack messages", Bucket: storage.BucketSlackMessages, Incident: func(_, v []byte) uint64 { return slack.MessageIncident(v) }},
		{Name: "discord cards", Bucket: storage.BucketDiscordCards, Incident: func(_, v []byte) uint64 { return discord.CardIncident(v) }},
	}
	return hooks, sweeps
}
