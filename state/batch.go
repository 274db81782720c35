package state

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// Delivery is one notification to queue: the incident JSON (cowbell.incident/v1) for
// one notifier. Key and Status are the incident's key and status, kept beside the body
// for listing, and so that a receiver that sends the body as it is need not read it.
type Delivery struct {
	Notifier, Key string
	Status        string
	Incident      []byte
}

// Batch is what one Commit writes in a single transaction: the cursors past the lines
// that produced it, the incident states those lines changed, and the notifications
// they imply.
type Batch struct {
	Cursors    []sources.Cursor
	Incidents  []Record   // upserted by Key
	Forget     []string   // incident keys to delete (resolved)
	Deliveries []Delivery // appended to each notifier's outbox queue
}

// Record is one open incident's state as the incidents package encoded it; the store
// keeps it by key without reading it.
type Record struct {
	Key   string
	Value []byte
}

// Merge returns what committing b and then later would write, in one batch: the
// later cursor of each stream, each incident key's last upsert or forget, and the
// deliveries of both in order. A batch the store refused is merged with the next, so
// nothing of it is lost while the store cannot write.
func (b Batch) Merge(later Batch) Batch {
	out := Batch{Deliveries: append(slices.Clip(b.Deliveries), later.Deliveries...)}
	cursors := map[string]int{}
	for _, c := range append(slices.Clip(b.Cursors), later.Cursors...) {
		if i, ok := cursors[c.Stream]; ok {
			out.Cursors[i] = c
			continue
		}
		cursors[c.Stream] = len(out.Cursors)
		out.Cursors = append(out.Cursors, c)
	}
	// Each key's last word: a batch forgets before it upserts.
	last := map[string]*Record{}
	var order []string
	note := func(key string, r *Record) {
		if _, seen := last[key]; !seen {
			order = append(order, key)
		}
		last[key] = r
	}
	for _, x := range []Batch{b, later} {
		for _, k := range x.Forget {
			note(k, nil)
		}
		for i := range x.Incidents {
			note(x.Incidents[i].Key, &x.Incidents[i])
		}
	}
	for _, k := range order {
		if r := last[k]; r != nil {
			out.Incidents = append(out.Incidents, *r)
		} else {
			out.Forget = append(out.Forget, k)
		}
	}
	return out
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Cursors) == 0 && len(b.Incidents) == 0 && len(b.Forget) == 0 && len(b.Deliveries) == 0
}

// Commit writes the batch in one transaction: either all of it is on disk when Commit
// returns nil, or none of it. Queued deliveries wake everyone waiting on Updated.
func (s *Store) Commit(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit to state store: %w", err)
	}
	if b.Empty() {
		return nil
	}
	enqueued := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putCursors(tx, b.Cursors); err != nil {
			return err
		}
		if err := putIncidents(tx, b.Incidents, b.Forget); err != nil {
			return err
		}
		for i, d := range b.Deliveries {
			if err := enqueue(tx, d, enqueued); err != nil {
				return fmt.Errorf("delivery %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit to state store %s: %w", s.path, err)
	}
	if len(b.Deliveries) > 0 {
		for _, d := range b.Deliveries {
			s.addPending(d.Notifier, 1)
		}
		s.signal()
	}
	return nil
}

func putCursors(tx *bolt.Tx, cs []sources.Cursor) error {
	bk := tx.Bucket(bucketCursors)
	for _, c := range cs {
		if c.Stream == "" {
			return errors.New("cursor without a stream")
		}
		if err := bk.Put([]byte(c.Stream), c.AppendOffset([]byte(c.Pos))); err != nil {
			return fmt.Errorf("cursor %s: %w", c.Stream, err)
		}
	}
	return nil
}

// putIncidents deletes forgotten keys first, so a batch that resolves a key and opens
// it again (a new occurrence) keeps the new state.
func putIncidents(tx *bolt.Tx, recs []Record, forget []string) error {
	bk := tx.Bucket(bucketIncidents)
	for _, k := range forget {
		if k == "" {
			continue
		}
		if err := bk.Delete([]byte(k)); err != nil {
			return fmt.Errorf("forget incident %q: %w", k, err)
		}
	}
	for _, r := range recs {
		if r.Key == "" {
			return errors.New("incident state without a key")
		}
		if err := bk.Put([]byte(r.Key), r.Value); err != nil {
			return fmt.Errorf("store incident %q: %w", r.Key, err)
		}
	}
	return nil
}
