package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// The bbolt file layout checkFile reads before bbolt maps the file: two meta pages at
// the start, each a 16-byte page header and then the meta (magic, version, page size,
// flags, root bucket, freelist, high-water page id, transaction id, FNV-64a checksum of
// the fields before it), little-endian on the machines cowbell runs on.
const (
	pageHeaderSize = 16
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	metaChecksumAt = 56 // offset of the checksum within the meta
	metaSize       = metaChecksumAt + 8
)

// meta0 is what checkFile needs of a meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // pages in use: the file must hold at least pgid*pageSize bytes
	txid     uint64
}

// readMeta reads and checks the meta at offset off of f.
func readMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("read meta page: %w", err)
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != metaMagic {
		return boltMeta{}, errors.New("meta page: not a bbolt file")
	}
	if le.Uint32(m[4:]) != metaVersion {
		return boltMeta{}, fmt.Errorf("meta page: version %d", le.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	if h.Sum64() != le.Uint64(m[metaChecksumAt:]) {
		return boltMeta{}, errors.New("meta page: checksum mismatch")
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// checkFile checks, without mapping it, that a store file is as long as its meta pages
// say. bbolt maps the file and trusts them: a file cut short faults the process on the
// first read past its end, which no recover catches. A missing or empty file is fine
// (Open creates it).
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	m0, err0 := readMeta(f, 0)
	var m1 boltMeta
	var err1 error
	if err0 == nil {
		m1, err1 = readMeta(f, int64(m0.pageSize))
	} else {
		err1 = err0
	}
	m := m0
	switch {
	case err0 != nil && err1 != nil:
		if errors.Is(err0, io.EOF) || errors.Is(err0, io.ErrUnexpectedEOF) {
			return errors.New("shorter than its meta pages")
		}
		return err0
	case err0 != nil || err1 == nil && m1.txid > m0.txid:
		m = m1
	}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return fmt.Errorf("meta page: page size %d", m.pageSize)
	}
	if m.pgid > uint64(fi.Size())/uint64(m.pageSize) { //nolint:gosec // a file's size is not negative; divided, no product to overflow
		return fmt.Errorf("cut short: %d bytes where its %d pages need %d", fi.Size(), m.pgid, m.pgid*uint64(m.pageSize))
	}
	return nil
}

// checkPages walks every page and bucket of the open store (bbolt's own consistency
// check), turning a panic on a damaged page into an error.
func (s *Store) checkPages() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	var errs []error
	err = s.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, e)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// Recovery says that OpenRecover found the store damaged and started afresh.
type Recovery struct {
	MovedTo string // where the damaged file now is
	Reason  error  // what was wrong with it
}

// OpenRecover is Open for the daemon: a store that is damaged (a file cut short, a
// damaged page, a file that is not a store) is moved aside, named with the time, and a
// fresh one started, so that cowbell comes up and watches; the Recovery says so, to be
// logged and exported. The moved file is kept for inspection, never deleted. A store
// locked by another process is still an error.
func OpenRecover(dir string, log *zap.Logger) (*Store, *Recovery, error) {
	s, err := Open(dir, log)
	if !errors.Is(err, ErrCorrupt) {
		return s, nil, err
	}
	path := pathIn(dir)
	moved := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if rerr := os.Rename(path, moved); rerr != nil {
		return nil, nil, fmt.Errorf("%w; moving it aside failed: %w", err, rerr)
	}
	log.Error("state store damaged: moved aside, starting afresh (cursors, queued notifications and open incidents in it are not carried over)",
		zap.String("path", path), zap.String("moved_to", moved), zap.Error(err))
	s, oerr := Open(dir, log)
	if oerr != nil {
		return nil, nil, oerr
	}
	return s, &Recovery{MovedTo: moved, Reason: err}, nil
}
