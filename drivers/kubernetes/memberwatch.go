// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/membersink"
)

// WatchGroup implements tooz.CoordinationDriver.
func (c *conn) WatchGroup(ctx context.Context, group string, sink tooz.GroupSink) (func(), error) {
	return c.WatchMembers(ctx, group, membersink.Legacy(sink))
}

// WatchMembers implements tooz.MemberWatcher: a cmWatch of the group's
// membership ConfigMaps, reported as the difference from what was shown.
func (c *conn) WatchMembers(ctx context.Context, group string, sink tooz.MemberSink) (func(), error) {
	shown := map[string]string{} // member ID → when its capabilities were set
	w := &cmWatch{c: c, sel: c.memberSelector(group)}
	w.report = func(ctx context.Context, reset bool) {
		vis := w.visible(ctx, func(m *corev1.ConfigMap) bool {
			_, ok := shown[m.Annotations[annName]]
			return ok
		})
		sort.Slice(vis, func(i, j int) bool { return vis[i].Annotations[annName] < vis[j].Annotations[annName] })
		now := make(map[string]string, len(vis))
		for _, m := range vis {
			now[m.Annotations[annName]] = m.Annotations[annUpdated]
		}
		if reset {
			infos := make([]tooz.MemberInfo, len(vis))
			for i, m := range vis {
				infos[i] = memberInfo(m)
			}
			sink.Snapshot(infos, w.rev)
		} else {
			var left []string
			for id := range shown {
				if _, ok := now[id]; !ok {
					left = append(left, id)
				}
			}
			sort.Strings(left)
			for _, id := range left {
				sink.Left(id, w.rev)
			}
			for _, m := range vis {
				id := m.Annotations[annName]
				stamp, was := shown[id]
				switch {
				case !was:
					sink.Joined(memberInfo(m), w.rev)
				case stamp != now[id]:
					sink.Updated(memberInfo(m), w.rev)
				}
			}
		}
		shown = now
	}
	return w.start(ctx)
}
