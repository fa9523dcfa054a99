package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sitrep/sitrep/webhooks"
)

// applyWebhookEnv lets SITREP_WEBHOOK_<NAME>_URL and
// SITREP_WEBHOOK_<NAME>_SIGNING_SECRET set a webhook's URL and signing secret.
func (c *Config) applyWebhookEnv(set func(name, key string, dst func(string))) {
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		prefix := "SITREP_WEBHOOK_" + EnvSuffix(h.Name)
		set(prefix+"_URL", fmt.Sprintf("webhooks[%d].url", i), func(v string) { h.URL = v })
		set(prefix+"_SIGNING_SECRET", fmt.Sprintf("webhooks[%d].signing_secret", i), func(v string) { h.SigningSecret = v })
	}
}

func (p *problems) webhooks() {
	_, err := webhooks.Compile(p.c.Webhooks, webhooks.Options{PublicURL: p.c.PublicURL})
	if err == nil {
		return
	}
	fes := webhooks.FieldErrors(err)
	if len(fes) == 0 {
		p.add("webhooks", "%v", err).err = err
		return
	}
	for _, fe := range fes {
		p.add(fmt.Sprintf("webhooks[%d].%s", fe.Index, fe.Field), "%v", fe.Err).err = fe
	}
}

// webhookSecrets lists what the webhooks hold that may be a credential:
// URLs, header values and signing secrets.
func (c *Config) webhookSecrets() []string {
	var s []string
	for _, h := range c.Webhooks {
		s = append(s, h.URL, h.SigningSecret)
		s = slices.AppendSeq(s, maps.Values(h.Headers))
	}
	return s
}

// redactedWebhooks is Webhooks as outputs show them.
func redactedWebhooks(in []webhooks.Hook) []webhooks.Hook {
	if in == nil {
		return nil
	}
	return webhooks.Redact(in)
}
