package state

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutcomeKind is what became of one delivery attempt.
type OutcomeKind int

// Outcomes.
const (
	// Delivered: the entry leaves the outbox.
	Delivered OutcomeKind = iota + 1
	// Postponed: one more failed attempt; tried again at Next.
	Postponed
	// Buried: hopeless; the entry moves to the dead letters with Err.
	Buried
)

// Outcome is what one attempt at pending entry Seq came to.
type Outcome struct {
	Seq  uint64
	Kind OutcomeKind
	Next time.Time // Postponed: when to try again
	Err  string    // Postponed, Buried: the attempt's error (the endpoint's answer)
}

// Settle records the outcomes of a round of attempts at a notifier's entries in one
// transaction (one fsync however many went out at once) and returns, in order, whether
// each entry was still there: one dropped by the bound meanwhile is not an error.
func (s *Store) Settle(notifier string, outs []Outcome) ([]bool, error) {
	found := make([]bool, len(outs))
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		removed = 0
		for i, o := range outs {
			ok, err := settle(tx, notifier, o)
			if err != nil {
				return fmt.Errorf("entry %d: %w", o.Seq, err)
			}
			found[i] = ok
			if ok && o.Kind != Postponed {
				removed++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settle outbox entries of %s in %s: %w", notifier, s.path, err)
	}
	s.addPending(notifier, -removed)
	return found, nil
}

// settle applies one outcome; ok is false when the entry is no longer pending.
func settle(tx *bolt.Tx, notifier string, o Outcome) (ok bool, err error) {
	bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
	if bk == nil {
		return false, nil
	}
	k := seqKey(o.Seq)
	v := bk.Get(k)
	if v == nil {
		return false, nil
	}
	switch o.Kind {
	case Delivered:
		return true, bk.Delete(k)
	case Postponed, Buried:
		e, err := decodeEntry(notifier, k, v, true)
		if err != nil {
			return false, err
		}
		e.Attempts++
		e.NextAttempt, e.LastError = o.Next, o.Err
		if o.Kind == Buried {
			e.NextAttempt = time.Time{}
		}
		if v, err = encodeEntry(e); err != nil {
			return false, err
		}
		if o.Kind == Postponed {
			return true, bk.Put(k, v)
		}
		dead, err := tx.Bucket(bucketDead).CreateBucketIfNotExists([]byte(notifier))
		if err != nil {
			return false, err
		}
		if err := dead.Put(k, v); err != nil {
			return false, err
		}
		return true, bk.Delete(k)
	}
	return false, fmt.Errorf("unknown outcome %d", o.Kind)
}

// Ack deletes a pending entry after its successful delivery. Entries are deleted only
// here (or dropped by Trim, or moved by Bury), so a restart resumes where delivery
// stopped.
func (s *Store) Ack(notifier string, seq uint64) error {
	return s.settleOne(notifier, Outcome{Seq: seq, Kind: Delivered}, "acknowledge")
}

// Postpone records a failed attempt of a pending entry: one more attempt, the error,
// and when to try again.
func (s *Store) Postpone(notifier string, seq uint64, next time.Time, lastErr string) error {
	return s.settleOne(notifier, Outcome{Seq: seq, Kind: Postponed, Next: next, Err: lastErr}, "postpone")
}

// Bury moves a pending entry to the notifier's dead letters, with the error that made
// delivery hopeless (the endpoint's answer).
func (s *Store) Bury(notifier string, seq uint64, lastErr string) error {
	return s.settleOne(notifier, Outcome{Seq: seq, Kind: Buried, Err: lastErr}, "dead-letter")
}

func (s *Store) settleOne(notifier string, o Outcome, what string) error {
	found, err := s.Settle(notifier, []Outcome{o})
	if err != nil {
		return err
	}
	if !found[0] {
		return fmt.Errorf("%s outbox entry %s/%d in %s: %w", what, notifier, o.Seq, s.path, ErrNoEntry)
	}
	return nil
}

// Trim enforces a notifier's outbox bound: while more than maxEntries are pending, or
// the oldest was queued more than maxAge before now, the oldest is dropped. A bound
// of zero or less is no bound. It returns what it dropped, oldest first. Its cost is
// that of what it drops: the count is kept, and only the head is read to learn its
// age.
func (s *Store) Trim(notifier string, maxEntries int, maxAge time.Duration, now time.Time) ([]Dropped, error) {
	var dropped []Dropped
	// Most calls drop nothing: looking first spares them a write transaction.
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		dropped, err = s.overBound(tx, notifier, maxEntries, maxAge, now)
		return err
	})
	if err == nil && len(dropped) > 0 {
		err = s.db.Update(func(tx *bolt.Tx) (err error) {
			if dropped, err = s.overBound(tx, notifier, maxEntries, maxAge, now); err != nil {
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
		if err == nil {
			s.addPending(notifier, -len(dropped))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("trim outbox of %s in %s: %w", notifier, s.path, err)
	}
	return dropped, nil
}

// overBound returns the oldest entries past the bound, oldest first, reading from the
// head only as far as it drops.
func (s *Store) overBound(tx *bolt.Tx, notifier string, maxEntries int, maxAge time.Duration, now time.Time) ([]Dropped, error) {
	bk := tx.Bucket(bucketOutbox).Bucket([]byte(notifier))
	if bk == nil {
		return nil, nil
	}
	n := s.Len(notifier)
	var dropped []Dropped
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		e, err := decodeEntry(notifier, k, v, false)
		if err != nil {
			break // Window sets it aside; until then the bound waits behind it
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
			if err := enqueue(tx, Delivery{Notifier: notifier, Key: e.Key, Status: e.Status, Incident: e.Incident}, now); err != nil {
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
		s.addPending(notifier, moved)
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
