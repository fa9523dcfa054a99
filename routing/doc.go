// Package routing decides which rooms an alert goes to.
//
// A Router is compiled from an ordered list of Rules. Each rule has
// Alertmanager-style matchers (name="v", name!="v", name=~"re", name!~"re"),
// and, when they all hold, applies its actions in the style of the Splunk
// On-Call rules engine: it sets alert fields (set), then delivers to its rooms
// with an optional message. Set values and messages are templates that may
// name ${{ALERT.field}} and ${{INCIDENT.field}}; when a template names a field
// that is unset (absent or empty), that one action does not fire. Later rules
// see the fields set by earlier ones. A rule without continue stops routing.
// An alert that no rule delivers anywhere goes to the default rooms.
//
// Compile indexes rules by one of their equality matchers, so routing an
// alert only evaluates the rules that can match it. Explain evaluates every
// rule and reports why each did or did not match, with secret-looking field
// values redacted.
//
// A Router is immutable once compiled and safe for concurrent use. A Store
// keeps the running one: the rules in bbolt, seeded from config and edited
// through the admin API, compiled and swapped in whole after validation.
package routing
