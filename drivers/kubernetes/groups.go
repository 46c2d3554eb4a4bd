// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// Groups and memberships are ConfigMaps (a membership's capabilities,
// up to tooz.MaxCapabilitiesLength, fit in binaryData, not in an
// annotation). A membership is tied to its session by a label: it counts
// only while that session lives, and whoever finds the session expired
// deletes it with everything tied to it.

func (c *conn) groupSelector() string {
	return selector(labelNamespace, c.nsHash, labelKind, "group")
}

func (c *conn) memberSelector(group string) string {
	return selector(labelNamespace, c.nsHash, labelKind, "member", labelGroup, hash(c.nsHash, group))
}

func (c *conn) sessionSelector() string {
	return selector(labelNamespace, c.nsHash, labelKind, "session")
}

// CreateGroup implements tooz.CoordinationDriver.
func (c *conn) CreateGroup(ctx context.Context, group string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:        c.groupName(group),
		Labels:      map[string]string{labelNamespace: c.nsHash, labelKind: "group"},
		Annotations: map[string]string{annName: group},
	}}
	_, err := c.cms.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%w: kubernetes: configmap %s", tooz.ErrGroupAlreadyExists, cm.Name)
	}
	return translate(err)
}

func (c *conn) getGroup(ctx context.Context, group string) (*corev1.ConfigMap, error) {
	g, err := c.cms.Get(ctx, c.groupName(group), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: kubernetes: no configmap %s", tooz.ErrGroupNotCreated, c.groupName(group))
	}
	return g, translate(err)
}

// annDeleting marks a group ConfigMap while a DeleteGroup checks that it
// is empty: a join that finds the mark waits for the verdict.
const annDeleting = "tooz.dev/deleting"

// staleMark is how old a deletion mark must be before a join takes it for
// the mark of a deleter that died, and clears it.
const staleMark = 10 * time.Second

// DeleteGroup implements tooz.CoordinationDriver. It marks the group's
// ConfigMap, lists the members, and deletes the ConfigMap on condition
// that nothing changed since the mark; when there are members it clears
// the mark. A join creates its membership first and then reads the group:
// so either the listing sees the membership, or the join sees the mark
// (and waits for the mark to go, or the group to go).
func (c *conn) DeleteGroup(ctx context.Context, group string) error {
	for {
		g, err := c.getGroup(ctx, group)
		if err != nil {
			return err
		}
		if g.Annotations == nil {
			g.Annotations = map[string]string{}
		}
		g.Annotations[annDeleting] = time.Now().UTC().Format(time.RFC3339Nano)
		marked, err := c.cms.Update(ctx, g, metav1.UpdateOptions{})
		switch {
		case apierrors.IsConflict(err):
			continue
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%w: kubernetes: configmap %s deleted meanwhile", tooz.ErrGroupNotCreated, g.Name)
		case err != nil:
			return translate(err)
		}
		members, err := c.liveMembers(ctx, group)
		if err != nil || len(members) > 0 {
			delete(marked.Annotations, annDeleting)
			cctx, cancel := driverkit.CleanupContext(ctx)
			_, uerr := c.cms.Update(cctx, marked, metav1.UpdateOptions{}) // a conflict: a join cleared it
			cancel()
			if uerr != nil && !apierrors.IsConflict(uerr) && !apierrors.IsNotFound(uerr) {
				c.log.Warn("tooz/kubernetes: could not clear a group's deletion mark; joins clear it when it is stale", "configmap", g.Name, "err", uerr)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: kubernetes: %d members", tooz.ErrGroupNotEmpty, len(members))
		}
		rv := marked.ResourceVersion
		err = c.cms.Delete(ctx, g.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if apierrors.IsConflict(err) {
			continue // a join cleared a mark it took for stale
		}
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: kubernetes: configmap %s deleted meanwhile", tooz.ErrGroupNotCreated, g.Name)
		}
		return translate(err)
	}
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	list, err := c.cms.List(ctx, metav1.ListOptions{LabelSelector: c.groupSelector()})
	if err != nil {
		return nil, translate(err)
	}
	out := make([]string, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, list.Items[i].Annotations[annName])
	}
	return out, nil
}

func (c *conn) memberConfigMap(group string, s *session, caps []byte, joined time.Time) *corev1.ConfigMap {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.memberName(group, c.member),
			Labels: map[string]string{
				labelNamespace: c.nsHash, labelKind: "member", labelGroup: hash(c.nsHash, group),
				labelSession: s.name, labelCoordinator: c.id,
			},
			Annotations: map[string]string{annName: c.member, annJoined: joined.UTC().Format(time.RFC3339Nano), annUpdated: now},
		},
		BinaryData: map[string][]byte{keyCapabilities: caps},
	}
}

