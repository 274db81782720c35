package file

import (
	"bytes"
	"sync"
)

// Read buffer sizes: a buffer starts small and grows while one record fills it, up to
// the record cap plus one read.
const (
	minBuffer = 64 << 10
	minRead   = 16 << 10
)

// splitter cuts a byte stream into records at '\n' and never holds more than max
// bytes of one record: past that, it keeps the record's head and skips the rest up to
// the newline.
type splitter struct {
	buf  []byte
	pool *[]byte // buf came from buffers, and goes back there
	r, w int     // buf[r:w] is read but not yet split
	max  int

	cutting  bool   // the current record passed max; head holds its first max bytes
	head     []byte // the head of a record being cut
	headSent bool   // head was already flushed; the rest of the record is dropped
}

func newSplitter(max int) splitter { return splitter{max: max} }

// buffers are read buffers of minBuffer bytes that files at their end gave back: a
// source holds one for each file with a partial record, not one for each file.
var buffers = sync.Pool{New: func() any { b := make([]byte, minBuffer); return &b }}

// space returns where the next read goes, making room first.
func (s *splitter) space() []byte {
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	if s.buf == nil {
		s.pool = buffers.Get().(*[]byte)
		s.buf = *s.pool
	}
	if len(s.buf)-s.w < minRead && s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if len(s.buf)-s.w < minRead {
		n := max(2*len(s.buf), minBuffer)
		n = min(n, s.max+minRead+1)
		n = max(n, s.w+minRead)
		nb := make([]byte, n)
		copy(nb, s.buf[:s.w])
		s.buf, s.pool = nb, nil
	}
	return s.buf[s.w:]
}

// commit adds n bytes read into space().
func (s *splitter) commit(n int) { s.w += n }

// next returns the next complete record (without its newline, valid until the next
// call) and whether it was cut at max bytes.
func (s *splitter) next() (rec []byte, cut, ok bool) {
	for s.r < s.w {
		i := bytes.IndexByte(s.buf[s.r:s.w], '\n')
		if s.cutting {
			if i < 0 {
				s.r = s.w
				return nil, false, false
			}
			s.r += i + 1
			s.cutting = false
			if s.headSent {
				continue
			}
			return s.head, true, true
		}
		if i >= 0 {
			rec = s.buf[s.r : s.r+i]
			s.r += i + 1
			if len(rec) > s.max {
				return rec[:s.max], true, true
			}
			return rec, false, true
		}
		if s.w-s.r > s.max {
			s.head = append(s.head[:0], s.buf[s.r:s.r+s.max]...)
			s.cutting, s.headSent = true, false
			s.r = s.w
		}
		return nil, false, false
	}
	return nil, false, false
}

// chunk is the text of the complete records a read brought, made into one string for
// all of them: a line whose bytes the decoder passed on unchanged is a substring of
// it, so a read costs one allocation for its texts rather than one a line. A line
// kept past its batch (an incident's) is copied by whoever keeps it, or it would
// keep the whole chunk in memory.
type chunk struct {
	buf  []byte // the splitter's buffer it was taken from
	from int    // where in buf it begins
	s    string
}

// chunk returns the complete records buffered and not yet split, as one string.
func (s *splitter) chunk() chunk {
	if s.cutting || s.r >= s.w {
		return chunk{}
	}
	n := bytes.LastIndexByte(s.buf[s.r:s.w], '\n')
	if n <= 0 {
		return chunk{}
	}
	return chunk{buf: s.buf, from: s.r, s: string(s.buf[s.r : s.r+n])}
}

// text returns b as a string: a substring of the chunk when b lies in it, else a
// copy of its own.
func (c *chunk) text(b []byte) string {
	if len(b) == 0 || c.s == "" {
		return string(b)
	}
	// b lies in the chunk when its first byte is the buffer's byte at the offset
	// its capacity says (a slice of buf reaches buf's end).
	off := cap(c.buf) - cap(b)
	if off < c.from || off+len(b) > c.from+len(c.s) || &c.buf[off] != &b[0] {
		return string(b)
	}
	return c.s[off-c.from : off-c.from+len(b)]
}

// pending reports whether part of a record waits for its newline.
func (s *splitter) pending() bool {
	return s.r < s.w || (s.cutting && !s.headSent)
}

// tail returns the last bytes read (up to fpSize): the buffer always holds the bytes
// just before the end of what was read.
func (s *splitter) tail() []byte { return s.buf[max(0, s.w-fpSize):s.w] }

// held is the number of bytes read past the last complete record that are still
// buffered (a cut record's skipped bytes are not held).
func (s *splitter) held() int { return s.w - s.r }

// flush returns the partial record as if its newline had come. The rest of a cut
// record, when it comes, is dropped.
func (s *splitter) flush() (rec []byte, cut, ok bool) {
	if s.cutting {
		if s.headSent {
			return nil, false, false
		}
		s.headSent = true
		return s.head, true, true
	}
	if s.r == s.w {
		return nil, false, false
	}
	rec = s.buf[s.r:s.w]
	s.r = s.w
	return rec, false, true
}

// release gives the read buffer back when it holds nothing (space takes one again);
// a buffer grown for a long record is left to the collector.
func (s *splitter) release() {
	if s.buf == nil || s.r != s.w {
		return
	}
	if s.pool != nil {
		buffers.Put(s.pool)
	}
	s.buf, s.pool, s.r, s.w = nil, nil, 0, 0
}

// reset forgets everything buffered.
func (s *splitter) reset() {
	s.r, s.w = 0, 0
	s.cutting, s.headSent = false, false
}
