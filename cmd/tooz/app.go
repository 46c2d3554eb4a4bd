// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// Defaults of the options every command takes.
const (
	defaultRequestTimeout = 10 * time.Second
	// cleanupTimeout bounds release, resign, leave and close, which run on
	// a context of their own so that an interrupt never skips them.
	cleanupTimeout = driverkit.CleanupTimeout
)

// app is one run of the command: its options, output and signals.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	logLevel       *slog.LevelVar

	// Options of every command.
	url            string
	member         string
	timeout        time.Duration
	requestTimeout time.Duration
	json           bool
	set            map[string]bool // the options given explicitly (see noteSet)

	// Options of some commands (see each command's flags).
	wait         time.Duration
	noWait       bool
	watchLeader  bool
	priority     int
	preempt      bool
	grace        time.Duration
	lockTTL      time.Duration
	shared       bool // lock: the read/write lock NAME, shared (semaphore.go)
	exclusive    bool // lock: the read/write lock NAME, exclusive
	standby      bool
	restartDelay time.Duration
	join         bool
	capabilities string
	verbose      bool
	conflictCode int   // lock, semaphore, elect: the status for "not acquired" (see exitCodeFlags)
	lostCode     int   // lock, semaphore, elect: the status for "lost while CMD ran"
	ifRevision   int64 // kv put and del: the revision the key must be at (-1: any)

	// Resolved backend.
	resolvedURL string // the URL to open (may hold a password: never print it)
	urlSource   string // "--url", "$TOOZ_URL" or "embedded default"

	ctx     context.Context // canceled by SIGINT, SIGTERM or SIGHUP
	signals *signalRouter
	outMu   sync.Mutex
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{
		stdin:          os.Stdin,
		stdout:         stdout,
		stderr:         stderr,
		requestTimeout: defaultRequestTimeout,
		grace:          10 * time.Second,
		restartDelay:   time.Second,
		join:           true,
		conflictCode:   exitNotAcquired,
		lostCode:       exitLost,
		ifRevision:     -1,
		logLevel:       new(slog.LevelVar),
	}
	a.logLevel.Set(slog.LevelWarn)
	a.signals = newSignalRouter()
	a.ctx = a.signals.ctx
	return a
}

// setupLogger sends the library's log lines (heartbeat trouble, lost
// sessions) to stderr: text, or JSON with --json; INFO and up with --verbose.
func (a *app) setupLogger() {
	if a.verbose {
		a.logLevel.Set(slog.LevelInfo)
	}
	opts := &slog.HandlerOptions{Level: a.logLevel}
	var h slog.Handler
	if a.json {
		h = slog.NewJSONHandler(lockedWriter{a}, opts)
	} else {
		h = slog.NewTextHandler(lockedWriter{a}, opts)
	}
	a.log = slog.New(h)
	// Client libraries with a process-global logger (go-redis) log
	// through slog.Default: make that this logger too.
	slog.SetDefault(a.log)
}

// lockedWriter serializes the logger's writes with the app's own lines.
type lockedWriter struct{ a *app }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.outMu.Lock()
	defer w.a.outMu.Unlock()
	return w.a.stderr.Write(p)
}

// flagSet returns the flags of command name ("" for the top level): the
// options of every command, then the command's own.
func (a *app) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tooz "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.commonFlags(fs)
	if c := findCommand(name); c != nil {
		a.commandFlags(c.name, fs)
	}
	return fs
}

// ownFlags returns only command name's own flags, or nil when it has none.
func ownFlags(fs *flag.FlagSet) *flag.FlagSet {
	common := flag.NewFlagSet("", flag.ContinueOnError)
	(&app{}).commonFlags(common)
	own := flag.NewFlagSet("", flag.ContinueOnError)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if common.Lookup(f.Name) == nil {
			own.Var(f.Value, f.Name, f.Usage)
			n++
		}
	})
	if n == 0 {
		return nil
	}
	return own
}

