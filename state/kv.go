package state

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// KV is a small durable map in one namespace of the store (a receiver's thread ids,
// keyed by incident key). It satisfies notifiers.KV.
type KV struct {
	s  *Store
	ns []byte
}

// KV returns the map of a namespace (by convention the notifier's name). The namespace
// is created on the first Put.
func (s *Store) KV(namespace string) *KV {
	return &KV{s: s, ns: []byte(namespace)}
}

// Get returns the value of key; ok is false when it is not set.
func (kv *KV) Get(key string) (val string, ok bool, err error) {
	err = kv.s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket(kv.ns)
		if bk == nil {
			return nil
		}
		if v := bk.Get([]byte(key)); v != nil {
			val, ok = string(v), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read %s/%s from %s: %w", kv.ns, key, kv.s.path, err)
	}
	return val, ok, nil
}

// Put sets key to val.
func (kv *KV) Put(key, val string) error {
	if key == "" {
		return fmt.Errorf("store in %s: %w", kv.ns, errors.New("empty key"))
	}
	err := kv.s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.Bucket(bucketKV).CreateBucketIfNotExists(kv.ns)
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), []byte(val))
	})
	if err != nil {
		return fmt.Errorf("store %s/%s in %s: %w", kv.ns, key, kv.s.path, err)
	}
	return nil
}

// Delete removes key; deleting a key that is not set is not an error.
func (kv *KV) Delete(key string) error {
	err := kv.s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKV).Bucket(kv.ns)
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("delete %s/%s from %s: %w", kv.ns, key, kv.s.path, err)
	}
	return nil
}
