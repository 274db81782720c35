package soak

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// format is how a stream's records are written, and how it is rotated.
type format int

const (
	plain  format = iota // an application's own log, rotated by logrotate
	docker               // Docker's json-file driver, which rotates and compresses itself
	cri                  // a container runtime's CRI log, rotated and compressed by kubelet
	formats
)

func (f format) String() string { return [...]string{"plain", "docker", "cri"}[f] }

// gen is one generation of a stream's log: its path now, and the incidents in it.
type gen struct {
	path       string
	seqs       []int
	compressed bool
}

// stream is one log file being written, and the generations rotation made of it.
type stream struct {
	format  format
	path    string // the file the writer writes
	f       *os.File
	cur     *gen
	rotated []*gen // newest first
	clock   int    // kubelet's rotation stamps
}

// world writes numbered incident lines, and noise, into streams of every format and
// rotates them; it knows which incidents went into which file.
type world struct {
	root      string
	rng       *rand.Rand
	streams   []*stream
	lines     int
	incidents []int
	split     int // lines whose pieces a rotation split
	rotations map[string]int
	maxKeep   int
	events    []string // what happened, for a failure's report
}

// note records an event.
func (w *world) note(format string, args ...any) {
	w.events = append(w.events, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

func newWorld(root string, rng *rand.Rand) *world {
	return &world{root: root, rng: rng, rotations: map[string]int{}, maxKeep: 6}
}

// sourceGlobs are the paths the three sources follow.
func (w *world) sourceGlobs() [formats]string {
	return [formats]string{
		filepath.Join(w.root, "var/log/app/*.log"),
		filepath.Join(w.root, "var/lib/docker/containers/*/*-json.log"),
		filepath.Join(w.root, "var/log/pods/*/*/*.log"),
	}
}

// addStream creates a new log of format f (a new application log, container or pod).
func (w *world) addStream(f format) (*stream, error) {
	n := len(w.streams)
	var path string
	switch f {
	case plain:
		path = filepath.Join(w.root, "var/log/app", fmt.Sprintf("app%d.log", n))
	case docker:
		id := fmt.Sprintf("%064x", 0xc0ffee00+n)
		path = filepath.Join(w.root, "var/lib/docker/containers", id, id+"-json.log")
	case cri:
		path = filepath.Join(w.root, "var/log/pods", fmt.Sprintf("default_app-%d_0f1e2d3c-%04d", n, n), "app", "0.log")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	s := &stream{format: f, path: path, cur: &gen{path: path}}
	w.note("new %s stream %s", f, path)
	if err := s.reopen(); err != nil {
		return nil, err
	}
	w.streams = append(w.streams, s)
	return s, nil
}

// reopen opens the stream's path for appending, as the writer does after a rotation.
func (s *stream) reopen() error {
	if s.f != nil {
		s.f.Close()
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	s.f = f
	return err
}

func (s *stream) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// record formats one record of the stream's format; partial marks a piece of a line
// continued by the next record.
func (s *stream) record(text string, partial bool) string {
	now := time.Now().UTC()
	switch s.format {
	case docker:
		if !partial {
			text += "\n"
		}
		b, _ := json.Marshal(struct {
			Log    string `json:"log"`
			Stream string `json:"stream"`
			Time   string `json:"time"`
		}{text, "stdout", now.Format(time.RFC3339Nano)})
		return string(b) + "\n"
	case cri:
		tag := "F"
		if partial {
			tag = "P"
		}
		return now.Format(time.RFC3339Nano) + " stdout " + tag + " " + text + "\n"
	}
	return now.Format("2006-01-02 15:04:05.000") + " " + text + "\n"
}

// incidentText is the text of incident n; the rule keys on "seq=<n> ".
func incidentText(n int) string { return fmt.Sprintf("app[1]: seq=%d payload of incident %d", n, n) }

// write appends k lines to s, each an incident with probability p.
func (w *world) write(s *stream, k int, p float64) error {
	var b strings.Builder
	var ns []int
	for range k {
		if w.rng.Float64() < p {
			n := len(w.incidents)
			ns = append(ns, n)
			w.incidents = append(w.incidents, n)
			s.cur.seqs = append(s.cur.seqs, n)
			b.WriteString(s.record(incidentText(n), false))
		} else {
			b.WriteString(s.record(fmt.Sprintf("app[1]: request %d served in %d ms", w.lines, w.rng.IntN(500)), false))
		}
		w.lines++
	}
	if len(ns) > 0 {
		w.note("write %s incidents %v", s.path, ns)
	}
	_, err := s.f.WriteString(b.String())
	return err
}

// splitAcrossRotation writes the first piece of an incident's line (cut inside its
// "seq=": neither piece matches alone), rotates, and writes the rest to the new file.
func (w *world) splitAcrossRotation(s *stream) error {
	n := len(w.incidents)
	w.incidents = append(w.incidents, n)
	text := incidentText(n)
	cut := strings.Index(text, "seq=") + 2
	s.cur.seqs = append(s.cur.seqs, n)
	w.note("split incident %d across a rotation of %s", n, s.path)
	if _, err := s.f.WriteString(s.record(text[:cut], true)); err != nil {
		return err
	}
	if err := w.rotate(s); err != nil {
		return err
	}
	s.cur.seqs = append(s.cur.seqs, n)
	_, err := s.f.WriteString(s.record(text[cut:], false))
	w.lines++
	w.split++
	return err
}

// rotate rotates s the way its format's rotator does, choosing among its ways.
func (w *world) rotate(s *stream) error {
	var kind string
	var err error
	switch s.format {
	case plain:
		switch w.rng.IntN(3) {
		case 0:
			kind, err = "logrotate create", w.logrotateCreate(s, false)
		case 1:
			kind, err = "logrotate create delaycompress", w.logrotateCreate(s, true)
		default:
			kind, err = "logrotate copytruncate", w.copytruncate(s)
		}
	case docker:
		kind, err = "docker json-file", w.dockerRotate(s)
	case cri:
		kind, err = "kubelet", w.kubeletRotate(s)
	}
	w.rotations[kind]++
	w.note("rotate %s: %s", s.path, kind)
	if err != nil {
		return fmt.Errorf("%s rotation of %s: %w", kind, s.path, err)
	}
	return nil
}

// shift renames the numbered generations one up (app.log.1 → app.log.2, keeping .gz),
// as logrotate and Docker do before a rotation.
func (s *stream) shift() error {
	for i := len(s.rotated) - 1; i >= 0; i-- {
		g := s.rotated[i]
		to := fmt.Sprintf("%s.%d", s.path, i+2)
		if g.compressed {
			to += ".gz"
		}
		if err := os.Rename(g.path, to); err != nil {
			return err
		}
		g.path = to
	}
	return nil
}

// logrotateCreate: shift, rename the log to .1, the program reopens a new one;
// with delaycompress, .2 is compressed now that it is not the newest.
func (w *world) logrotateCreate(s *stream, delaycompress bool) error {
	if err := s.shift(); err != nil {
		return err
	}
	g := s.cur
	g.path = s.path + ".1"
	if err := os.Rename(s.path, g.path); err != nil {
		return err
	}
	s.rotated = append([]*gen{g}, s.rotated...)
	s.cur = &gen{path: s.path}
	if err := s.reopen(); err != nil {
		return err
	}
	if delaycompress && len(s.rotated) > 1 && !s.rotated[1].compressed {
		return compress(s.rotated[1], true)
	}
	return nil
}

// copytruncate: shift, copy the log to .1 and truncate it; the program writes on.
func (w *world) copytruncate(s *stream) error {
	if err := s.shift(); err != nil {
		return err
	}
	src, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(s.path + ".1")
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Truncate(s.path, 0); err != nil {
		return err
	}
	s.rotated = append([]*gen{{path: s.path + ".1", seqs: s.cur.seqs}}, s.rotated...)
	s.cur.seqs = nil
	return nil
}

// dockerRotate: Docker shifts and renames the log to .1, opens a new one, and
// compresses .1 (compress: true).
func (w *world) dockerRotate(s *stream) error {
	if err := s.shift(); err != nil {
		return err
	}
	g := s.cur
	g.path = s.path + ".1"
	if err := os.Rename(s.path, g.path); err != nil {
		return err
	}
	s.rotated = append([]*gen{g}, s.rotated...)
	s.cur = &gen{path: s.path}
	if err := s.reopen(); err != nil {
		return err
	}
	if w.rng.IntN(2) == 0 { // now, or by a later compress step
		return compress(g, false)
	}
	return nil
}

// kubeletRotate: kubelet renames 0.log to 0.log.<time>, the runtime reopens 0.log,
// and every rotated file but the newest is compressed.
func (w *world) kubeletRotate(s *stream) error {
	s.clock++
	g := s.cur
	g.path = s.path + time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(s.clock)*time.Second).Format(".20060102-150405")
	if err := os.Rename(s.path, g.path); err != nil {
		return err
	}
	s.rotated = append([]*gen{g}, s.rotated...)
	s.cur = &gen{path: s.path}
	if err := s.reopen(); err != nil {
		return err
	}
	for _, old := range s.rotated[1:] {
		if !old.compressed {
			if err := compress(old, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// compressSome compresses a rotated generation that is not compressed yet, other
// than the newest of a logrotate delaycompress or kubelet stream.
func (w *world) compressSome(s *stream) error {
	for i := len(s.rotated) - 1; i >= 1; i-- {
		if g := s.rotated[i]; !g.compressed {
			return compress(g, s.format == plain)
		}
	}
	return nil
}

// compress gzips a generation and removes the plain file; keepTime keeps its
// modification time, as logrotate does (kubelet's and Docker's are when compressed).
func compress(g *gen, keepTime bool) error {
	fi, err := os.Stat(g.path)
	if err != nil {
		return err
	}
	src, err := os.Open(g.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(g.path + ".gz")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		dst.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if keepTime {
		if err := os.Chtimes(g.path+".gz", fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	if err := os.Remove(g.path); err != nil {
		return err
	}
	g.path += ".gz"
	g.compressed = true
	return nil
}

// prune deletes the oldest generations past maxKeep whose incidents were all
// delivered: retention longer than cowbell's lag, as a node's should be.
func (w *world) prune(s *stream, delivered func(n int) bool) error {
	for len(s.rotated) > w.maxKeep {
		g := s.rotated[len(s.rotated)-1]
		for _, n := range g.seqs {
			if !delivered(n) {
				return nil
			}
		}
		if err := os.Remove(g.path); err != nil {
			return err
		}
		s.rotated = s.rotated[:len(s.rotated)-1]
	}
	return nil
}

func (w *world) close() {
	for _, s := range w.streams {
		s.close()
	}
}
