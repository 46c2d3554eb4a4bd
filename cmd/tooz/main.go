// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Command tooz brings tooz's locks, leader election and group membership to
// the shell, on any backend tooz has a driver for: etcd, Consul, ZooKeeper,
// Redis, or a local directory (file://) that needs no server.
//
//	tooz lock NAME -- CMD [ARGS...]    run CMD while holding lock NAME
//	tooz lock NAME --shared -- CMD     run CMD holding the read/write lock NAME shared (--exclusive: alone)
//	tooz semaphore NAME N -- CMD       run CMD holding one of the N permits of semaphore NAME
//	tooz elect GROUP -- CMD [ARGS...]  run CMD while this process leads GROUP
//	tooz groups                        list groups, their member count and leader
//	tooz members GROUP                 list GROUP's members, capabilities and join times
//	tooz leader GROUP                  print GROUP's leader
//	tooz join GROUP                    stay a member of GROUP until interrupted
//	tooz watch GROUP                   print GROUP's join, leave and leader events as they happen
//	tooz status                        show the backend, its characteristics and round-trip time
//	tooz owner LOCK                    print the member holding lock LOCK
//	tooz group delete GROUP            delete GROUP (it must have no members)
//	tooz kv get|put|del|ls|watch ...   read, write and follow the key/value namespace
//	tooz version                       print the version of tooz, Go and the backend clients
//
// The backend is the --url option, else $TOOZ_URL, else the embedded
// default: file://DIR with DIR = os.UserCacheDir()/tooz/default (usually
// ~/.cache/tooz/default), created when missing. Every process of a user on
// one host, cron jobs included, finds the same directory, so the commands
// work on a fresh machine with no server. `tooz status` shows the URL in
// use (passwords masked). An empty --url or an empty $TOOZ_URL (an unset
// variable in a cron line) is an error, never the default; so is a backend
// that does not coordinate separate processes (memory://), where two tooz
// processes could both hold one lock.
//
// The member ID is --member, else HOSTNAME-PID.
//
// Every command takes --help (with an example) and --json (JSON output:
// with --json every line tooz itself writes, errors included, is a JSON
// object).
//
// # Running a command under a lock or a leadership
//
// `tooz lock` and `tooz elect` start CMD only once the lock or leadership
// is held, with TOOZ_FENCING_TOKEN in its environment (plus TOOZ_LOCK or
// TOOZ_GROUP): a number strictly greater than that of every earlier holder,
// for storage that must refuse a stale holder's writes. CMD runs in a process
// group of its own, so that signals reach everything it started; when stdin
// is a terminal that tooz owns, the terminal is handed to CMD, so that CMD
// can read from it and Ctrl-C reaches CMD directly.
//
//   - If the lock or leadership is lost while CMD runs (the backend lost our
//     session, or tooz could not renew it within the liveness timeout), CMD's
//     process group gets SIGTERM, then SIGKILL after --grace (default 10s),
//     and tooz exits with status 5 and a message saying the lock was lost.
//   - SIGINT, SIGTERM and SIGHUP sent to tooz are forwarded to CMD's process
//     group (SIGKILL follows after --grace if CMD does not end); SIGUSR1 and
//     SIGUSR2 are forwarded as they are. The lock or leadership is released
//     once CMD has ended — never while it may still run.
//   - If tooz itself is killed (kill -9, out of memory), CMD's whole process
//     group gets SIGKILL, grandchildren included: nothing would stop them
//     any more when the lock expires. A small watcher process (a second
//     tooz, in a process group of its own) does it when the pipe from the
//     dead tooz closes; on Linux, the parent-death signal also kills CMD.
//     A process that left CMD's group (setsid, a daemon) escapes.
//
// # Exit status
//
//	0    success; for lock and elect: CMD exited with 0
//	1    the request failed (e.g. the group does not exist, the group has no leader)
//	2    bad usage: unknown command or option, bad URL or URL option, invalid name
//	3    the backend is unreachable, rejected our credentials or did not answer in time
//	4    lock or leadership not acquired (--no-wait, or --wait expired)
//	5    lock or leadership lost while CMD ran; CMD was stopped
//	126  CMD could not be executed; 127: CMD not found (checked before taking the lock)
//	N    CMD's own exit status, passed through; 128+S when CMD was killed by signal S
//	     (e.g. 143 for SIGTERM); also 128+S when tooz was interrupted by signal S
//	     while it waited for the lock or leadership
//
// A CMD that itself exits with 1 to 5 cannot be told from tooz's own
// statuses by the number alone; tooz always writes a message to stderr when
// the status is its own. lock, semaphore and elect take
// --conflict-exit-code N and --lost-exit-code N (as flock -E does) to move
// 4 and 5 to statuses the command never uses; 1 to 3 are only reported
// before the command starts.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit statuses. They are part of the command's interface: keep them stable.
const (
	exitOK          = 0   // success
	exitFailure     = 1   // the request failed (group does not exist, no leader, ...)
	exitUsage       = 2   // bad command line, URL, URL option or name
	exitUnreachable = 3   // backend unreachable, credentials rejected, no answer in time
	exitNotAcquired = 4   // lock or leadership not acquired (--no-wait, --wait expired)
	exitLost        = 5   // lock or leadership lost while the command ran
	exitCannotRun   = 126 // the command could not be executed
	exitNotFound    = 127 // the command was not found
)

