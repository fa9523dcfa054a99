package config

import (
	"reflect"
	"slices"
	"strings"

	"github.com/sitrep/sitrep/rooms"
	"github.com/sitrep/sitrep/secret"
)

// Platform is what the config knows of one chat platform: its name, its
// own block of settings, its default rate limit, and how to check the block
// and a room on it. Package platform's descriptors supply them (through
// platforms.All); the config names no platform itself.
//
// A block is a struct with yaml tags, read as strictly as the rest of the
// file. A string field tagged secret:"true" is a credential: no error and no
// Redacted copy shows it. A string field tagged env:"SITREP_..." is also set
// by that environment variable, which wins over the file. A block's map of
// structs by name (web.users) has its structs' string fields treated alike,
// with the entry's name in upper case for a "*" in the variable's name
// (SITREP_WEB_USER_*_KEY sets web.users.alice.key as SITREP_WEB_USER_ALICE_KEY).
type Platform struct {
	// Name is the platform's name, as rooms and rate_limits give it.
	Name string
	// Key is the top-level key of its block; "" for none.
	Key string
	// New returns a pointer to a new block with its defaults filled; nil for
	// a platform with no block.
	New func() any
	// Limit is the rate limit of a room on the platform unless rate_limits sets one.
	Limit RateLimit
	// Check records the block's problems.
	Check func(block any, p *Problems)
	// On reports whether the platform can deliver with block; when it
	// cannot, why and how to turn it on ("HipChat is off: set
	// hipchat.base_url"). Nil means always on.
	On func(block any) (on bool, why string)
	// Room checks what the platform asks of a room beyond its own fields,
	// given the block: the field that is wrong and why, or "".
	Room func(block any, r rooms.Room) (field, msg string)
	// PageKind, if set, makes the platform a status page kind: status_pages
	// entries name it, rooms do not.
	PageKind *PageKind
}

// Problems is how a Platform's Check reports what is wrong with its block.
type Problems struct{ p *problems }

// Add records a problem with key (a full key path such as "hipchat.base_url").
func (p *Problems) Add(key, format string, args ...any) { p.p.add(key, format, args...) }

// URL checks an absolute http(s) URL at key; empty is fine unless required.
func (p *Problems) URL(key, raw string, required bool) { p.p.url(key, raw, required) }

// Got is ", got %q" for a value (redacted under a secret-looking key), for messages.
func (p *Problems) Got(key, value string) string { return got(key, value) }

// Block returns the settings block of the platform named name: what the file
// and the environment set, over the block's defaults; nil for a platform
// the config was not given or that has no block.
func (c *Config) Block(name string) any { return c.blocks[name] }

// BlockOf is Block as the block's own type.
func BlockOf[T any](c *Config, name string) *T {
	b, _ := c.Block(name).(*T)
	if b == nil {
		b = new(T)
	}
	return b
}

// Platforms lists the names of the platforms the config was read with.
func (c *Config) Platforms() []string {
	out := make([]string, len(c.platforms))
	for i, p := range c.platforms {
		out[i] = p.Name
	}
	return out
}

// platform returns the Platform named name.
func (c *Config) platform(name string) (Platform, bool) {
	for _, p := range c.platforms {
		if p.Name == name {
			return p, true
		}
	}
	return Platform{}, false
}

// blockFields calls fn for every string field of block (a pointer to a
// struct) with its key path under key and its tags, and for the string
// fields of each struct in a map of them (by name), with the entry's name
// in place of a "*" in their env tag. fn may set the field.
func blockFields(block any, key string, fn func(path string, tag reflect.StructTag, v reflect.Value)) {
	v := reflect.ValueOf(block)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	structFields(v.Elem(), key, "", fn)
}

func structFields(v reflect.Value, key, entry string, fn func(path string, tag reflect.StructTag, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.String:
			tag := f.Tag
			if env := tag.Get("env"); entry != "" && strings.Contains(env, "*") {
				tag = reflect.StructTag(strings.Replace(string(tag), `env:"`+env+`"`, `env:"`+strings.Replace(env, "*", EnvSuffix(entry), 1)+`"`, 1))
			}
			fn(key+"."+name, tag, v.Field(i))
		case entry == "" && f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String && f.Type.Elem().Kind() == reflect.Struct:
			m := v.Field(i)
			keys := m.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				e := reflect.New(f.Type.Elem()).Elem()
				e.Set(m.MapIndex(k))
				structFields(e, key+"."+name+"."+k.String(), k.String(), fn)
				m.SetMapIndex(k, e)
			}
		}
	}
}

// redactedBlock is a copy of block with every secret field cut to its last
// four characters.
func redactedBlock(block any) any {
	v := reflect.ValueOf(block)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return block
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	for i := range cp.Elem().NumField() { // maps are the block's own: copy them before writing
		if f := cp.Elem().Field(i); f.Kind() == reflect.Map && !f.IsNil() && f.CanSet() {
			m := reflect.MakeMapWithSize(f.Type(), f.Len())
			for it := f.MapRange(); it.Next(); {
				m.SetMapIndex(it.Key(), it.Value())
			}
			f.Set(m)
		}
	}
	out := cp.Interface()
	blockFields(out, "", func(_ string, tag reflect.StructTag, f reflect.Value) {
		if tag.Get("secret") == "true" {
			f.SetString(secret.Redact(f.String()))
		}
	})
	return out
}