func (a *app) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", a.url, "backend `URL` (default: $TOOZ_URL, else the embedded file:// default)")
	fs.StringVar(&a.member, "member", a.member, "member `ID` of this process (default: HOSTNAME-PID)")
	fs.DurationVar(&a.timeout, "timeout", a.timeout, "member liveness timeout: a crashed process's memberships, locks and\nleaderships are freed this long after its last heartbeat (default: the URL's\n?timeout=, else 10s)")
	fs.DurationVar(&a.requestTimeout, "request-timeout", a.requestTimeout, "deadline of connecting and of each request to the backend (default 10s)")
	fs.BoolVar(&a.json, "json", a.json, "JSON output: every line tooz writes, errors included, is a JSON object")
}

// commandFlags registers the options of command name.
func (a *app) commandFlags(name string, fs *flag.FlagSet) {
	switch name {
	case "lock":
		fs.DurationVar(&a.wait, "wait", a.wait, "give up (exit 4) if the lock is not acquired within `DURATION` (default: wait forever)")
		fs.BoolVar(&a.noWait, "no-wait", a.noWait, "give up at once (exit 4) if the lock is held")
		fs.DurationVar(&a.grace, "grace", a.grace, "after SIGTERM, how long the command has to exit before SIGKILL (default 10s)")
		fs.DurationVar(&a.lockTTL, "ttl", a.lockTTL, "lock TTL on backends that keep one apart from the liveness timeout\n(default: the liveness timeout); never the time to wait")
		fs.BoolVar(&a.verbose, "verbose", a.verbose, "report on stderr when the lock is acquired and released")
		fs.BoolVar(&a.shared, "shared", a.shared, "hold the read/write lock NAME shared: with any number of other --shared\nholders, never with an --exclusive one (read/write locks are apart from plain locks)")
		fs.BoolVar(&a.exclusive, "exclusive", a.exclusive, "hold the read/write lock NAME exclusively: alone, after the --shared\nholders queued before it (a waiting one lets no later --shared in)")
		a.exitCodeFlags(fs)
	case "semaphore":
		fs.DurationVar(&a.wait, "wait", a.wait, "give up (exit 4) if no permit is acquired within `DURATION` (default: wait forever)")
		fs.BoolVar(&a.noWait, "no-wait", a.noWait, "give up at once (exit 4) if no permit is free")
		fs.DurationVar(&a.grace, "grace", a.grace, "after SIGTERM, how long the command has to exit before SIGKILL (default 10s)")
		fs.BoolVar(&a.verbose, "verbose", a.verbose, "report on stderr when the permit is acquired and released")
		a.exitCodeFlags(fs)
	case "elect":
		fs.DurationVar(&a.wait, "wait", a.wait, "give up (exit 4) if not elected within `DURATION` (default: wait forever)")
		fs.DurationVar(&a.grace, "grace", a.grace, "after SIGTERM, how long the command has to exit before SIGKILL (default 10s)")
		fs.BoolVar(&a.standby, "standby", a.standby, "keep campaigning after the command exits or leadership is lost,\nand run it again each time this process is elected (until interrupted)")
		fs.BoolVar(&a.noWait, "no-wait", a.noWait, "give up at once (exit 4) if another member leads GROUP")
		fs.IntVar(&a.priority, "priority", a.priority, "campaign with priority `N` (0 and up): whenever the leadership is free, the\nhighest-priority candidate wins (candidates with a priority only)")
		fs.BoolVar(&a.preempt, "preempt", a.preempt, "with --priority: take the leadership from a leader of lower priority\n(its command is stopped as on a lost leadership)")
		fs.DurationVar(&a.restartDelay, "hold-off", a.restartDelay, "with --standby: after the command exits, stand down and keep out of the\nelection for `DURATION` (other candidates take over meanwhile; default 1s)")
		fs.DurationVar(&a.restartDelay, "restart-delay", a.restartDelay, "the older name of --hold-off")
		fs.BoolVar(&a.join, "join", a.join, "also join GROUP (creating it) while campaigning, so that 'tooz members'\nlists the candidates (default true; --join=false to campaign only)")
		fs.StringVar(&a.capabilities, "capabilities", a.capabilities, "with --join: capabilities as a `JSON` value")
		fs.BoolVar(&a.verbose, "verbose", a.verbose, "report on stderr when elected and when resigning")
		a.exitCodeFlags(fs)
	case "leader":
		fs.BoolVar(&a.watchLeader, "watch", a.watchLeader, "keep running and print the leader again each time it changes (an empty\nline, or a JSON null, when the group has none), pushed by the backend")
	case "kv":
		fs.Int64Var(&a.ifRevision, "if-revision", a.ifRevision, "put and del: change the key only if it is at revision `N` (0: only if it\ndoes not exist); otherwise exit 1 and change nothing")
	case "join":
		fs.StringVar(&a.capabilities, "capabilities", a.capabilities, "capabilities of this member, as a `JSON` value (e.g. '{\"zone\":\"a\"}')")
		fs.DurationVar(&a.wait, "wait", a.wait, "how long to wait for an earlier tooz with this --member (killed, not yet\nexpired) to leave the group (default: twice the timeout plus a request)")
		fs.BoolVar(&a.noWait, "no-wait", a.noWait, "fail at once (exit 1) if the member ID is in the group already")
	}
}

