package sources

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// MaxLineBytes is the longest line a reader passes on; longer lines are cut to it,
// counted in LinesCut and marked with the label cut="true".
const MaxLineBytes = 64 << 10

// StdinStream is the stream name of lines read from standard input.
const StdinStream = "-"

// Reader is a Source over a plain stream of lines such as standard input. It has no
// position: a restart cannot resume it, so lines carry a cursor with Pos "".
type Reader struct {
	name string
	r    io.Reader
	now  func() time.Time
	st   *Stream // sends the lines; no position is stored

	cut, bytes prometheus.Counter
}

var _ Source = (*Reader)(nil)

// deadliner is what os.File (for pipes and terminals) and net.Conn offer to interrupt a
// blocked read.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// NewReader returns a Source reading lines from r. Each line's Time is the time it was
// read. Lines longer than MaxLineBytes are cut. A nil m counts into unregistered metrics.
//
// When ctx is done a blocked read is interrupted if r has SetReadDeadline (an *os.File
// over a pipe, a net.Conn); otherwise Run returns after the read in progress returns.
func NewReader(name string, r io.Reader, m *Metrics) Source {
	if m == nil {
		m = NewMetrics(nil)
	}
	st, _, _, _ := NewPositions(name, nil, m).Resume(context.Background(), StdinStream) // no store: no error
	return &Reader{
		name: name, r: r, now: time.Now, st: st,
		cut:   m.LinesCut.WithLabelValues(name),
		bytes: m.BytesRead.WithLabelValues(name),
	}
}

// Name returns the configured source name.
func (r *Reader) Name() string { return r.name }

// Run reads lines until EOF (returning nil), a read error, or ctx done (returning nil).
func (r *Reader) Run(ctx context.Context, out chan<- *Batch) error {
	if d, ok := r.r.(deadliner); ok {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(fired)
			_ = d.SetReadDeadline(time.Unix(1, 0))
		})
		defer func() {
			if stop() {
				return
			}
			// The interrupt ran (or is running): let it finish before clearing the
			// deadline, or it could land after and fail a later Run's first read.
			<-fired
			_ = d.SetReadDeadline(time.Time{}) // a later Run may read again
		}()
	}
	br := bufio.NewReaderSize(r.r, MaxLineBytes)
	em := r.st.p.Emitter(out)
	for {
		l, err := r.readLine(br)
		if l != nil {
			em.Add(r.st, l, false)
		}
		// The lines already buffered go together; before a read that may wait, they
		// are handed over.
		if (err != nil || !lineBuffered(br)) && em.Flush(ctx) != nil {
			return nil
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		default:
			return fmt.Errorf("read %s: %w", r.name, err)
		}
	}
}

// readLine returns the next line (nil when there is none) and the read error, if any.
// A line longer than the buffer is cut and the rest of it, up to its newline, dropped.
func (r *Reader) readLine(br *bufio.Reader) (*Line, error) {
	b, err := br.ReadSlice('\n')
	r.bytes.Add(float64(len(b)))
	cut := errors.Is(err, bufio.ErrBufferFull)
	if cut {
		text := string(b)
		err = r.discardLine(br)
		r.cut.Inc()
		return r.line(text, true), err
	}
	if len(b) == 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return nil, err // a line broken off by a failed read is not passed on
	}
	b = trimEOL(b)
	return r.line(string(b), false), err
}

// lineBuffered reports whether br holds a whole line: the next readLine returns it
// without reading.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered()) // what is buffered: no read
	return bytes.IndexByte(b, '\n') >= 0
}

// discardLine skips input up to and including the next newline.
func (r *Reader) discardLine(br *bufio.Reader) error {
	for {
		b, err := br.ReadSlice('\n')
		r.bytes.Add(float64(len(b)))
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func (r *Reader) line(text string, cut bool) *Line {
	l := &Line{Text: text, Time: r.now()}
	if cut {
		l.Labels = map[string]string{"cut": "true"}
	}
	return l
}

// trimEOL drops a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// StdinConfig is the stdin source's configuration: it has no settings
// (`cat old.log | cowbell run`, or a pipe from another program).
type StdinConfig struct{}

// UnmarshalYAML accepts an empty mapping only.
func (c *StdinConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain StdinConfig
	return yamlpos.DecodeStrict(n, (*plain)(c))
}

// Describe implements Config.
func (StdinConfig) Describe() string { return "standard input" }

// NewStdin makes the stdin source: a Reader over d.Stdin (the process's standard
// input when nil).
func NewStdin(_ StdinConfig, d Deps) (Source, error) {
	r := d.Stdin
	if r == nil {
		r = os.Stdin
	}
	return NewReader(d.Name, r, d.Metrics), nil
}
