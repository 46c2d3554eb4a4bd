// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"fmt"
	"slices"
	"strings"
)

// Characteristic is a property a driver guarantees, as listed by OpenStack's
// tooz. Drivers declare theirs; the conformance suite verifies each
// declaration; Require makes Open fail when one is missing.
type Characteristic string

// The characteristics a driver can declare.
const (
	// DistributedAcrossThreads: coordinators in one process coordinate.
	DistributedAcrossThreads Characteristic = "distributed_across_threads"
	// DistributedAcrossProcesses: coordinators in several processes on one host coordinate.
	DistributedAcrossProcesses Characteristic = "distributed_across_processes"
	// DistributedAcrossHosts: coordinators on several hosts coordinate.
	DistributedAcrossHosts Characteristic = "distributed_across_hosts"
	// NonTimeoutBased: ownership ends exactly when its holder ends (no TTL decides it).
	NonTimeoutBased Characteristic = "non_timeout_based"
	// Linearizable: every operation appears to take effect at one instant between its call and return.
	Linearizable Characteristic = "linearizable"
	// Sequential: all clients see operations in one order consistent with each client's program order.
	Sequential Characteristic = "sequential"
	// Causal: causally related operations are seen in the same order by everyone.
	Causal Characteristic = "causal"
	// Serializable: multi-key operations behave as if run one at a time.
	Serializable Characteristic = "serializable"
	// SameViewUnderPartitions: clients on both sides of a partition see the same state.
	SameViewUnderPartitions Characteristic = "same_view_under_partitions"
	// SameViewAcrossClients: all clients see the same state at a given time.
	SameViewAcrossClients Characteristic = "same_view_across_clients"
)

// AllCharacteristics returns every Characteristic, in a stable order.
func AllCharacteristics() []Characteristic {
	return []Characteristic{
		DistributedAcrossThreads, DistributedAcrossProcesses, DistributedAcrossHosts,
		NonTimeoutBased, Linearizable, Sequential, Causal, Serializable,
		SameViewUnderPartitions, SameViewAcrossClients,
	}
}

// Require returns an Option that makes Open fail with ErrDriverChosenPoorly
// unless the driver declares every one of chars.
func Require(chars ...Characteristic) Option {
	return func(o *options) { o.require = append(o.require, chars...) }
}

// checkRequired reports the characteristics in want that have does not hold.
func checkRequired(have, want []Characteristic) error {
	var missing []string
	for _, c := range want {
		if !slices.Contains(have, c) {
			missing = append(missing, string(c))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: lacks %s", ErrDriverChosenPoorly, strings.Join(missing, ", "))
}