// exitCodeFlags registers the options that move tooz's own "not acquired"
// and "lost" statuses away from the ones the command itself may exit with
// (as flock -E does for its conflict status).
func (a *app) exitCodeFlags(fs *flag.FlagSet) {
	fs.IntVar(&a.conflictCode, "conflict-exit-code", a.conflictCode, "exit with `N` instead of 4 when not acquired (--no-wait, --wait expired), so\nthat it cannot be mistaken for the command's own status 4")
	fs.IntVar(&a.lostCode, "lost-exit-code", a.lostCode, "exit with `N` instead of 5 when lost while the command ran")
}

// checkExitCodes rejects --conflict-exit-code and --lost-exit-code values
// that are no exit status, or that would hide another of tooz's statuses.
func (a *app) checkExitCodes(cmd string) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"conflict-exit-code", a.conflictCode}, {"lost-exit-code", a.lostCode}} {
		switch {
		case f.v < 1 || f.v > 255:
			return usageError(cmd, "tooz %s: --%s %d: want an exit status from 1 to 255", cmd, f.name, f.v)
		case f.v <= exitUnreachable:
			return usageError(cmd, "tooz %s: --%s %d: 1 to 3 are tooz's own failure statuses", cmd, f.name, f.v)
		}
	}
	if a.conflictCode == a.lostCode {
		return usageError(cmd, "tooz %s: --conflict-exit-code and --lost-exit-code are both %d: they must differ", cmd, a.lostCode)
	}
	return nil
}

// exitCode is the status for code, after --conflict-exit-code and
// --lost-exit-code.
func (a *app) exitCode(code int) int {
	switch code {
	case exitNotAcquired:
		return a.conflictCode
	case exitLost:
		return a.lostCode
	}
	return code
}

// writeFlags lists fs's flags as "  --name TYPE  usage", wrapped to 80 columns.
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		switch typ {
		case "value", "string":
			typ = "VALUE"
		case "duration":
			typ = "DURATION"
		}
		left := "--" + f.Name
		if typ != "" {
			left += " " + typ
		}
		if len(left) > 24 {
			fmt.Fprintf(w, "  %s\n", left)
			left = ""
		}
		for _, line := range wrap(usage, 80-27) {
			fmt.Fprintf(w, "  %-24s %s\n", left, line)
			left = ""
		}
	})
}

// wrap splits s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// parseFlags parses args with fs. At the top level (top true) it stops at
// the first argument that is not an option (the command). In a command,
// options may come before and after the positional arguments, up to "--".
func parseFlags(fs *flag.FlagSet, args []string, top bool) ([]string, error) {
	if top {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return fs.Args(), nil
	}
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
}

// parseCommand parses a command's arguments: options and positional
// arguments, then, after "--", the command to run (cmd is nil without "--").
func (a *app) parseCommand(c *command, args []string) (pos, cmd []string, err error) {
	head := args
	if i := slices.Index(args, "--"); i >= 0 {
		head, cmd = args[:i], args[i+1:]
		if cmd == nil {
			cmd = []string{}
		}
	}
	fs := a.flagSet(c.name)
	pos, err = parseFlags(fs, head, false)
	if err != nil {
		return nil, nil, a.flagError(c.name, err)
	}
	a.noteSet(fs)
	if err := a.checkOptions(c.name); err != nil {
		return nil, nil, err
	}
	a.setupLogger()
	return pos, cmd, nil
}

