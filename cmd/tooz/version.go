// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

var versionCommand = &command{
	name:    "version",
	summary: "print the version of tooz, of Go and of the backend client libraries",
	details: `
The versions come from the binary's build information: the module version
when tooz was installed with 'go install github.com/toozgo/tooz/cmd/tooz@VERSION',
"(devel)" plus the VCS revision when it was built from a checkout.`,
	example: `
tooz version
tooz version --json`,
	run: runVersion,
}

// versionInfo is what tooz version reports.
type versionInfo struct {
	Version  string            `json:"version"`
	Revision string            `json:"revision,omitempty"`
	Modified bool              `json:"modified,omitempty"`
	Go       string            `json:"go"`
	Platform string            `json:"platform"`
	Deps     map[string]string `json:"dependencies,omitempty"`
}

// clientModules are the dependencies worth reporting: the backend clients.
var clientModules = []string{
	"go.etcd.io/etcd/client/v3",
	"github.com/hashicorp/consul/api",
	"github.com/go-zookeeper/zk",
	"github.com/redis/go-redis/v9",
}

// buildVersion reads the version from the binary's build information.
func buildVersion() versionInfo {
	v := versionInfo{Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		for _, m := range clientModules {
			if d.Path == m {
				if v.Deps == nil {
					v.Deps = map[string]string{}
				}
				ver := d.Version
				if d.Replace != nil {
					ver += " => " + d.Replace.Path + " " + d.Replace.Version
				}
				v.Deps[d.Path] = strings.TrimSpace(ver)
			}
		}
	}
	return v
}

func runVersion(a *app, me *command, args []string) error {
	if _, err := a.parseArgs(me, args); err != nil {
		return err
	}
	v := buildVersion()
	if a.json {
		a.emitJSON(a.stdout, v)
		return nil
	}
	line := "tooz " + v.Version
	if v.Revision != "" {
		line += " (" + v.Revision
		if v.Modified {
			line += ", modified"
		}
		line += ")"
	}
	a.println(a.stdout, fmt.Sprintf("%s %s %s", line, v.Go, v.Platform))
	for _, m := range clientModules {
		if ver, ok := v.Deps[m]; ok {
			a.println(a.stdout, fmt.Sprintf("  %-34s %s", m, ver))
		}
	}
	return nil
}