// exitError ends the program with a status and a message (none when msg is empty).
type exitError struct {
	code    int
	msg     string
	command bool // code is the command's own status, passed through
}

func (e *exitError) Error() string { return e.msg }

// exitf returns an exitError with a formatted message.
func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageError reports a bad command line, pointing at the command's help.
func usageError(cmd string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	help := "tooz --help"
	if cmd != "" {
		help = "tooz " + cmd + " --help"
	}
	return &exitError{code: exitUsage, msg: fmt.Sprintf("%s (see '%s')", msg, help)}
}

// command is one subcommand.
type command struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	details string // more explanation, shown by --help
	example string
	run     func(a *app, me *command, args []string) error
}

var commands []*command

func init() {
	commands = []*command{
		lockCommand, semaphoreCommand, electCommand, groupsCommand, membersCommand,
		leaderCommand, joinCommand, watchCommand, statusCommand,
		ownerCommand, groupCommand, kvCommand, versionCommand,
	}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == reaperArg {
		os.Exit(runReaper(os.Args[2]))
	}
	a := newApp(os.Stdout, os.Stderr)
	os.Exit(a.main(os.Args[1:]))
}

// main runs the command line args and returns the exit status.
func (a *app) main(args []string) int {
	err := a.dispatch(args)
	return a.finish(err)
}

func (a *app) dispatch(args []string) error {
	fs := a.flagSet("")
	rest, err := parseFlags(fs, args, true)
	if err != nil {
		return a.flagError("", err)
	}
	a.noteSet(fs)
	if len(rest) == 0 {
		a.printUsage(a.stderr)
		return &exitError{code: exitUsage}
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			c := findCommand(rest[1])
			if c == nil {
				return usageError("", "unknown command %q", rest[1])
			}
			a.printCommandHelp(a.stdout, c)
			return nil
		}
		a.printUsage(a.stdout)
		return nil
	}
	c := findCommand(name)
	if c == nil {
		return usageError("", "unknown command %q", name)
	}
	return c.run(a, c, rest[1:])
}

// finish reports err (if any) and returns the exit status.
func (a *app) finish(err error) int {
	if err == nil {
		return exitOK
	}
	code, msg, command := classify(err)
	if !command {
		code = a.exitCode(code)
	}
	if msg != "" {
		if a.json {
			a.emitJSON(a.stderr, map[string]any{"error": msg, "exit_code": code})
		} else {
			if !strings.HasPrefix(msg, "tooz: ") && !strings.HasPrefix(msg, "tooz ") {
				msg = "tooz: " + msg
			}
			fmt.Fprintln(a.stderr, msg)
		}
	}
	return code
}

// classify maps an error to its exit status and message; command says
// that the status is the command's own, passed through.
func classify(err error) (code int, msg string, command bool) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.msg, ee.command
	}
	return codeOf(err), err.Error(), false
}

// printUsage writes the top-level help.
func (a *app) printUsage(w io.Writer) {
	fmt.Fprint(w, `tooz: locks, leader election and group membership from the shell, on etcd,
Consul, ZooKeeper, Redis or a local directory.

Usage:
  tooz [options] COMMAND [options] [ARGS...]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, "\nOptions of every command:\n")
	writeFlags(w, a.flagSet(""))
	fmt.Fprint(w, `
Backend: --url, else $TOOZ_URL, else the embedded default file://`+"<cache dir>"+`/tooz/default
(no server needed; 'tooz status' shows the URL in use). URLs:
  file:///var/lib/tooz   etcd://h1:2379,h2:2379   redis://h:6379   consul://h:8500
  zookeeper://h1:2181,h2:2181   (options: ?timeout=10s&namespace=tooz&...)

Exit status:
  0    success (lock, elect: the command exited with 0)
  1    the request failed (e.g. the group does not exist, the group has no leader)
  2    bad usage: unknown command or option, bad URL or URL option, invalid name
  3    backend unreachable, credentials rejected, or no answer in time
  4    lock or leadership not acquired (--no-wait, or --wait expired)
  5    lock or leadership lost while the command ran; the command was stopped
  126  the command could not be executed; 127: the command was not found
  N    lock, elect: the command's own exit status; 128+S if it was killed by signal S
  (lock, semaphore and elect: --conflict-exit-code and --lost-exit-code move 4 and 5)

Run 'tooz COMMAND --help' for a command's options and an example.
`)
}

// printCommandHelp writes a subcommand's help.
func (a *app) printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: tooz %s [options] %s\n\n%s.\n", c.name, c.args, upperFirst(c.summary))
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.details))
	}
	fs := a.flagSet(c.name)
	if own := ownFlags(fs); own != nil {
		fmt.Fprint(w, "\nOptions:\n")
		writeFlags(w, own)
	}
	fmt.Fprint(w, "\nOptions of every command:\n")
	writeFlags(w, a.flagSet(""))
	fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(c.example), "  "))
	fmt.Fprint(w, "\nExit status: see 'tooz --help'.\n")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
