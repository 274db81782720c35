package file

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fpSize is how many leading bytes make a file's fingerprint.
const fpSize = 64

// identity is a file's device and inode: what a rename keeps and a new file changes.
type identity struct{ dev, ino uint64 }

// identityOf returns the identity in a FileInfo from os.Stat or File.Stat.
func identityOf(fi os.FileInfo) identity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{}
	}
	return identity{dev: uint64(st.Dev), ino: st.Ino} //nolint:unconvert // Dev is not uint64 on every platform
}

// fingerprint is a hash of a file's first n bytes (n < fpSize while the file is short).
// It tells a new file that reuses an old inode, or a file rewritten in place, from
// the one a cursor was taken on.
type fingerprint struct {
	n   int
	sum uint64
}

// takeFingerprint hashes the first bytes of f, at most size of them.
func takeFingerprint(f *os.File, size int64) (fingerprint, error) {
	var b [fpSize]byte
	n, err := f.ReadAt(b[:min(size, fpSize)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fingerprint{}, fmt.Errorf("read fingerprint: %w", err)
	}
	return fingerprint{n: n, sum: hashBytes(b[:n])}, nil
}

// matches reports whether f still begins with the bytes fp was taken from.
func (fp fingerprint) matches(f *os.File) (bool, error) {
	if fp.n == 0 {
		return true, nil
	}
	var b [fpSize]byte
	n, err := f.ReadAt(b[:fp.n], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read fingerprint: %w", err)
	}
	return n == fp.n && hashBytes(b[:n]) == fp.sum, nil
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// filePos is one file's place in a cursor: which file, where it was found, and the
// offset after the last line sent from it. A stream's cursor lists the rotated files
// still being drained and then the current one.
type filePos struct {
	current bool
	id      identity
	fp      fingerprint
	path    string // the file's real path when it was read
	off     int64
	done    int64 // past off: the lines up to here were sent, a line from off was half joined
}

// posVersion starts every cursor this package writes.
const posVersion = "f1"

// appendPosHead appends all of an entry but its offset:
// <c|d>:<dev>:<ino>:<fp bytes>:<fp hash>:<path, query-escaped>: (then the offset).
func appendPosHead(b []byte, current bool, id identity, fp fingerprint, path string) []byte {
	if current {
		b = append(b, 'c')
	} else {
		b = append(b, 'd')
	}
	b = append(b, ':')
	b = strconv.AppendUint(b, id.dev, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, id.ino, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(fp.n), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, fp.sum, 16)
	b = append(b, ':')
	b = append(b, url.QueryEscape(path)...)
	return append(b, ':')
}

// encodePos makes the cursor text of positions ("f1;<entry>;<entry>").
func encodePos(ps []filePos) string {
	b := []byte(posVersion)
	for _, p := range ps {
		b = append(b, ';')
		b = appendPosHead(b, p.current, p.id, p.fp, p.path)
		b = appendOffset(b, p.off, p.done)
	}
	return string(b)
}

// appendOffset appends an entry's offset: "<off>", or "<off>+<done>" when a line
// from off was half joined and the lines up to done were sent.
func appendOffset(b []byte, off, done int64) []byte {
	b = strconv.AppendInt(b, off, 10)
	if done > off {
		b = append(b, '+')
		b = strconv.AppendInt(b, done, 10)
	}
	return b
}

// decodePos reads a cursor written by encodePos.
func decodePos(s string) ([]filePos, error) {
	parts := strings.Split(s, ";")
	if parts[0] != posVersion {
		return nil, fmt.Errorf("decode file cursor: unknown version %q", parts[0])
	}
	var ps []filePos
	for _, e := range parts[1:] {
		p, err := decodeEntry(e)
		if err != nil {
			return nil, fmt.Errorf("decode file cursor: %w", err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func decodeEntry(e string) (filePos, error) {
	f := strings.Split(e, ":")
	if len(f) != 7 || (f[0] != "c" && f[0] != "d") {
		return filePos{}, fmt.Errorf("malformed entry %q", e)
	}
	var p filePos
	var errs [7]error
	p.current = f[0] == "c"
	p.id.dev, errs[0] = strconv.ParseUint(f[1], 10, 64)
	p.id.ino, errs[1] = strconv.ParseUint(f[2], 10, 64)
	n, err := strconv.Atoi(f[3])
	p.fp.n, errs[2] = n, err
	p.fp.sum, errs[3] = strconv.ParseUint(f[4], 16, 64)
	p.path, errs[4] = url.QueryUnescape(f[5])
	off, done, joined := strings.Cut(f[6], "+")
	p.off, errs[5] = strconv.ParseInt(off, 10, 64)
	if joined {
		p.done, errs[6] = strconv.ParseInt(done, 10, 64)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return filePos{}, fmt.Errorf("entry %q: %w", e, err)
	}
	if p.fp.n < 0 || p.fp.n > fpSize || p.off < 0 || joined && p.done <= p.off {
		return filePos{}, fmt.Errorf("entry %q: out of range", e)
	}
	return p, nil
}
