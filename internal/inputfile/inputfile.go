// Package inputfile reads the files a person hands cowbell (its configuration, rule
// files, secrets, logs to replay) without letting one of them hang or swamp it: a FIFO
// or a device is refused instead of blocking or never ending, and a file larger than
// its kind can be is refused, naming its size.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular means the path is not a regular file (a FIFO, a device, a socket, a
// directory).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge means the file is larger than its kind may be.
var ErrTooLarge = errors.New("too large")

// Open opens path for reading if it is a regular file. It opens without blocking (a
// FIFO put in the file's place between a check and the open cannot hold the caller)
// and checks the type of what it opened.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Kind(fi.Mode()))
	}
	// Reads of a regular file never block; back to ordinary blocking reads.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Read reads a regular file of at most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than %d", path, ErrTooLarge, fi.Size(), limit)
	}
	// The size may grow while it is read: read no more than the limit either way.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	return b, nil
}

// Kind names what a file that is not a regular file is: "a FIFO", "a device", "a
// socket", "a directory", else its type letters.
func Kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}
