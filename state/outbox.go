package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one queued notification. Seq orders a notifier's queue: it only grows.
type Entry struct {
	Seq         uint64
	Notifier    string
	Key         string
	Incident    []byte // cowbell.incident/v1 JSON
	Enqueued    time.Time
	Attempts    int
	NextAttempt time.Time // zero: as soon as possible
	LastError   string    // the last failed attempt's error (for dead letters: the endpoint's answer)
}

// Drop reasons, as the dispatcher's metric labels them.
const (
	DropMaxEntries = "max_entries"
	DropMaxAge     = "max_age"
)

// Dropped is an entry Trim removed, and why. Its Incident is not loaded.
type Dropped struct {
	Entry  Entry
	Reason string // DropMaxEntries or DropMaxAge
}

// ErrNoEntry means an outbox entry is no longer there (dropped or acknowledged).
var ErrNoEntry = errors.New("no such outbox entry")

// record is an entry as stored; the notifier and seq are its place.
type record struct {
	Key         string          `json:"key"`
	Incident    json.RawMessage `json:"incident"`
	Enqueued    time.Time       `json:"enqueued"`
	Attempts    int             `json:"attempts,omitempty"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	LastError   string          `json:"last_error,omitempty"`
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeEntry(notifier string, k, v []byte, withBody bool) (Entry, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return Entry{}, fmt.Errorf("outbox %s: entry %x: %w", notifier, k, err)
	}
	e := Entry{
		Seq: binary.BigEndian.Uint64(k), Notifier: notifier, Key: r.Key, Enqueued: r.Enqueued,
		Attempts: r.Attempts, NextAttempt: r.NextAttempt, LastError: r.LastError,
	}
	if withBody {
		e.Incident = []byte(r.Incident)
	}
	return e, nil
}

func encodeEntry(e Entry) ([]byte, error) {
	return json.Marshal(record{
		Key: e.Key, Incident: e.Incident, Enqueued: e.Enqueued,
		Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError,
	})
}

// enqueue appends a delivery to its notifier's queue.
func enqueue(tx *bolt.Tx, d Delivery, at time.Time) error {
	if d.Notifier == "" {
		return errors.New("delivery without a notifier")
	}
	if !json.Valid(d.Incident) {
		return fmt.Errorf("notifier %s: incident %q is not JSON", d.Notifier, d.Key)
	}
	bk, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(d.Notifier))
	if err != nil {
		return fmt.Errorf("outbox %s: %w", d.Notifier, err)
	}
	seq, err := bk.NextSequence()
	if err != nil {
		return fmt.Errorf("outbox %s: %w", d.Notifier, err)
	}
	v, err := encodeEntry(Entry{Key: d.Key, Incident: d.Incident, Enqueued: at})
	if err != nil {
		return fmt.Errorf("outbox %s: encode %q: %w", d.Notifier, d.Key, err)
	}
	return bk.Put(seqKey(seq), v)
}

// Outbox returns a notifier's pending entries, oldest first.
func (s *Store) Outbox(notifier string) ([]Entry, error) {
	return s.list(bucketOutbox, notifier)
}

// DeadLetters returns a notifier's given-up entries, oldest first.
func (s *Store) DeadLetters(notifier string) ([]Entry, error) {
	return s.list(bucketDead, notifier)
}

func (s *Store) list(top []byte, notifier string) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(top).Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(notifier, k, v, true)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s of %s from %s: %w", top, notifier, s.path, err)
	}
	return out, nil
}

// Notifiers returns the names that have pending or dead entries, sorted.
func (s *Store) Notifiers() ([]string, error) {
	seen := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, top := range [][]byte{bucketOutbox, bucketDead} {
			err := tx.Bucket(top).ForEachBucket(func(name []byte) error {
				if k, _ := tx.Bucket(top).Bucket(name).Cursor().First(); k != nil {
					seen[string(name)] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list notifiers in %s: %w", s.path, err)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Head returns a notifier's oldest pending entry; ok is false when none is queued.
func (s *Store) Head(notifier string) (e Entry, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		k, v := bk.Cursor().First()
		if k == nil {
			return nil
		}
		e, err = decodeEntry(notifier, k, v, true)
		ok = err == nil
		return err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("read outbox of %s from %s: %w", notifier, s.path, err)
	}
	return e, ok, nil
}

// Len returns how many entries a notifier has pending.
func (s *Store) Len(notifier string) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier)); bk != nil {
			c := bk.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count outbox of %s in %s: %w", notifier, s.path, err)
	}
	return n, nil
}
