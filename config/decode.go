package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxValues bounds how many values one document may expand to through
// aliases, so a small file cannot make sitrep walk billions of nodes.
const maxValues = 100_000

// maxMergeDepth bounds nested merge keys ("<<"), which may form a cycle.
const maxMergeDepth = 16

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// decoder walks a YAML node tree against a Go type, strictly: every key must
// name a field, every value must fit its field's type. It keeps walking after
// a problem so that one run reports them all.
type decoder struct {
	file    string
	lines   map[string]int // key path → line of the key (or of the list item)
	errs    Errors
	secrets []string // values found under secret-looking keys, known or not
	budget  int
	blocks  []block // the platforms' blocks, read from top-level keys
}

// block is a platform's settings block: the top-level key it is read from,
// and the struct it is read into.
type block struct {
	key string
	v   reflect.Value
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, budget: maxValues}
}

func (d *decoder) fail(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument reads exactly one YAML document into a node tree.
// It returns nil after recording a problem.
func (d *decoder) parseDocument(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser is third-party code fed untrusted input; a panic in
		// it must become a config error, not take sitrep down.
		if r := recover(); r != nil {
			d.fail(0, "", "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail(0, "", "the file is empty: it needs at least ingest_token, admin_token, default_room and rooms (see config.example.yaml)")
			return nil
		}
		d.yamlError(err, data)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.yamlError(err, data)
		return nil
	default:
		d.fail(next.Line, "", "only one YAML document is allowed (found a second one)")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.fail(0, "", "the file is empty")
		return nil
	}
	root = doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		// An empty document's node may sit a line past the end ("---").
		d.fail(min(root.Line, lineCount(data)), "", "the file is empty: it needs at least ingest_token, admin_token, default_room and rooms (see config.example.yaml)")
		return nil
	}
	return root
}

// parserProblems are the problems go.yaml.in/yaml/v3's parser (as against its scanner)
// reports; it gives their line counting from 0.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError records a syntax error, moving "line N" out of the message into the Line.
func (d *decoder) yamlError(err error, data []byte) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			// The line of the construct the parser was in, counted from 0.
			line = min(line+1, lineCount(data))
		}
		d.fail(line, "", "invalid YAML: %s", m[2])
		return
	}
	d.fail(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// lineCount is the number of lines in data as yaml.v3 counts them (a line
// break is \n, \r\n, a lone \r, NEL, LS or PS), counting a last line
// without a break.
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
	for _, brk := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(brk))
	}
	return n
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > maxMergeDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a value"
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode stores node n into v, whose key path is path; line is where the
// value was named (the key's line, or the list item's), so that every problem
// with a value points where Line(path) does.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if d.budget <= 0 {
		return
	}
	d.budget--
	if d.budget == 0 {
		d.fail(line, path, "too many values: the document expands (through aliases) to more than %d", maxValues)
		return
	}
	if n = resolve(n); n == nil {
		d.fail(line, path, "alias does not resolve to a value")
		return
	}
	if n.Kind == yaml.ScalarNode && isSecretKey(path) && n.Value != "" {
		d.secrets = append(d.secrets, n.Value)
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, path, line)
	case t == timeType:
		d.timestamp(n, v, path, line)
	case t.Kind() == reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path, line)
		v.Set(p)
	case t.Kind() == reflect.String:
		if !d.scalar(n, path, line, "a string") {
			return
		}
		if isNull(n) {
			v.SetString("")
			return
		}
		v.SetString(n.Value)
	case t.Kind() == reflect.Bool:
		if !d.scalar(n, path, line, "true or false") || isNull(n) {
			return
		}
		var b bool
		if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(line, path, "expected true or false%s", got(path, n.Value))
			return
		}
		v.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if !d.scalar(n, path, line, "a whole number") || isNull(n) {
			return
		}
		var i int64
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(line, path, "expected a whole number%s", got(path, n.Value))
			return
		}
		v.SetInt(i)
	case t.Kind() == reflect.Slice:
		d.slice(n, v, path, line)
	case t.Kind() == reflect.Map:
		d.mapping(n, v, path, line)
	case t.Kind() == reflect.Struct:
		d.structure(n, v, path, line)
	default:
		// Only reachable if a config type gains a field of a kind not handled above.
		d.fail(line, path, "internal error: cannot read a value of type %s", t)
	}
}

