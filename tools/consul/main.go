// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Command consul runs only the Consul agent ("consul agent ..."), built from
// the MPL-2.0 licensed github.com/hashicorp/consul v1.16.1 module. It exists
// because Consul is not packaged for Debian: scripts/install-servers.sh builds
// it and internal/testserver starts it for the tests against a real Consul.
//
// Usage is the same as Consul's own CLI for the agent subcommand; the leading
// "agent" word is optional:
//
//	consul agent -dev -client 127.0.0.1 -bind 127.0.0.1 -http-port 8500
package main

import (
	"fmt"
	"os"

	mcli "github.com/mitchellh/cli"

	"github.com/hashicorp/consul/command/agent"
	"github.com/hashicorp/consul/command/cli"
	"github.com/hashicorp/consul/version"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 {
		switch args[0] {
		case "agent":
			args = args[1:]
		case "version", "-version", "--version", "-v":
			fmt.Printf("Consul v%s (agent-only build for tooz tests)\n", version.GetHumanVersion())
			return
		}
	}
	ui := &cli.BasicUI{BasicUi: mcli.BasicUi{
		Reader:      os.Stdin,
		Writer:      os.Stdout,
		ErrorWriter: os.Stderr,
	}}
	cmd := agent.New(ui)
	if cmd == nil {
		os.Exit(1)
	}
	os.Exit(cmd.Run(args))
}