// JoinGroup implements tooz.CoordinationDriver. The membership ConfigMap
// is created, then the group's ConfigMap read: gone, the membership is
// deleted again; marked by a DeleteGroup, the join waits for its verdict
// (see DeleteGroup). Joins write nothing to the group, so they do not
// contend with each other.
func (c *conn) JoinGroup(ctx context.Context, group string, caps []byte) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	if _, err := c.getGroup(ctx, group); err != nil {
		return err // no membership, not even for a moment, in a group that does not exist
	}
	cm := c.memberConfigMap(group, s, caps, time.Now())
	for {
		_, err = c.cms.Create(ctx, cm, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsAlreadyExists(err) {
			return translate(err)
		}
		old, err := c.cms.Get(ctx, cm.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return translate(err)
		}
		holder, err := c.liveSession(ctx, old.Labels[labelSession])
		if err != nil {
			return err
		}
		if holder != nil {
			return fmt.Errorf("%w: kubernetes: configmap %s", tooz.ErrMemberAlreadyJoined, cm.Name)
		}
		// A membership of an expired session that liveSession deleted, or
		// one left behind: remove it on condition, and join again.
		rv := old.ResourceVersion
		err = c.cms.Delete(ctx, old.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return translate(err)
		}
	}
	b := driverkit.Backoff{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	for {
		g, err := c.getGroup(ctx, group)
		if err == nil {
			mark, marked := g.Annotations[annDeleting]
			if !marked {
				return nil
			}
			if at, perr := time.Parse(time.RFC3339Nano, mark); perr == nil && time.Since(at) < staleMark {
				if b.Wait(ctx) {
					continue // a DeleteGroup is deciding
				}
				err = ctx.Err()
			} else {
				delete(g.Annotations, annDeleting)
				_, err = c.cms.Update(ctx, g, metav1.UpdateOptions{})
				if err == nil || apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
					continue
				}
				err = translate(err)
			}
		}
		cctx, cancel := driverkit.CleanupContext(ctx)
		_ = c.cms.Delete(cctx, cm.Name, metav1.DeleteOptions{})
		cancel()
		return err
	}
}

// ownMember returns this member's membership of group, or the error the
// contract wants when there is none.
func (c *conn) ownMember(ctx context.Context, group string) (*corev1.ConfigMap, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	m, err := c.cms.Get(ctx, c.memberName(group, c.member), metav1.GetOptions{})
	if err == nil && m.Labels[labelSession] == s.name {
		return m, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, translate(err)
	}
	if _, err := c.getGroup(ctx, group); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: kubernetes: no configmap %s of this session", tooz.ErrMemberNotJoined, c.memberName(group, c.member))
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, group string) error {
	m, err := c.ownMember(ctx, group)
	if err != nil {
		return err
	}
	rv := m.ResourceVersion
	err = c.cms.Delete(ctx, m.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("%w: kubernetes: configmap %s changed meanwhile", tooz.ErrMemberNotJoined, m.Name)
	}
	return translate(err)
}

// UpdateCapabilities implements tooz.CoordinationDriver.
func (c *conn) UpdateCapabilities(ctx context.Context, group string, caps []byte) error {
	m, err := c.ownMember(ctx, group)
	if err != nil {
		return err
	}
	m.BinaryData = map[string][]byte{keyCapabilities: caps}
	m.Annotations[annUpdated] = time.Now().UTC().Format(time.RFC3339Nano)
	_, err = c.cms.Update(ctx, m, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("%w: kubernetes: configmap %s changed meanwhile", tooz.ErrMemberNotJoined, m.Name)
	}
	return translate(err)
}

// memberInfo reads a membership ConfigMap.
func memberInfo(m *corev1.ConfigMap) tooz.MemberInfo {
	joined, _ := time.Parse(time.RFC3339Nano, m.Annotations[annJoined])
	updated, _ := time.Parse(time.RFC3339Nano, m.Annotations[annUpdated])
	return tooz.MemberInfo{
		ID:           m.Annotations[annName],
		Capabilities: m.BinaryData[keyCapabilities],
		JoinedAt:     joined,
		UpdatedAt:    updated,
		Incarnation:  m.Labels[labelSession],
	}
}

// liveMembers lists the group's memberships whose session lives: two
// reads, the memberships and the namespace's sessions. Memberships of
// expired sessions are left out, and those sessions reaped.
func (c *conn) liveMembers(ctx context.Context, group string) ([]tooz.MemberInfo, error) {
	list, err := c.cms.List(ctx, metav1.ListOptions{LabelSelector: c.memberSelector(group)})
	if err != nil {
		return nil, translate(err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Labels[labelSession]
	}
	live, err := c.sessionDeadlines(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]tooz.MemberInfo, 0, len(list.Items))
	for i := range list.Items {
		if _, ok := live[names[i]]; ok {
			out = append(out, memberInfo(&list.Items[i]))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Members implements tooz.CoordinationDriver.
func (c *conn) Members(ctx context.Context, group string) ([]tooz.MemberInfo, error) {
	if _, err := c.getGroup(ctx, group); err != nil {
		return nil, err
	}
	return c.liveMembers(ctx, group)
}

// MemberInfo implements tooz.CoordinationDriver.
func (c *conn) MemberInfo(ctx context.Context, group, member string) (tooz.MemberInfo, error) {
	m, err := c.cms.Get(ctx, c.memberName(group, member), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return tooz.MemberInfo{}, translate(err)
	}
	if err == nil {
		sess, err := c.liveSession(ctx, m.Labels[labelSession])
		if err != nil {
			return tooz.MemberInfo{}, err
		}
		if sess != nil {
			return memberInfo(m), nil
		}
	}
	if _, err := c.getGroup(ctx, group); err != nil {
		return tooz.MemberInfo{}, err
	}
	return tooz.MemberInfo{}, fmt.Errorf("%w: kubernetes: no live configmap %s", tooz.ErrMemberNotJoined, c.memberName(group, member))
}