// scalar reports whether n is a single value, recording a problem if it is not.
func (d *decoder) scalar(n *yaml.Node, path string, line int, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	d.fail(line, path, "expected %s, got %s", want, describe(n))
	return false
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string, line int) {
	const want = `a duration such as "30s", "5m" or "24h"`
	if !d.scalar(n, path, line, want) || isNull(n) {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(line, path, "expected %s%s", want, got(path, n.Value))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) timestamp(n *yaml.Node, v reflect.Value, path string, line int) {
	const want = "a time with its UTC offset, such as 2026-11-30T09:00:00+01:00"
	if !d.scalar(n, path, line, want) || isNull(n) {
		return
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		d.fail(line, path, "expected %s%s", want, got(path, n.Value))
		return
	}
	v.Set(reflect.ValueOf(t))
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(line, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.decode(item, s.Index(i), p, item.Line)
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "expected a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(line, path, "internal error: cannot read a map keyed by %s", t.Key())
		return
	}
	m := reflect.MakeMap(t)
	for _, p := range d.pairs(n, path, 0) {
		kp := join(path, p.key.Value)
		d.lines[kp] = p.key.Line
		elem := reflect.New(t.Elem()).Elem()
		d.decode(p.val, elem, kp, p.key.Line)
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), elem)
	}
	v.Set(m)
}

// field is one YAML key of a struct.
type field struct {
	name  string
	index int
}

func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		fs = append(fs, field{name, i})
	}
	return fs
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "expected a mapping, got %s", describe(n))
		return
	}
	fs := fieldsOf(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		kp := join(path, p.key.Value)
		i := slices.IndexFunc(fs, func(f field) bool { return f.name == p.key.Value })
		if b := slices.IndexFunc(d.blocks, func(b block) bool { return b.key == p.key.Value }); i < 0 && path == "" && b >= 0 {
			d.lines[kp] = p.key.Line
			d.decode(p.val, d.blocks[b].v, kp, p.key.Line)
			continue
		}
		if i < 0 {
			names := make([]string, len(fs))
			for j, f := range fs {
				names[j] = f.name
			}
			if path == "" {
				for _, b := range d.blocks {
					names = append(names, b.key)
				}
			}
			d.fail(p.key.Line, kp, "unknown key (known: %s)", strings.Join(names, ", "))
			if isSecretKey(kp) {
				if val := resolve(p.val); val != nil && val.Kind == yaml.ScalarNode && val.Value != "" {
					d.secrets = append(d.secrets, val.Value)
				}
			}
			continue
		}
		d.lines[kp] = p.key.Line
		d.decode(p.val, v.Field(fs[i].index), kp, p.key.Line)
	}
}

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's keys and values, with merge keys ("<<") expanded:
// keys written in the mapping win over merged ones, and earlier merged
// mappings win over later ones, as YAML specifies. A key written twice is a problem.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		if rk := resolve(k); rk == nil || rk.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "keys must be plain names, not %s", describe(k))
			continue
		} else {
			k = rk
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, val})
	}
	for _, m := range merges {
		line := m.Line
		m = resolve(m)
		var sources []*yaml.Node
		switch {
		case m == nil:
		case m.Kind == yaml.MappingNode:
			sources = []*yaml.Node{m}
		case m.Kind == yaml.SequenceNode:
			sources = m.Content
		}
		if len(sources) == 0 {
			d.fail(line, path, "<< must merge a mapping or a list of mappings")
			continue
		}
		for _, src := range sources {
			src = resolve(src)
			if src == nil || src.Kind != yaml.MappingNode {
				d.fail(line, path, "<< must merge a mapping or a list of mappings")
				continue
			}
			if depth >= maxMergeDepth || d.budget <= 0 {
				d.fail(line, path, "merges (<<) nest too deeply")
				return out
			}
			d.budget -= 1 + len(src.Content)/2
			for _, p := range d.pairs(src, path, depth+1) {
				if _, ok := seen[p.key.Value]; !ok {
					seen[p.key.Value] = p.key
					merged = append(merged, p)
				}
			}
		}
	}
	return append(out, merged...)
}