// flagError turns an error of the flag package into a usage error; for
// --help it prints the help and ends with status 0.
func (a *app) flagError(cmd string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		if c := findCommand(cmd); c != nil {
			a.printCommandHelp(a.stdout, c)
		} else {
			a.printUsage(a.stdout)
		}
		return &exitError{code: exitOK}
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		msg = "unknown option --" + strings.TrimPrefix(msg, "flag provided but not defined: -")
	case strings.HasPrefix(msg, "flag needs an argument: -"):
		msg = "option --" + strings.TrimPrefix(msg, "flag needs an argument: -") + " needs a value"
	default:
		msg = strings.Replace(msg, "for flag -", "for option --", 1)
	}
	prefix := "tooz"
	if cmd != "" {
		prefix += " " + cmd
	}
	return usageError(cmd, "%s: %s", prefix, msg)
}

// codeOf maps a library error to an exit status.
func codeOf(err error) int {
	switch {
	case errors.Is(err, tooz.ErrInvalidURL), errors.Is(err, tooz.ErrUnknownDriver),
		errors.Is(err, tooz.ErrInvalidID), errors.Is(err, tooz.ErrInvalidCapabilities),
		errors.Is(err, tooz.ErrValueTooLarge):
		return exitUsage
	case errors.Is(err, tooz.ErrConnection), errors.Is(err, tooz.ErrAuth),
		errors.Is(err, tooz.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	case errors.Is(err, tooz.ErrNotAcquired):
		return exitNotAcquired
	}
	return exitFailure
}

// defaultDir is the directory of the embedded default backend.
func defaultDir() (string, error) {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tooz", "default"), nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "tooz", "default"), nil
	}
	return "", errors.New("no directory for the embedded default backend: $HOME, $XDG_CACHE_HOME and $XDG_RUNTIME_DIR are unset; set --url or $TOOZ_URL")
}

// resolveURL picks the backend URL: --url, $TOOZ_URL, or the embedded
// default, whose directory it creates. It checks the scheme before any I/O.
func (a *app) resolveURL() error {
	env, envSet, envErr := envURL()
	switch {
	case a.url != "":
		a.resolvedURL, a.urlSource = a.url, "--url"
	case envErr != nil:
		return envErr
	case envSet:
		a.resolvedURL, a.urlSource = env, "$TOOZ_URL"
	default:
		dir, err := defaultDir()
		if err != nil {
			return &exitError{code: exitUsage, msg: err.Error()}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return exitf(exitFailure, "tooz: embedded default backend: %v", err)
		}
		a.resolvedURL, a.urlSource = (&url.URL{Scheme: "file", Path: dir}).String(), "embedded default"
	}
	u, err := url.Parse(a.resolvedURL)
	if err != nil || u.Scheme == "" {
		// The library's message never shows the password; keep it that way.
		return nil
	}
	if !slices.Contains(tooz.Schemes(), strings.ToLower(u.Scheme)) {
		return exitf(exitUsage, "tooz: unknown backend %q in URL (from %s); this tooz knows: %s",
			u.Scheme, a.urlSource, strings.Join(tooz.Schemes(), ", "))
	}
	return nil
}

// memberID is --member or HOSTNAME-PID.
func (a *app) memberID() string {
	if a.member != "" {
		return a.member
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tooz"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// open connects to the backend.
func (a *app) open() (*tooz.Coordinator, error) {
	if err := a.resolveURL(); err != nil {
		return nil, err
	}
	opts := []tooz.Option{tooz.WithLogger(a.log), crossProcess()}
	if a.timeout > 0 {
		opts = append(opts, tooz.WithTimeout(a.timeout))
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.requestTimeout)
	defer cancel()
	c, err := tooz.Open(ctx, a.resolvedURL, a.memberID(), opts...)
	if err != nil {
		if s := a.signals.received(); s != nil {
			return nil, interrupted(s, "while connecting")
		}
		if refused := a.refusedBackend(err); refused != nil {
			return nil, refused
		}
		// Drop the library's "open member ..." context: say what went wrong.
		msg := err.Error()
		var te *tooz.Error
		if errors.As(err, &te) && te.Op == "open" && te.Err != nil {
			msg = te.Err.Error()
		}
		return nil, &exitError{code: codeOf(err), msg: "tooz: " + msg}
	}
	return c, nil
}

// close closes c on a context of its own, reporting trouble as a warning.
func (a *app) close(c *tooz.Coordinator) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		a.warn("close", map[string]any{"error": err.Error()}, fmt.Sprintf("closing the connection: %v", err))
	}
}

