package ingest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sitrep/sitrep/timeline"
)

// Fields DecodeAlertmanager adds to each alert's labels and annotations.
const (
	FieldMonitoringTool = "monitoring_tool"
	FieldRoutingKey     = "routing_key"
	FieldReceiver       = "receiver"
	FieldGeneratorURL   = "generator_url"
	FieldExternalURL    = "external_url"
	FieldGroupKey       = "group_key"
)

// DecodeAlertmanager decodes a Prometheus Alertmanager webhook notification
// (payload version "4") into one alert per entry of its alerts array, in order.
// now is the time of receipt.
//
// A firing alert becomes CRITICAL, a resolved one RECOVERY. The entity is the
// alert's fingerprint or, if it has none, the fingerprint Alertmanager would
// compute from its labels. Fields hold the labels, then the annotations whose
// names no label has, then entity_display_name (annotation summary, else
// alertname and instance), state_message (annotation description, else
// summary), monitoring_tool "alertmanager", receiver, generator_url,
// external_url, group_key and routing_key (label routing_key, else the
// receiver).
func DecodeAlertmanager(body []byte, now time.Time) ([]timeline.Alert, error) {
	d := amDecoder{s: scanner{data: body}, now: now}
	return d.decode()
}

// amDecoder holds one DecodeAlertmanager call's state.
type amDecoder struct {
	s     scanner
	now   time.Time
	err   *FieldError       // the first field error; reported once the body is known to be valid JSON of version 4
	ann   []annotation      // the current alert's annotations
	names map[string]string // label and annotation names, shared by all alerts of the call
}

type annotation struct{ name, value string }

// amAlert is a decoded alert waiting for the notification's top-level fields.
type amAlert struct {
	timeline.Alert
	routingLabel bool // the alert has a routing_key label
}

func (d *amDecoder) fail(e *FieldError) {
	if d.err == nil {
		d.err = e
	}
}

func (d *amDecoder) decode() ([]timeline.Alert, error) {
	more, err := d.s.beginBody()
	if err != nil {
		return nil, err
	}
	var (
		version, receiver, externalURL, groupKey string
		pending                                  []amAlert
	)
	for more {
		k, err := d.s.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "version":
			version, err = d.str(-1, "version")
		case "receiver":
			receiver, err = d.str(-1, "receiver")
		case "externalURL":
			externalURL, err = d.str(-1, "externalURL")
		case "groupKey":
			groupKey, err = d.str(-1, "groupKey")
		case "alerts":
			pending, err = d.alerts()
		default: // status, groupLabels, commonLabels, commonAnnotations, truncatedAlerts: each alert has its own
			err = d.s.skip(2)
		}
		if err != nil {
			return nil, err
		}
		if more, err = d.s.nextMember(); err != nil {
			return nil, err
		}
	}
	if err := d.s.endBody(); err != nil {
		return nil, err
	}

	switch {
	case version == "":
		return nil, &FieldError{Field: "version", Msg: `required: this endpoint takes Alertmanager webhook payload version "4"`}
	case version != "4":
		return nil, &FieldError{
			Field: "version",
			Msg:   "unsupported version " + strconv.Quote(truncate(version, 16)) + `: this endpoint takes Alertmanager webhook payload version "4"`,
		}
	case d.err != nil:
		return nil, d.err
	case len(pending) == 0:
		return nil, &FieldError{Field: "alerts", Msg: "required: a non-empty array of alerts"}
	}

	alerts := make([]timeline.Alert, len(pending))
	for i := range pending {
		a := &pending[i]
		setIf(a.Fields, FieldReceiver, receiver)
		setIf(a.Fields, FieldExternalURL, externalURL)
		setIf(a.Fields, FieldGroupKey, groupKey)
		if !a.routingLabel {
			setIf(a.Fields, FieldRoutingKey, receiver)
		}
		alerts[i] = a.Alert
	}
	return alerts, nil
}

