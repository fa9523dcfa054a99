// Command sitrep runs the sitrep incident chat bot and its tools.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/sitrep/sitrep/rooms"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // team time zones work on a machine without a zone database (the container)

	"github.com/sitrep/sitrep/bot"
	"github.com/sitrep/sitrep/config"
	"github.com/sitrep/sitrep/platforms"
	"github.com/sitrep/sitrep/routing"
	"github.com/sitrep/sitrep/secret"
	"github.com/sitrep/sitrep/storage"
	"github.com/sitrep/sitrep/webhooks"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sitrep: incident chat bot

usage:
  sitrep serve --config FILE [--listen ADDR] [--data FILE]
  sitrep config check --config FILE
  sitrep route test --config FILE [--json] field=value ...
  sitrep rooms --config FILE
  sitrep backup --url URL --out FILE      (admin token from SITREP_ADMIN_TOKEN)
  sitrep compact --data FILE              (offline: stop sitrep first)
  sitrep version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(stderr, "usage: sitrep config check --config FILE\n")
			return 2
		}
		err = configCheck(args[2:], stdout)
	case "route":
		if len(args) < 2 || args[1] != "test" {
			fmt.Fprint(stderr, "usage: sitrep route test --config FILE field=value ...\n")
			return 2
		}
		err = routeTest(args[2:], stdout, stderr)
	case "rooms":
		err = listRooms(args[1:], stdout, stderr)
	case "backup":
		err = backup(args[1:], stdout)
	case "compact":
		err = compact(args[1:], stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "sitrep", version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		var help helpText
		if errors.As(err, &help) {
			fmt.Fprint(stdout, help.text)
			return 0
		}
		var usageErr usageError
		if errors.As(err, &usageErr) {
			fmt.Fprintln(stderr, err)
			return 2
		}
		fmt.Fprintln(stderr, "sitrep:", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// helpText is a subcommand's --help: its flags, printed to stdout, exit 0.
type helpText struct{ text string }

func (h helpText) Error() string { return h.text }

func flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		var b strings.Builder
		fmt.Fprintf(&b, "usage: sitrep %s [flags]\n\nflags:\n", fs.Name())
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return helpText{b.String()}
	}
	if err != nil {
		return usageError{fmt.Sprintf("%s: %v\n\n%s", fs.Name(), err, usage)}
	}
	return nil
}

// withConfig parses a subcommand's flags (--config, and whatever extra adds)
// and loads the config file it names.
func withConfig(name string, args []string, extra func(*flag.FlagSet)) (*flag.FlagSet, *config.Config, error) {
	fs := flags(name)
	path := fs.String("config", "", "config file")
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(*path)
	return fs, cfg, err
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError{"--config FILE is required"}
	}
	return config.Load(path, platforms.All().Config()...)
}

func serve(args []string, stderr io.Writer) error {
	var listen, data *string
	_, cfg, err := withConfig("serve", args, func(fs *flag.FlagSet) {
		listen = fs.String("listen", "", "address to listen on (overrides the config)")
		data = fs.String("data", "", "bbolt data file (overrides the config)")
	})
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *data != "" {
		cfg.Data = *data
	}
	if err := refuseDemoTokens(cfg); err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(bot.GCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	b, err := bot.New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = b.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return b.Run(ctx, ln)
}

// refuseDemoTokens stops sitrep from listening beyond loopback with the
// example config's published tokens.
func refuseDemoTokens(cfg *config.Config) error {
	local, err := loopback(cfg.Listen)
	if err != nil || local {
		return err
	}
	for name, tok := range map[string]string{"ingest_token (SITREP_INGEST_TOKEN)": cfg.IngestToken, "admin_token (SITREP_ADMIN_TOKEN)": cfg.AdminToken} {
		if strings.HasPrefix(tok, "demo-") {
			return fmt.Errorf("refusing to listen on %s with the example's demo %s: set a real one", cfg.Listen, name)
		}
	}
	return nil
}

// loopback reports whether listen is reachable from this machine only.
func loopback(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback()), nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func configCheck(args []string, stdout io.Writer) error {
	fs, cfg, err := withConfig("config check", args, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d rooms, %d routes, %d on-call schedules, default room %s)\n", fs.Lookup("config").Value, len(cfg.Rooms), len(cfg.Routes), len(cfg.Schedules), cfg.DefaultRoom)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}

func routeTest(args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	var url *string
	fs, cfg, err := withConfigOrURL("route test", args, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print JSON")
		url = fs.String("url", "", "ask the running sitrep at this base URL (with SITREP_ADMIN_TOKEN) instead of reading --config")
	}, func() string { return *url })
	if err != nil {
		return err
	}
	fields := map[string]string{}
	for _, kv := range fs.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Sprintf("%q is not field=value", kv)}
		}
		fields[k] = v
	}
	if len(fields) == 0 {
		return usageError{"give the alert's fields as field=value, e.g. routing_key=payments"}
	}
	var ex routing.Explanation
	if *url != "" {
		fmt.Fprintf(stderr, "routes of the running server at %s\n", *url)
		if err := admin(*url, http.MethodPost, "/v1/routes/test", fields, &ex); err != nil {
			return fmt.Errorf("route test: %w", err)
		}
	} else {
		fmt.Fprintf(stderr, "routes of the config file (the running server may have others: see --url)\n")
		rooms := cfg.RoomsByName()
		r, err := routing.Compile(cfg.Routes, routing.Options{
			RoomExists:   func(n string) bool { _, ok := rooms[n]; return ok },
			DefaultRooms: []string{cfg.DefaultRoom},
		})
		if err != nil {
			return err
		}
		ex = r.Explain(fields, nil)
		hooks, err := webhooks.Compile(cfg.Webhooks, webhooks.Options{PublicURL: cfg.PublicURL})
		if err != nil {
			return err
		}
		hooks.ExplainInto(&ex, r.Route(fields, nil).Fields, time.Now())
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	fmt.Fprint(stdout, ex.String())
	return nil
}

