// Package state is cowbell's embedded store: source cursors, the per-notifier outbox
// (pending and dead-lettered notifications), open incidents and the small maps receivers
// keep across restarts. Everything lives in one bbolt file, <dir>/cowbell.db, so that
// "queue these notifications and move the cursor past their line" is one transaction:
// a crash can repeat work, never lose it.
package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// FileName is the store's file inside the state directory.
const FileName = "cowbell.db"

// ErrLocked means another process holds the store open.
var ErrLocked = errors.New("state store is locked by another process")

// ErrCorrupt means the store file is not a readable bbolt database.
var ErrCorrupt = errors.New("state store is corrupt")

// Top-level buckets. The outbox, dead and damaged buckets hold one sub-bucket per
// notifier, kv one per namespace. damaged keeps, as they were, queued entries that
// could not be read: set aside, not deleted, so one bad record neither stops delivery
// nor vanishes unseen.
var (
	bucketCursors   = []byte("cursors")
	bucketIncidents = []byte("incidents")
	bucketOutbox    = []byte("outbox")
	bucketDead      = []byte("dead")
	bucketKV        = []byte("kv")
	bucketDamaged   = []byte("damaged")
)

// lockTimeout is how long Open waits for another process to release the file lock.
var lockTimeout = 2 * time.Second

// Store is the open state store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	log  *zap.Logger
	now  func() time.Time

	mu      sync.Mutex
	updated chan struct{}  // closed and replaced when deliveries are queued
	pending map[string]int // entries queued per notifier, counted at Open and kept since
}

// Open opens (creating if needed) the store in dir, which is created with mode 0700.
// A store held by another process is an error wrapping ErrLocked once the lock
// timeout passes; a damaged store (a file that is not one, cut short, or with a
// damaged page: every page is checked) is an error wrapping ErrCorrupt. Both name the
// file: Open never resets a store (OpenRecover moves a damaged one aside).
func Open(dir string, log *zap.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	path := pathIn(dir)
	if err := checkFile(path); err != nil {
		return nil, fmt.Errorf("open state store %s: %w: %w", path, ErrCorrupt, err)
	}
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, log: log, now: time.Now, updated: make(chan struct{}), pending: map[string]int{}}
	if err := s.checkPages(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state store %s: %w: %w", path, ErrCorrupt, err)
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	log.Info("state store opened", zap.String("path", path))
	return s, nil
}

func pathIn(dir string) string { return filepath.Join(dir, FileName) }

// openBolt opens the file, turning bbolt's errors (and its panics on a damaged file)
// into errors that name the path and say what to do.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("open state store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open state store %s: %w (waited %s)", path, ErrLocked, lockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("open state store %s: %w: %w (move it aside to start afresh)", path, ErrCorrupt, err)
	}
	return nil, fmt.Errorf("open state store %s: %w", path, err)
}

// init creates the top-level buckets, and reads every one so a damaged file fails
// here rather than later.
func (s *Store) init() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open state store %s: %w: %v", s.path, ErrCorrupt, r)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketCursors, bucketIncidents, bucketOutbox, bucketDead, bucketKV, bucketDamaged} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// Count each queue once, so that no delivery has to count it again.
		outbox := tx.Bucket(bucketOutbox)
		return outbox.ForEachBucket(func(name []byte) error {
			s.pending[string(name)] = outbox.Bucket(name).Stats().KeyN
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("open state store %s: %w", s.path, err)
	}
	return nil
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }

// Close closes the store; the file lock is released.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.path, err)
	}
	return nil
}

// Load returns the saved position of a stream; ok is false for a stream never saved.
// It implements sources.Checkpoints.
func (s *Store) Load(ctx context.Context, stream string) (pos string, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("load cursor %s: %w", stream, err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCursors).Get([]byte(stream)); v != nil {
			pos, ok = string(v), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("load cursor %s: %w", stream, err)
	}
	return pos, ok, nil
}

// Save stores positions on their own, in one transaction (a source records where
// the streams it found begin). Lines that queue notifications move their cursor
// through Commit instead. It implements sources.Checkpoints.
func (s *Store) Save(ctx context.Context, cs ...sources.Cursor) error {
	return s.Commit(ctx, Batch{Cursors: cs})
}

// Incidents returns every stored incident record, ordered by key.
func (s *Store) Incidents(ctx context.Context) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			out = append(out, Record{Key: string(k), Value: bytes.Clone(v)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read incidents from %s: %w", s.path, err)
	}
	return out, nil
}

// Updated returns a channel that is closed the next time notifications are queued (by
// Commit or Requeue). Take it before reading the outbox so no wake-up is missed.
func (s *Store) Updated() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updated
}

// addPending adds n (which may be negative) to a notifier's count of queued entries.
func (s *Store) addPending(notifier string, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.pending[notifier] += n
	s.mu.Unlock()
}

// Len returns how many entries a notifier has pending. It reads no page: the store
// keeps the count.
func (s *Store) Len(notifier string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[notifier]
}

// signal wakes everyone waiting on Updated.
func (s *Store) signal() {
	s.mu.Lock()
	close(s.updated)
	s.updated = make(chan struct{})
	s.mu.Unlock()
}