// alerts reads the alerts array.
func (d *amDecoder) alerts() ([]amAlert, error) {
	switch {
	case d.s.at('['):
	case d.s.at('n'):
		return nil, d.s.skip(2)
	default:
		d.fail(&FieldError{Field: "alerts", Msg: "must be a non-empty array of alerts"})
		return nil, d.s.skip(2)
	}
	var pending []amAlert
	more, _ := d.s.beginArray()
	for i := 0; more; i++ {
		if i == MaxAlerts {
			return nil, &FieldError{Field: "alerts", Msg: "more than " + strconv.Itoa(MaxAlerts) + " alerts in one notification"}
		}
		if d.s.at('{') {
			a, err := d.alert(i)
			if err != nil {
				return nil, err
			}
			pending = append(pending, a)
		} else {
			d.fail(&FieldError{Field: alertPath(i, ""), Msg: "must be an object"})
			if err := d.s.skip(3); err != nil {
				return nil, err
			}
		}
		var err error
		if more, err = d.s.nextElement(); err != nil {
			return nil, err
		}
	}
	return pending, nil
}

// alert reads alerts[i].
func (d *amDecoder) alert(i int) (amAlert, error) {
	var (
		status, startsAt, endsAt, generatorURL, fingerprint string
		fields                                              = make(map[string]string, 16)
	)
	d.ann = d.ann[:0]
	more, _ := d.s.beginObject()
	for more {
		k, err := d.s.key()
		if err != nil {
			return amAlert{}, err
		}
		switch string(k) {
		case "status":
			status, err = d.str(i, "status")
		case "labels":
			err = d.labels(i, fields)
		case "annotations":
			err = d.annotations(i)
		case "startsAt":
			startsAt, err = d.str(i, "startsAt")
		case "endsAt":
			endsAt, err = d.str(i, "endsAt")
		case "generatorURL":
			generatorURL, err = d.str(i, "generatorURL")
		case "fingerprint":
			fingerprint, err = d.str(i, "fingerprint")
		default:
			err = d.s.skip(3)
		}
		if err != nil {
			return amAlert{}, err
		}
		if more, err = d.s.nextMember(); err != nil {
			return amAlert{}, err
		}
	}

	a := amAlert{Alert: timeline.Alert{
		Fields: fields,
		Time:   d.now,
		Origin: timeline.Origin{Adapter: AdapterAlertmanager, Time: d.now},
	}}
	var at, atField string
	switch {
	case strings.EqualFold(status, "firing"):
		a.MessageType, at, atField = timeline.MsgCritical, startsAt, "startsAt"
	case strings.EqualFold(status, "resolved"):
		a.MessageType, at, atField = timeline.MsgRecovery, endsAt, "endsAt"
	case status == "":
		d.fail(&FieldError{Field: alertPath(i, "status"), Msg: `required: "firing" or "resolved"`})
	default:
		d.fail(&FieldError{Field: alertPath(i, "status"), Msg: "unknown status " + strconv.Quote(truncate(status, 32)) + `: must be "firing" or "resolved"`})
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		switch {
		case err != nil:
			d.fail(&FieldError{Field: alertPath(i, atField), Msg: "must be an RFC 3339 time"})
		case !t.IsZero() && t.Unix() >= minEpoch && !t.After(d.now.Add(maxFuture)):
			a.Time = t.UTC()
		} // otherwise (unset, or too far off to be meant) the time of receipt
	}

	a.EntityID = fingerprint
	if strings.TrimSpace(fingerprint) == "" {
		if len(fields) == 0 {
			// The hash of no labels would fold every such alert into one incident.
			d.fail(&FieldError{Field: alertPath(i, "labels"), Msg: "required: an alert with no fingerprint needs labels to tell it apart"})
		}
		a.EntityID = labelsFingerprint(fields)
	} else if len(fingerprint) > timeline.MaxEntityID {
		d.fail(&FieldError{Field: alertPath(i, "fingerprint"), Msg: "longer than " + strconv.Itoa(timeline.MaxEntityID) + " bytes"})
	}
	a.routingLabel = fields[FieldRoutingKey] != ""
	display := fields["alertname"]
	if inst := fields["instance"]; inst != "" && display != "" {
		display += " on " + inst
	}

	// Annotations fill in names no label has.
	var summary, description string
	for j := len(d.ann) - 1; j >= 0; j-- {
		an := d.ann[j]
		if _, ok := fields[an.name]; !ok {
			fields[an.name] = an.value
		}
		switch an.name {
		case "summary":
			summary = cmp.Or(summary, an.value)
		case "description":
			description = cmp.Or(description, an.value)
		}
	}

	setIf(fields, timeline.FieldEntityDisplayName, cmp.Or(summary, display))
	setIf(fields, timeline.FieldStateMessage, cmp.Or(description, summary))
	fields[FieldMonitoringTool] = AdapterAlertmanager
	setIf(fields, FieldGeneratorURL, generatorURL)
	fields[timeline.FieldMessageType] = a.MessageType
	timeline.SetEntityState(fields, a.MessageType)
	fields[timeline.FieldEntityID] = a.EntityID
	return a, nil
}

