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
	"time"

	"golang.org/x/sys/unix"
)

// fpSize is how many leading bytes make a file's fingerprint, and how many bytes an
// anchor hashes.
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

// birthOf returns an open file's birth time in nanoseconds since the epoch (statx
// btime), or 0 where the filesystem does not keep one. A file that reuses a deleted
// file's inode has another birth time.
func birthOf(f *os.File) int64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var stx unix.Statx_t
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx)
	}); err != nil || serr != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*int64(time.Second) + int64(stx.Btime.Nsec)
}

// sameBirth reports whether two birth times may belong to one file: equal, or one
// of them unknown.
func sameBirth(a, b int64) bool { return a == 0 || b == 0 || a == b }

// fingerprint is a hash of a file's first n bytes (n < fpSize while the file is short).
// It tells a new file that reuses an old inode, or a file rewritten in place, from
// the one a cursor was taken on.
type fingerprint struct {
	n   int
	sum uint64
}

// takeFingerprint hashes the first bytes of r, at most size of them.
func takeFingerprint(r io.ReaderAt, size int64) (fingerprint, error) {
	var b [fpSize]byte
	n, err := r.ReadAt(b[:min(size, fpSize)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fingerprint{}, fmt.Errorf("read fingerprint: %w", err)
	}
	return fingerprint{n: n, sum: hashBytes(b[:n])}, nil
}

// extend returns fp taken again over r's first size bytes (up to fpSize), when they
// still begin with the bytes fp was taken from (an empty fp holds for any); ok is false
// when they do not (the file was rewritten in place since).
func (fp fingerprint) extend(r io.ReaderAt, size int64) (next fingerprint, ok bool, err error) {
	var b [fpSize]byte
	n, err := r.ReadAt(b[:min(size, fpSize)], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fp, false, fmt.Errorf("read fingerprint: %w", err)
	}
	if fp.n > 0 && (n < fp.n || hashBytes(b[:fp.n]) != fp.sum) {
		return fp, false, nil
	}
	return fingerprint{n: n, sum: hashBytes(b[:n])}, true, nil
}

// matches reports whether r still begins with the bytes fp was taken from.
func (fp fingerprint) matches(r io.ReaderAt) (bool, error) {
	if fp.n == 0 {
		return true, nil
	}
	var b [fpSize]byte
	n, err := r.ReadAt(b[:fp.n], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read fingerprint: %w", err)
	}
	return n == fp.n && hashBytes(b[:n]) == fp.sum, nil
}

// anchor is a hash of the n bytes that end at offset end: the last bytes read of a
// file. With the fingerprint it tells the file a cursor was taken on from another
// that begins the same way (a constant banner line), and finds where that file's
// content went (a copy, a compressed generation).
type anchor struct {
	end int64
	n   int
	sum uint64
}

// anchorOf hashes the last bytes of b, which ends at file offset end.
func anchorOf(b []byte, end int64) anchor {
	b = b[max(0, len(b)-fpSize):]
	return anchor{end: end, n: len(b), sum: hashBytes(b)}
}

// takeAnchor hashes the bytes of r before end.
func takeAnchor(r io.ReaderAt, end int64) (anchor, error) {
	var b [fpSize]byte
	n := min(end, fpSize)
	if _, err := r.ReadAt(b[:n], end-n); err != nil {
		return anchor{}, fmt.Errorf("read anchor: %w", err)
	}
	return anchorOf(b[:n], end), nil
}

// matches reports whether r holds the bytes a was taken from.
func (a anchor) matches(r io.ReaderAt) bool {
	if a.n == 0 {
		return true
	}
	var b [fpSize]byte
	n, err := r.ReadAt(b[:a.n], a.end-int64(a.n))
	if n < a.n || err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	return hashBytes(b[:n]) == a.sum
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
	birth   int64 // statx birth time, 0 unknown
	fp      fingerprint
	at      anchor // the last bytes read; end 0: unknown
	path    string // the file's real path when it was read; "" in a cursor: the stream's path
	off     int64
	done    int64 // past off: the lines up to here were sent, a line from off was half joined
	// read is when the bytes up to the anchor's end were read: the time plain lines
	// without a stamp of their own had, given again to those a restart reads again.
	read time.Time
}

// Cursor versions: f1 (identity, fingerprint, path, offset) is still read; f2 adds the
// birth time, the anchor and the read time.
const (
	posV1      = "f1"
	posVersion = "f2"
)

// appendPosHead appends all of an entry but its offset:
// <c|d>:<dev>:<ino>:<birth, hex ns>:<fp bytes>:<fp hash>:<anchor end>:<anchor bytes>:<anchor hash>:<read, hex ns>:<path, escaped>: (then the offset).
func appendPosHead(b []byte, p *filePos) []byte {
	if p.current {
		b = append(b, 'c')
	} else {
		b = append(b, 'd')
	}
	b = append(b, ':')
	b = strconv.AppendUint(b, p.id.dev, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, p.id.ino, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.birth, 16)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(p.fp.n), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, p.fp.sum, 16)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.at.end, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(p.at.n), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, p.at.sum, 16)
	b = append(b, ':')
	var ns int64
	if !p.read.IsZero() {
		ns = p.read.UnixNano()
	}
	b = strconv.AppendInt(b, ns, 16)
	b = append(b, ':')
	b = appendEscaped(b, p.path)
	return append(b, ':')
}

