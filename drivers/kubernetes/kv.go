// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toozgo/tooz"
)

// The key/value namespace: one ConfigMap per key (the key in an
// annotation, the value in binaryData), whose resourceVersion is the
// key's revision. An ephemeral key carries its session's label, like a
// membership, and counts only while that session lives. Prefixes are
// matched by the client: labels cannot express them.

const keyValue = "value"

func (c *conn) kvName(key string) string { return "tooz-k-" + hash(c.nsHash, key) }

func (c *conn) kvSelector() string { return selector(labelNamespace, c.nsHash, labelKind, "kv") }

func keyValueOf(m *corev1.ConfigMap) tooz.KeyValue {
	rev, _ := strconv.ParseUint(m.ResourceVersion, 10, 64)
	_, eph := m.Labels[labelSession]
	return tooz.KeyValue{Key: m.Annotations[annName], Value: m.BinaryData[keyValue], Revision: rev, Ephemeral: eph}
}

// getLive reads key's ConfigMap; an ephemeral key of a session that is
// gone is reaped with it and reported absent (nil).
func (c *conn) getLive(ctx context.Context, key string) (*corev1.ConfigMap, error) {
	m, err := c.cms.Get(ctx, c.kvName(key), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	if sn, eph := m.Labels[labelSession]; eph {
		sess, err := c.liveSession(ctx, sn)
		if err != nil {
			return nil, err
		}
		if sess == nil {
			return nil, nil
		}
	}
	return m, nil
}

// GetKey implements tooz.KVStore.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	m, err := c.getLive(ctx, key)
	if err != nil {
		return tooz.KeyValue{}, err
	}
	if m == nil {
		return tooz.KeyValue{}, fmt.Errorf("%w: kubernetes: no configmap %s", tooz.ErrKeyNotFound, c.kvName(key))
	}
	return keyValueOf(m), nil
}

// ListKeys implements tooz.KVStore: one listing of the namespace's keys.
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	list, err := c.cms.List(ctx, metav1.ListOptions{LabelSelector: c.kvSelector()})
	if err != nil {
		return nil, translate(err)
	}
	var sessions []string
	for i := range list.Items {
		if sn, eph := list.Items[i].Labels[labelSession]; eph {
			sessions = append(sessions, sn)
		}
	}
	live, err := c.sessionDeadlines(ctx, sessions)
	if err != nil {
		return nil, err
	}
	var out []tooz.KeyValue
	for i := range list.Items {
		m := &list.Items[i]
		if !strings.HasPrefix(m.Annotations[annName], prefix) {
			continue
		}
		if sn, eph := m.Labels[labelSession]; eph {
			if _, ok := live[sn]; !ok {
				continue
			}
		}
		out = append(out, keyValueOf(m))
	}
	return out, nil
}

// kvConfigMap fills m (nil for a new key) for a write of value.
func (c *conn) kvConfigMap(m *corev1.ConfigMap, key string, value []byte, s *session) *corev1.ConfigMap {
	if m == nil {
		m = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: c.kvName(key)}}
	}
	m.Labels = map[string]string{labelNamespace: c.nsHash, labelKind: "kv"}
	if s != nil {
		m.Labels[labelSession], m.Labels[labelCoordinator] = s.name, c.id
	}
	m.Annotations = map[string]string{annName: key}
	m.Data = nil
	m.BinaryData = map[string][]byte{keyValue: value}
	return m
}

// PutKey implements tooz.KVStore: a create when the key is absent, else
// an update conditional on the revision read (or named by w).
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	var s *session
	if w.Ephemeral {
		var err error
		if s, err = c.session(); err != nil {
			return 0, err
		}
	}
	conflict := func() (uint64, error) {
		return 0, fmt.Errorf("%w: kubernetes: key %q is not at revision %d", tooz.ErrConflict, key, w.Revision)
	}
	for {
		cur, err := c.getLive(ctx, key)
		if err != nil {
			return 0, err
		}
		var got *corev1.ConfigMap
		switch {
		case w.Check && (cur == nil) != (w.Revision == 0):
			return conflict()
		case w.Check && cur != nil && keyValueOf(cur).Revision != w.Revision:
			return conflict()
		case cur == nil:
			got, err = c.cms.Create(ctx, c.kvConfigMap(nil, key, value, s), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				if w.Check {
					return conflict()
				}
				continue
			}
		default:
			got, err = c.cms.Update(ctx, c.kvConfigMap(cur, key, value, s), metav1.UpdateOptions{})
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				if w.Check {
					return conflict()
				}
				continue
			}
		}
		if err != nil {
			return 0, translate(err)
		}
		return keyValueOf(got).Revision, nil
	}
}

// DeleteKey implements tooz.KVStore.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	cur, err := c.getLive(ctx, key)
	if err != nil {
		return err
	}
	if cur == nil {
		if w.Check {
			return fmt.Errorf("%w: kubernetes: key %q does not exist", tooz.ErrConflict, key)
		}
		return fmt.Errorf("%w: kubernetes: no configmap %s", tooz.ErrKeyNotFound, c.kvName(key))
	}
	rv := cur.ResourceVersion
	if w.Check {
		if keyValueOf(cur).Revision != w.Revision {
			return fmt.Errorf("%w: kubernetes: key %q is not at revision %d", tooz.ErrConflict, key, w.Revision)
		}
	}
	err = c.cms.Delete(ctx, cur.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	switch {
	case err == nil:
		return nil
	case w.Check && (apierrors.IsConflict(err) || apierrors.IsNotFound(err)):
		return fmt.Errorf("%w: kubernetes: key %q changed meanwhile", tooz.ErrConflict, key)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: kubernetes: configmap %s deleted meanwhile", tooz.ErrKeyNotFound, cur.Name)
	case apierrors.IsConflict(err):
		return c.DeleteKey(ctx, key, w) // written meanwhile: delete what is there now
	}
	return translate(err)
}

// WatchKeys implements tooz.KVStore: a cmWatch of the namespace's keys,
// filtered by prefix, reported as the difference from what was shown.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	shown := map[string]uint64{} // key → revision
	w := &cmWatch{c: c, sel: c.kvSelector()}
	w.report = func(ctx context.Context, reset bool) {
		vis := w.visible(ctx, func(m *corev1.ConfigMap) bool {
			_, ok := shown[m.Annotations[annName]]
			return ok
		})
		now := make(map[string]uint64, len(vis))
		var kvs []tooz.KeyValue
		for _, m := range vis {
			kv := keyValueOf(m)
			if !strings.HasPrefix(kv.Key, prefix) {
				continue
			}
			now[kv.Key] = kv.Revision
			kvs = append(kvs, kv)
		}
		if reset {
			sink.Snapshot(kvs, w.rev)
		} else {
			for key := range shown {
				if _, ok := now[key]; !ok {
					sink.Deleted(key, w.rev)
				}
			}
			for _, kv := range kvs {
				if shown[kv.Key] != kv.Revision {
					sink.Put(kv)
				}
			}
		}
		shown = now
	}
	return w.start(ctx)
}