// labels reads alerts[i].labels into fields.
func (d *amDecoder) labels(i int, fields map[string]string) error {
	return d.pairs(i, "labels", func(name string) bool { _, ok := fields[name]; return ok },
		func(name, value string) { fields[name] = value })
}

// annotations reads alerts[i].annotations into d.ann.
func (d *amDecoder) annotations(i int) error {
	return d.pairs(i, "annotations", func(name string) bool {
		return slices.ContainsFunc(d.ann, func(a annotation) bool { return a.name == name })
	}, func(name, value string) {
		d.ann = append(d.ann, annotation{name, value})
	})
}

// pairs reads the object alerts[i].<what> and hands each non-null member to put,
// its value as DecodeAlert keeps values. A name given twice (has says
// whether it was) or a NUL in a name or value is a problem.
func (d *amDecoder) pairs(i int, what string, has func(name string) bool, put func(name, value string)) error {
	switch {
	case d.s.at('{'):
	case d.s.at('n'):
		return d.s.skip(3)
	default:
		d.fail(&FieldError{Field: alertPath(i, what), Msg: "must be an object"})
		return d.s.skip(3)
	}
	more, _ := d.s.beginObject()
	for more {
		k, err := d.s.key()
		if err != nil {
			return err
		}
		if len(k) == 0 || len(k) > MaxFieldName {
			d.fail(nameError(k, alertPath(i, what)))
		}
		name := d.name(k)
		kind, v, err := d.s.value(4)
		if err != nil {
			return err
		}
		if fe := memberProblem(name, v, has(name), alertPath(i, what)); fe != nil {
			d.fail(fe)
		}
		if kind != kindNull {
			if len(v) > MaxFieldValue {
				d.fail(valueTooLong(alertPath(i, what) + "." + truncate(name, 64)))
			}
			put(name, string(v))
		}
		if more, err = d.s.nextMember(); err != nil {
			return err
		}
	}
	return nil
}

// str reads a member that must be a string (or null, taken as empty).
// i is the alert it belongs to, -1 for the notification's own.
func (d *amDecoder) str(i int, field string) (string, error) {
	depth := 2
	if i >= 0 {
		depth = 3
	}
	kind, v, err := d.s.value(depth)
	switch {
	case err != nil:
		return "", err
	case kind == kindString:
		return string(v), nil
	case kind != kindNull:
		d.fail(&FieldError{Field: alertPath(i, field), Msg: "must be a string"})
	}
	return "", nil
}

// name returns a label or annotation name as a string, allocating each
// distinct name once per call.
func (d *amDecoder) name(k []byte) string {
	if s, ok := d.names[string(k)]; ok {
		return s
	}
	if d.names == nil {
		d.names = make(map[string]string, 16)
	}
	s := fieldName(k)
	d.names[s] = s
	return s
}

// alertPath names a field of alerts[i] in errors ("alerts[3].status");
// i < 0 names a top-level field.
func alertPath(i int, field string) string {
	if i < 0 {
		return field
	}
	p := "alerts[" + strconv.Itoa(i) + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// labelsFingerprint returns the fingerprint Alertmanager gives an alert with
// these labels, Prometheus's model.LabelSet.Fingerprint, as its String (16
// hex digits). model.LabelsToSignature is that hash over a map[string]string,
// without copying the labels into a LabelSet.
func labelsFingerprint(labels map[string]string) string {
	return model.Fingerprint(model.LabelsToSignature(labels)).String()
}

func setIf(fields map[string]string, name, value string) {
	if value != "" {
		fields[name] = value
	}
}
