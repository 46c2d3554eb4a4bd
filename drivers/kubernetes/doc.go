// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubernetes registers the Kubernetes driver under the URL scheme
// "k8s": groups, locks, elections, semaphores and read/write locks kept by
// a cluster's own API server, in Leases and ConfigMaps of one namespace.
//
//	k8s://                                   in a pod: its service account, its namespace
//	k8s://NAMESPACE                          in a pod, another namespace
//	k8s://?kubeconfig=PATH[&context=NAME]    a kubeconfig file (and context)
//	k8s://NAMESPACE?kubeconfig=PATH
//
// The URL's host is the Kubernetes namespace the objects live in; without
// one it is the pod's own namespace (in a pod) or the kubeconfig context's,
// else "default". The option "namespace" keeps the meaning it has on every
// backend, a key prefix: coordinators with different tooz namespaces share
// a Kubernetes namespace without seeing each other. Options: kubeconfig
// (a kubeconfig file; without it the driver uses the pod's service account
// and fails with ErrInvalidURL outside a pod), context (a context of that
// file), qps (a client-side limit of requests per second; by default none,
// since the API server has flow control of its own and a client-side limit
// would hold heartbeats back behind a burst), and the common timeout
// (member liveness, whole seconds, at least 1s) and namespace.
// Credentials never come from the URL.
//
// # How it works
//
// The API server has optimistic concurrency (every write can be made
// conditional on an object's resourceVersion) and watches, but no
// sessions, TTLs or server-side expiry, and garbage collection by owner
// references needs kube-controller-manager, which the driver does not rely
// on. So:
//
//   - Liveness: each coordinator has a session Lease (coordination.k8s.io/v1)
//     whose renewTime the heart updates, conditionally, every third of the
//     timeout. A session is expired when its renewTime plus the timeout
//     (kept exactly in an annotation; leaseDurationSeconds rounds up) lies
//     in the past, as client-go's leader election judges a Lease. Whoever
//     finds a session expired — a lister, a watcher, a contender — deletes
//     it (on condition that it was not renewed meanwhile) and then every
//     object tied to it. A coordinator whose own renewal comes after its
//     deadline, or finds its Lease deleted, starts a new session and
//     reports tooz.ErrSessionLost.
//   - Memberships are ConfigMaps (labels: group hash, session), with the
//     capabilities in binaryData (up to tooz.MaxCapabilitiesLength; an
//     annotation could not hold that much). A member counts only while its
//     session lives. Groups are ConfigMaps too. DeleteGroup marks the
//     group's ConfigMap, lists the members and deletes it on condition that
//     it did not change; a join creates its membership and then reads the
//     group, waiting while it is marked: a join cannot slip between the
//     emptiness check and the delete, and joins do not contend.
//   - Locks and elections are Leases with the holder in holderIdentity. A
//     Lease is created when absent, deleted on release, and taken over
//     from an expired holder by an update conditional on its
//     resourceVersion, after the holder's session was deleted (so it can
//     never be renewed back to life while someone else holds its lock).
//     The fencing token is the resourceVersion of the write that made the
//     holder: an etcd revision, which only grows, across deletions and
//     re-creations of the Lease too. leaseTransitions (kept up to date for
//     kubectl) would not do alone: it is an int32 that counts changes of
//     holder identity only, so a member that takes the lock again after
//     releasing it would get the same number, and it starts again at 0
//     when the Lease is deleted.
//   - Semaphores and read/write locks: one Lease per contender, in creation
//     order (resourceVersion), holding by tooz.Share.Holds over the live
//     contenders ahead.
//   - Events are pushed by watches (ConfigMaps of a group, the namespace's
//     session Leases, a lock's Lease), with a timer at the deadline of the
//     sessions concerned, since an expiry is no event. A watch that ends —
//     "too old resource version" (410 Gone), a dropped connection — is
//     followed by a listing, and the difference is reported. A session
//     renewal is no event for a watcher; sessions that a watch's view
//     holds expired (the session watch lags behind renewals on a busy API
//     server) are read again before entries are reported gone, with one
//     listing when there are several.
//   - Each coordinator has one watch over its own Leases: a holding whose
//     Lease is deleted (by hand, by a reaper) or taken over ends at once,
//     and so does the session.
//
// # Clocks
//
// Expiry is judged by the clock of the coordinator that looks, against the
// renewTime written by the clock of the coordinator that renewed: clocks
// must agree to well within the timeout (NTP does that). A holder gives its
// ownerships up a tenth of the timeout before its own deadline (see
// tooz.Coordinator's liveness), which covers a small skew; a larger one can
// let a contender take over a lock while its holder still believes it
// holds. Fencing tokens protect the storage behind the lock from that, as
// from any pause. The driver therefore declares no
// tooz.NonTimeoutBased characteristic.
//
// # RBAC
//
// The identity needs, in the one namespace, exactly this Role:
//
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: Role
//	metadata: {name: tooz, namespace: NAMESPACE}
//	rules:
//	- apiGroups: [coordination.k8s.io]
//	  resources: [leases]
//	  verbs: [get, list, watch, create, update, delete, deletecollection]
//	- apiGroups: [""]
//	  resources: [configmaps]
//	  verbs: [get, list, watch, create, update, delete, deletecollection]
//
// bound to it by a RoleBinding. Without it every call fails with an error
// wrapping tooz.ErrAuth. Nothing cluster-wide is needed.
package kubernetes
