// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package nemesis

import (
	"errors"
	"strings"
	"time"

	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
)

// Node is one server of a replicated backend (an etcd member, a ZooKeeper
// server); *testserver.Server implements it.
type Node interface {
	Kill()
	Restart() error
}

// Isolation cuts one node off from its peers and from every client, and
// heals the cut: a network partition of one machine.
type Isolation interface {
	Isolate() error
	Heal() error
}

// KillNode kills one node of a cluster with SIGKILL (a crash of its
// machine), leaves it down for d while the others elect and serve, and
// restarts it on its data. The kill is recorded before it happens and the
// restart once the node serves again.
func (n *Nemesis) KillNode(name string, node Node, d time.Duration, note string) error {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.KillNode, Proc: name, Note: note})
	node.Kill()
	time.Sleep(d) // the fault's duration, not synchronization
	err := node.Restart()
	r := history.Rec{Type: history.Nemesis, F: checker.RestartNode, Proc: name}
	if err != nil {
		r.Err = err.Error()
	}
	n.H.Add(r)
	return err
}

// IsolateNode cuts one node off from its peers and its clients for d, then
// heals the cut.
func (n *Nemesis) IsolateNode(name string, iso Isolation, d time.Duration, note string) error {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.IsolateNode, Proc: name, Note: note})
	err := iso.Isolate()
	time.Sleep(d) // the fault's duration, not synchronization
	err = errors.Join(err, iso.Heal())
	r := history.Rec{Type: history.Nemesis, F: checker.HealNode, Proc: name}
	if err != nil {
		r.Err = err.Error()
	}
	n.H.Add(r)
	return err
}

// QuorumLoss takes a majority of the nodes away (each Isolation is one
// node: killed or cut off) for d, so that the cluster serves nobody, then
// brings them back in order. It is recorded as one fault of the whole
// backend: Proc is "cluster" and Note names the nodes.
func (n *Nemesis) QuorumLoss(names []string, down []Isolation, d time.Duration, note string) error {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.QuorumLoss, Proc: "cluster", Note: note + ": " + strings.Join(names, ",")})
	var err error
	for _, iso := range down {
		err = errors.Join(err, iso.Isolate())
	}
	time.Sleep(d) // the fault's duration, not synchronization
	for _, iso := range down {
		err = errors.Join(err, iso.Heal())
	}
	r := history.Rec{Type: history.Nemesis, F: checker.QuorumBack, Proc: "cluster"}
	if err != nil {
		r.Err = err.Error()
	}
	n.H.Add(r)
	return err
}
