package state

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Ack deletes a pending entry after its successful delivery. Entries are deleted only
// here (or dropped by Trim, or moved by Bury), so a restart resumes where delivery
// stopped.
func (s *Store) Ack(notifier string, seq uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
		if bk == nil || bk.Get(seqKey(seq)) == nil {
			return ErrNoEntry
		}
		return bk.Delete(seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("acknowledge outbox entry %s/%d in %s: %w", notifier, seq, s.path, err)
	}
	return nil
}

// Postpone records a failed attempt of a pending entry: one more attempt, the error,
// and when to try again.
func (s *Store) Postpone(notifier string, seq uint64, next time.Time, lastErr string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk, k, v, err := countAttempt(tx, notifier, seq, next, lastErr)
		if err != nil {
			return err
		}
		return bk.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("postpone outbox entry %s/%d in %s: %w", notifier, seq, s.path, err)
	}
	return nil
}

// Bury moves a pending entry to the notifier's dead letters, with the error that made
// delivery hopeless (the endpoint's answer).
func (s *Store) Bury(notifier string, seq uint64, lastErr string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk, k, v, err := countAttempt(tx, notifier, seq, time.Time{}, lastErr)
		if err != nil {
			return err
		}
		dead, err := tx.Bucket(bucketDead).CreateBucketIfNotExists([]byte(notifier))
		if err != nil {
			return err
		}
		if err := dead.Put(k, v); err != nil {
			return err
		}
		return bk.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("dead-letter outbox entry %s/%d in %s: %w", notifier, seq, s.path, err)
	}
	return nil
}

// countAttempt records one more failed attempt of pending entry seq of notifier, with
// its error and the next attempt's time, and returns the outbox bucket, the entry's
// key and its new value for the caller to store.
func countAttempt(tx *bolt.Tx, notifier string, seq uint64, next time.Time, lastErr string) (bk *bolt.Bucket, k, v []byte, err error) {
	bk = tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
	if bk == nil {
		return nil, nil, nil, ErrNoEntry
	}
	k = seqKey(seq)
	if v = bk.Get(k); v == nil {
		return nil, nil, nil, ErrNoEntry
	}
	e, err := decodeEntry(notifier, k, v, true)
	if err != nil {
		return nil, nil, nil, err
	}
	e.Attempts++
	e.NextAttempt, e.LastError = next, lastErr
	if v, err = encodeEntry(e); err != nil {
		return nil, nil, nil, err
	}
	return bk, k, v, nil
}

// Trim enforces a notifier's outbox bound: while more than maxEntries are pending, or
// the oldest was queued more than maxAge before now, the oldest is dropped. A bound
// of zero or less is no bound. It returns what it dropped, oldest first.
func (s *Store) Trim(notifier string, maxEntries int, maxAge time.Duration, now time.Time) ([]Dropped, error) {
	var dropped []Dropped
	// Most calls drop nothing: looking first spares them a write transaction.
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		dropped, err = overBound(tx, notifier, maxEntries, maxAge, now)
		return err
	})
	if err == nil && len(dropped) > 0 {
		err = s.db.Update(func(tx *bolt.Tx) (err error) {
			if dropped, err = overBound(tx, notifier, maxEntries, maxAge, now); err != nil {
				return err
			}
			bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
			for _, d := range dropped {
				if err := bk.Delete(seqKey(d.Entry.Seq)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("trim outbox of %s in %s: %w", notifier, s.path, err)
	}
	return dropped, nil
}

// overBound returns the oldest entries past the bound, oldest first.
func overBound(tx *bolt.Tx, notifier string, maxEntries int, maxAge time.Duration, now time.Time) ([]Dropped, error) {
	bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
	if bk == nil {
		return nil, nil
	}
	n := 0
	if maxEntries > 0 {
		n = bk.Stats().KeyN
	}
	var dropped []Dropped
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := decodeEntry(notifier, k, v, false)
		if err != nil {
			return nil, err
		}
		reason := ""
		switch {
		case maxEntries > 0 && n-len(dropped) > maxEntries:
			reason = DropMaxEntries
		case maxAge > 0 && now.Sub(e.Enqueued) > maxAge:
			reason = DropMaxAge
		}
		if reason == "" {
			break
		}
		dropped = append(dropped, Dropped{Entry: e, Reason: reason})
	}
	return dropped, nil
}

// Requeue moves every dead letter of a notifier back to the end of its queue, with
// its attempts reset and queued now, and returns how many it moved.
func (s *Store) Requeue(notifier string) (int, error) {
	moved, now := 0, s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		moved = 0
		dead := tx.Bucket(bucketDead).Bucket([]byte(notifier))
		if dead == nil {
			return nil
		}
		var entries []Entry
		err := dead.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(notifier, k, v, true)
			entries = append(entries, e)
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := enqueue(tx, Delivery{Notifier: notifier, Key: e.Key, Incident: e.Incident}, now); err != nil {
				return err
			}
			if err := dead.Delete(seqKey(e.Seq)); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("requeue dead letters of %s in %s: %w", notifier, s.path, err)
	}
	if moved > 0 {
		s.signal()
	}
	return moved, nil
}

// Purge deletes every dead letter of a notifier and returns how many it deleted.
func (s *Store) Purge(notifier string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		dead := tx.Bucket(bucketDead)
		bk := dead.Bucket([]byte(notifier))
		if bk == nil {
			return nil
		}
		n = bk.Stats().KeyN
		return dead.DeleteBucket([]byte(notifier))
	})
	if err != nil {
		return 0, fmt.Errorf("purge dead letters of %s in %s: %w", notifier, s.path, err)
	}
	return n, nil
}