// appendEscaped appends path with the bytes that separate a cursor's parts (and the
// escape itself) written as %XX; url.PathUnescape reads it back.
func appendEscaped(b []byte, path string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', ':', ';':
			b = append(b, '%', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// encodePos makes the cursor text of positions ("f2;<entry>;<entry>").
func encodePos(ps []filePos) string {
	b := []byte(posVersion)
	for i := range ps {
		b = append(b, ';')
		b = appendPosHead(b, &ps[i])
		b = appendOffset(b, ps[i].off, ps[i].done)
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

// decodePos reads a cursor written by encodePos, or by the f1 version before it.
func decodePos(s string) ([]filePos, error) {
	parts := strings.Split(s, ";")
	if parts[0] != posVersion && parts[0] != posV1 {
		return nil, fmt.Errorf("decode file cursor: unknown version %q", parts[0])
	}
	var ps []filePos
	for _, e := range parts[1:] {
		p, err := decodeEntry(e, parts[0] == posV1)
		if err != nil {
			return nil, fmt.Errorf("decode file cursor: %w", err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func decodeEntry(e string, v1 bool) (filePos, error) {
	f := strings.Split(e, ":")
	if v1 && len(f) == 7 {
		// f1: <c|d>:<dev>:<ino>:<fp bytes>:<fp hash>:<path>:<off>
		f = []string{f[0], f[1], f[2], "0", f[3], f[4], "0", "0", "0", "0", f[5], f[6]}
	}
	if len(f) != 12 || (f[0] != "c" && f[0] != "d") {
		return filePos{}, fmt.Errorf("malformed entry %q", e)
	}
	var p filePos
	var errs [11]error
	var n, an int64
	var ns int64
	p.current = f[0] == "c"
	p.id.dev, errs[0] = strconv.ParseUint(f[1], 10, 64)
	p.id.ino, errs[1] = strconv.ParseUint(f[2], 10, 64)
	base := 16 // f2 writes times in hex, f1 had none
	if v1 {
		base = 10
	}
	p.birth, errs[2] = strconv.ParseInt(f[3], base, 64)
	n, errs[3] = strconv.ParseInt(f[4], 10, 64)
	p.fp.n = int(n)
	p.fp.sum, errs[4] = strconv.ParseUint(f[5], 16, 64)
	p.at.end, errs[5] = strconv.ParseInt(f[6], 10, 64)
	an, errs[6] = strconv.ParseInt(f[7], 10, 64)
	p.at.n = int(an)
	p.at.sum, errs[7] = strconv.ParseUint(f[8], 16, 64)
	ns, errs[8] = strconv.ParseInt(f[9], base, 64)
	if ns > 0 {
		p.read = time.Unix(0, ns)
	}
	if v1 {
		p.path, errs[9] = url.QueryUnescape(f[10])
	} else {
		p.path, errs[9] = url.PathUnescape(f[10])
	}
	off, done, joined := strings.Cut(f[11], "+")
	p.off, errs[10] = strconv.ParseInt(off, 10, 64)
	var derr error
	if joined {
		p.done, derr = strconv.ParseInt(done, 10, 64)
	}
	if err := errors.Join(append(errs[:], derr)...); err != nil {
		return filePos{}, fmt.Errorf("entry %q: %w", e, err)
	}
	if p.fp.n < 0 || p.fp.n > fpSize || p.off < 0 || joined && p.done <= p.off ||
		p.at.n < 0 || p.at.n > fpSize || int64(p.at.n) > p.at.end || p.at.end < 0 {
		return filePos{}, fmt.Errorf("entry %q: out of range", e)
	}
	return p, nil
}
