package file

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// content is what a file is read through: the open file itself, or the decompressed
// bytes of a rotated generation that was compressed.
type content interface {
	io.ReaderAt
	Stat() (os.FileInfo, error)
	Close() error
}

var _ content = (*os.File)(nil)

// decompressors read the compressed generations rotation leaves (logrotate's
// compress, kubelet, Docker's compress option), by file name suffix. Other suffixes in
// compressedSuffixes are left alone.
var decompressors = map[string]func(io.Reader) (io.Reader, error){
	".gz":  func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	".bz2": func(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil },
}

// decompressorFor returns how to read a file whose name says it is compressed, or nil.
func decompressorFor(path string) func(io.Reader) (io.Reader, error) {
	for suffix, d := range decompressors {
		if strings.HasSuffix(path, suffix) {
			return d
		}
	}
	return nil
}

// decompressed is a compressed generation read as the log it holds. It is read from
// the beginning to the end, once: a read at an offset before the last one starts
// decompressing again; one after it skips forward. The first bytes are kept for
// fingerprints.
type decompressed struct {
	f     *os.File
	open  func(io.Reader) (io.Reader, error)
	r     io.Reader
	pos   int64
	head  []byte // the first fpSize bytes (fewer: the whole content)
	whole bool   // head is all of it
}

// openDecompressed opens a compressed generation; it fails when the file does not
// decompress (not what its name says, or cut off before its first bytes).
func openDecompressed(f *os.File, open func(io.Reader) (io.Reader, error)) (*decompressed, error) {
	d := &decompressed{f: f, open: open}
	if err := d.rewind(); err != nil {
		return nil, err
	}
	head := make([]byte, fpSize)
	n, err := io.ReadFull(d.r, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		d.whole = true
	case err != nil:
		return nil, fmt.Errorf("decompress %s: %w", f.Name(), err)
	}
	d.head, d.pos = head[:n], int64(n)
	return d, nil
}

// rewind starts decompressing from the beginning.
func (d *decompressed) rewind() error {
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("decompress %s: %w", d.f.Name(), err)
	}
	r, err := d.open(bufio.NewReaderSize(d.f, 64<<10))
	if err != nil {
		return fmt.Errorf("decompress %s: %w", d.f.Name(), err)
	}
	d.r, d.pos = r, 0
	return nil
}

// ReadAt reads decompressed bytes at off. A short read is io.EOF at the end of the
// content (or of what could be decompressed: a generation still being written).
func (d *decompressed) ReadAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end <= int64(len(d.head)) || d.whole && off <= int64(len(d.head)) {
		n := copy(p, d.head[min(off, int64(len(d.head))):])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if off < d.pos {
		if err := d.rewind(); err != nil {
			return 0, err
		}
	}
	if off > d.pos {
		n, err := io.CopyN(io.Discard, d.r, off-d.pos)
		d.pos += n
		if err != nil {
			return 0, d.end(err)
		}
	}
	n, err := io.ReadFull(d.r, p)
	d.pos += int64(n)
	if err != nil {
		return n, d.end(err)
	}
	return n, nil
}

// end turns the end of the compressed stream, or a stream cut short, into io.EOF.
func (d *decompressed) end(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return fmt.Errorf("decompress %s: %w", d.f.Name(), err)
}

// Stat returns the compressed file's information.
func (d *decompressed) Stat() (os.FileInfo, error) { return d.f.Stat() }

// Close closes the compressed file.
func (d *decompressed) Close() error { return d.f.Close() }
