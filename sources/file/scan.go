package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// scanCheckEvery is how many records Scan decodes between looks at its context.
const scanCheckEvery = 1024

// Scan decodes the records of r as format (auto detects it from the first record)
// and calls fn with each line, in order, with the defaults of DefaultConfig: line cap,
// joins of split container lines. It reads to the end and never follows; a final
// line without a newline is passed on too. name is the lines' source, stream their
// stream (a file path, or "-" for stdin), and labels come from stream as a path the
// way the live source takes them. Undecodable records are skipped; an error from fn
// stops the scan and is returned.
func Scan(ctx context.Context, r io.Reader, name, stream string, format Format, fn func(sources.Line) error) error {
	if format == "" {
		format = FormatAuto
	}
	if !format.Valid() {
		return fmt.Errorf("scan %s: unknown format %q", stream, format)
	}
	c := DefaultConfig
	sp := newSplitter(splitMax(format, c.MaxLineBytes, c.rawMax()))
	dec := newDecoder(format, c.MaxLineBytes)
	var labels map[string]string
	tmpl := map[string]map[string]string{}
	if format != FormatPlain {
		labels = pathLabels(stream, realPath(stream), c.DockerRoot)
	}
	emit := func(text []byte, t time.Time, st string, cut bool, end int64) error {
		s := string(text)
		if cut {
			s += cutMark
		}
		return fn(sources.Line{
			Source: name, Stream: stream, Text: s, Time: t,
			Labels: lineLabels(labels, dec.format(), st, tmpl, dec.recLabels),
			Cursor: sources.Cursor{Stream: stream, Pos: strconv.FormatInt(end, 10)},
		})
	}
	sc := scanner{ctx: ctx, sp: &sp, dec: &dec, emit: emit}
	for {
		n, rerr := r.Read(sp.space())
		sp.commit(n)
		sc.off += int64(n)
		if err := sc.records(time.Now()); err != nil {
			return err
		}
		if errors.Is(rerr, io.EOF) {
			return sc.finish(time.Now())
		}
		if rerr != nil {
			return fmt.Errorf("scan %s: %w", stream, rerr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// scanner is Scan's state between reads.
type scanner struct {
	ctx   context.Context
	sp    *splitter
	dec   *decoder
	emit  emitFunc
	off   int64 // bytes read
	count int   // records decoded
}

// records decodes the complete records read, read at now.
func (sc *scanner) records(now time.Time) error {
	for {
		rec, cut, ok := sc.sp.next()
		if !ok {
			return nil
		}
		if sc.count++; sc.count%scanCheckEvery == 0 && sc.ctx.Err() != nil {
			return sc.ctx.Err()
		}
		if err := sc.dec.record(rec, cut, sc.off-int64(sc.sp.held()), now, sc.emit, skipNothing); err != nil {
			return err
		}
	}
}

// finish passes on a last line without newline and any unfinished join.
func (sc *scanner) finish(now time.Time) error {
	if rec, cut, ok := sc.sp.flush(); ok {
		if err := sc.dec.record(rec, cut, sc.off, now, sc.emit, skipNothing); err != nil {
			return err
		}
	}
	return sc.dec.flush(sc.off, sc.emit)
}

// skipNothing drops undecodable records silently: Scan has no metrics to count them.
func skipNothing(string, error) {}