func listRooms(args []string, stdout, stderr io.Writer) error {
	var url *string
	_, cfg, err := withConfigOrURL("rooms", args, func(fs *flag.FlagSet) {
		url = fs.String("url", "", "ask the running sitrep at this base URL (with SITREP_ADMIN_TOKEN) instead of reading --config")
	}, func() string { return *url })
	if err != nil {
		return err
	}
	list := []rooms.Room{}
	if *url != "" {
		fmt.Fprintf(stderr, "rooms of the running server at %s\n", *url)
		var out struct {
			Rooms []rooms.Room `json:"rooms"`
		}
		if err := admin(*url, http.MethodGet, "/v1/rooms", nil, &out); err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		list = out.Rooms
	} else {
		fmt.Fprintf(stderr, "rooms of the config file (the running server may have others: see --url)\n")
		for _, r := range cfg.Rooms {
			list = append(list, r.WithDefaults().Redacted())
		}
	}
	fmt.Fprintf(stdout, "%-20s %-9s %-24s %-12s %s\n", "NAME", "PLATFORM", "ID", "TEAM", "TOKEN")
	for _, r := range list {
		fmt.Fprintf(stdout, "%-20s %-9s %-24s %-12s %s\n", r.Name, r.Platform, r.ID, r.Team, secret.Redact(r.Token))
	}
	return nil
}

// withConfigOrURL is withConfig for a subcommand that can also ask the
// running server: with url() set after parsing, no config is read.
func withConfigOrURL(name string, args []string, extra func(*flag.FlagSet), url func() string) (*flag.FlagSet, *config.Config, error) {
	fs := flags(name)
	path := fs.String("config", "", "config file")
	extra(fs)
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	if url() != "" {
		return fs, nil, nil
	}
	cfg, err := loadConfig(*path)
	return fs, cfg, err
}

// admin calls the running server's admin API with SITREP_ADMIN_TOKEN,
// sending in as JSON (if not nil) and decoding the answer into out.
func admin(base, method, path string, in, out any) error {
	token := os.Getenv("SITREP_ADMIN_TOKEN")
	if token == "" {
		return usageError{"set SITREP_ADMIN_TOKEN to the server's admin token"}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, out)
}

func backup(args []string, stdout io.Writer) error {
	fs := flags("backup")
	url := fs.String("url", "http://127.0.0.1:8080", "running sitrep's base URL")
	out := fs.String("out", "", "file to write the backup to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	token := os.Getenv("SITREP_ADMIN_TOKEN")
	if token == "" {
		return usageError{"set SITREP_ADMIN_TOKEN to the server's admin token"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*url, "/")+"/v1/backup", nil)
	if err != nil {
		return fmt.Errorf("backup request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("backup: server answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	tmp := *out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // it holds every token

	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", *out, n)
	return nil
}

// compact rewrites a data file offline, without its free pages, and reports
// its size before and after.
func compact(args []string, stdout io.Writer) error {
	fs := flags("compact")
	data := fs.String("data", "", "the bbolt data file (sitrep must not be running on it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"--data FILE is required"}
	}
	res, err := storage.Compact(*data, time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes before, %d after (%.0f%%)\n", *data, res.Before, res.After, 100*float64(res.After)/float64(max(res.Before, 1)))
	return nil
}
