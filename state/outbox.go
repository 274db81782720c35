package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Entry is one queued notification. Seq orders a notifier's queue: it only grows.
type Entry struct {
	Seq         uint64
	Notifier    string
	Key         string
	Status      string // the incident's status ("" in entries older releases queued)
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

// An entry is stored as a version byte, the length of its metadata (uvarint), the
// metadata as JSON and the incident's JSON as it was queued:
//
//	0x01 <uvarint n> <n bytes of meta JSON> <incident JSON>
//
// so that choosing the next entries reads the metadata without scanning the bodies.
// Entries an older release wrote are one JSON object (record) and are still read.
const entryV1 = 0x01

// meta is an entry's metadata: everything but its incident.
type meta struct {
	Key         string    `json:"key"`
	Status      string    `json:"status,omitempty"`
	Enqueued    time.Time `json:"enqueued"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// record is an entry as an older release stored it: one JSON object.
type record struct {
	Key         string          `json:"key"`
	Incident    json.RawMessage `json:"incident"`
	Enqueued    time.Time       `json:"enqueued"`
	Attempts    int             `json:"attempts,omitempty"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	LastError   string          `json:"last_error,omitempty"`
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// errBadEntry is a stored entry that cannot be read.
var errBadEntry = errors.New("not an outbox entry")

func decodeEntry(notifier string, k, v []byte, withBody bool) (Entry, error) {
	m, body, err := splitEntry(v)
	if err != nil {
		return Entry{}, fmt.Errorf("outbox %s: entry %x: %w", notifier, k, err)
	}
	e := Entry{
		Seq: binary.BigEndian.Uint64(k), Notifier: notifier, Key: m.Key, Status: m.Status, Enqueued: m.Enqueued,
		Attempts: m.Attempts, NextAttempt: m.NextAttempt, LastError: m.LastError,
	}
	if withBody {
		e.Incident = bytes.Clone(body)
	}
	return e, nil
}

// splitEntry reads a stored entry's metadata and finds its body (a slice of v).
func splitEntry(v []byte) (m meta, body []byte, err error) {
	if len(v) > 0 && v[0] == entryV1 {
		n, w := binary.Uvarint(v[1:])
		if w <= 0 || n > uint64(len(v)-1-w) { //nolint:gosec // w ≤ len(v)-1: Uvarint read it from v[1:]
			return meta{}, nil, errBadEntry
		}
		end := 1 + w + int(n) //nolint:gosec // n ≤ len(v), checked above
		if err := json.Unmarshal(v[1+w:end], &m); err != nil {
			return meta{}, nil, err
		}
		return m, v[end:], nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return meta{}, nil, err
	}
	return meta{Key: r.Key, Enqueued: r.Enqueued, Attempts: r.Attempts, NextAttempt: r.NextAttempt, LastError: r.LastError}, r.Incident, nil
}

func encodeEntry(e Entry) ([]byte, error) {
	head, err := json.Marshal(meta{
		Key: e.Key, Status: e.Status, Enqueued: e.Enqueued, Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError,
	})
	if err != nil {
		return nil, err
	}
	v := make([]byte, 0, 1+binary.MaxVarintLen64+len(head)+len(e.Incident))
	v = append(v, entryV1)
	v = binary.AppendUvarint(v, uint64(len(head))) //nolint:gosec // a length: not negative
	v = append(v, head...)
	return append(v, e.Incident...), nil
}

// enqueue appends a delivery to its notifier's queue.
func enqueue(tx *bolt.Tx, d Delivery, at time.Time) error {
	if d.Notifier == "" {
		return errors.New("delivery without a notifier")
	}
	// The bodies are json.Marshal's (checking each with json.Valid cost as much as
	// encoding it); what is checked is that one is an object at all.
	if len(d.Incident) < 2 || d.Incident[0] != '{' || d.Incident[len(d.Incident)-1] != '}' {
		return fmt.Errorf("notifier %s: incident %q is not a JSON object", d.Notifier, d.Key)
	}
	bk, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(d.Notifier))
	if err != nil {
		return fmt.Errorf("outbox %s: %w", d.Notifier, err)
	}
	seq, err := bk.NextSequence()
	if err != nil {
		return fmt.Errorf("outbox %s: %w", d.Notifier, err)
	}
	v, err := encodeEntry(Entry{Key: d.Key, Status: d.Status, Incident: d.Incident, Enqueued: at})
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
				s.log.Warn("stored notification cannot be read, left out", zap.Error(err))
				return nil
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
	es, err := s.Window(notifier, 1)
	if err == nil {
		es, err = s.Fill(notifier, es)
	}
	if err != nil || len(es) == 0 {
		return Entry{}, false, err
	}
	return es[0], true, nil
}

// Window returns a notifier's oldest pending entries, at most limit, oldest first,
// without their incidents (Fill loads those of the entries chosen). It reads only
// those entries.
func (s *Store) Window(notifier string, limit int) ([]Entry, error) {
	return s.WindowSkip(notifier, limit, nil)
}

// WindowSkip is Window passing over, unread and uncounted, the entries whose seq skip
// reports (those a caller has in hand already); skip may be nil.
func (s *Store) WindowSkip(notifier string, limit int, skip func(seq uint64) bool) ([]Entry, error) {
	var out []Entry
	var bad [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		out, bad = out[:0], bad[:0]
		bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			if skip != nil && len(k) == 8 && skip(binary.BigEndian.Uint64(k)) {
				continue
			}
			e, err := decodeEntry(notifier, k, v, false)
			if err != nil {
				s.log.Error("queued notification cannot be read: set aside", zap.String("notifier", notifier), zap.Error(err))
				bad = append(bad, bytes.Clone(k))
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err == nil && len(bad) > 0 {
		err = s.setAside(notifier, bad)
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s from %s: %w", notifier, s.path, err)
	}
	return out, nil
}

// setAside moves queued entries that cannot be read to the damaged bucket, as they
// were.
func (s *Store) setAside(notifier string, keys [][]byte) error {
	moved := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		moved = 0
		bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		damaged, err := tx.Bucket(bucketDamaged).CreateBucketIfNotExists([]byte(notifier))
		if err != nil {
			return err
		}
		for _, k := range keys {
			v := bk.Get(k)
			if v == nil {
				continue
			}
			if err := damaged.Put(k, bytes.Clone(v)); err != nil {
				return err
			}
			if err := bk.Delete(k); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set aside damaged entries: %w", err)
	}
	s.addPending(notifier, -moved)
	return nil
}

// Damaged returns how many queued entries of a notifier were set aside as unreadable.
func (s *Store) Damaged(notifier string) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(bucketDamaged).Bucket([]byte(notifier)); bk != nil {
			n = bk.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count damaged entries of %s in %s: %w", notifier, s.path, err)
	}
	return n, nil
}

// Fill loads the incidents of entries Window returned. An entry no longer pending
// (dropped by the bound meanwhile) is left out of the result.
func (s *Store) Fill(notifier string, es []Entry) ([]Entry, error) {
	out := es[:0]
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		for _, e := range es {
			k := seqKey(e.Seq)
			v := bk.Get(k)
			if v == nil {
				continue
			}
			full, err := decodeEntry(notifier, k, v, true)
			if err != nil {
				return err
			}
			out = append(out, full)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s from %s: %w", notifier, s.path, err)
	}
	return out, nil
}