// request returns a context for one request to the backend.
func (a *app) request() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.requestTimeout)
}

// openRequest opens the coordinator for a command that makes requests
// and nothing else, with a request context; done cancels it and closes
// the coordinator.
func (a *app) openRequest() (ctx context.Context, c *tooz.Coordinator, done func(), err error) {
	c, err = a.open()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := a.request()
	return ctx, c, func() { cancel(); a.close(c) }, nil
}

// requestError explains a failed request, noting an interrupt.
func (a *app) requestError(err error) error {
	if s := a.signals.received(); s != nil {
		return interrupted(s, "")
	}
	return err
}

// interrupted is the error of a command stopped by signal s: status 128+s.
func interrupted(s os.Signal, while string) error {
	msg := "tooz: interrupted by " + signalName(s)
	if while != "" {
		msg += " " + while
	}
	return &exitError{code: 128 + signalNumber(s), msg: msg}
}

// emitJSON writes v as one JSON line.
func (a *app) emitJSON(w io.Writer, v any) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.Reset()
		fmt.Fprintf(&b, "{\"error\":%q}\n", err.Error())
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	io.WriteString(w, b.String())
}

// println writes a line of text.
func (a *app) println(w io.Writer, s string) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	io.WriteString(w, s+"\n")
}

// notice reports event on stderr: a JSON object with --json, else
// "tooz: text" when show is true.
func (a *app) notice(show bool, event string, fields map[string]any, text string) {
	if a.json {
		m := map[string]any{"time": time.Now().Format(time.RFC3339Nano), "event": event}
		for k, v := range fields {
			m[k] = v
		}
		a.emitJSON(a.stderr, m)
		return
	}
	if show {
		a.println(a.stderr, "tooz: "+text)
	}
}

// info reports progress, shown with --verbose or --json.
func (a *app) info(event string, fields map[string]any, text string) {
	a.notice(a.verbose, event, fields, text)
}

// warn reports something the user must see.
func (a *app) warn(event string, fields map[string]any, text string) {
	a.notice(true, event, fields, text)
}

// stderrIsTerminal reports whether a person is probably reading stderr.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// signalRouter receives the signals tooz handles. Terminating signals
// (SIGINT, SIGTERM, SIGHUP) cancel ctx; while a command runs, every signal
// is also handed to its supervisor, which forwards it.
type signalRouter struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	got   os.Signal
	child chan os.Signal
}

func newSignalRouter() *signalRouter {
	r := &signalRouter{}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, append(slices.Clone(terminating), forwarded...)...)
	go func() {
		for s := range ch {
			r.mu.Lock()
			term := slices.Contains(terminating, s)
			if term && r.got == nil {
				r.got = s
			}
			child := r.child
			r.mu.Unlock()
			if term {
				r.cancel()
			}
			if child != nil {
				select {
				case child <- s:
				default: // the supervisor is not listening any more
				}
			}
		}
	}()
	return r
}

// interrupt acts as if tooz had received the terminating signal s.
func (r *signalRouter) interrupt(s os.Signal) {
	r.mu.Lock()
	if r.got == nil {
		r.got = s
	}
	r.mu.Unlock()
	r.cancel()
}

// received returns the first terminating signal received, or nil.
func (r *signalRouter) received() os.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// route hands signals to ch until the returned function is called.
func (r *signalRouter) route(ch chan os.Signal) (stop func()) {
	r.mu.Lock()
	r.child = ch
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.child = nil
		r.mu.Unlock()
	}
}
