package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shortRun is how long the world misbehaves in an ordinary test run.
const shortRun = 15 * time.Second

// daemon is one run of cowbell.
type daemon struct {
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// soak is one soak run: the world, the receiver, cowbell, and what happened.
type soak struct {
	t        *testing.T
	dir      string
	cfg      string
	rng      *rand.Rand
	w        *world
	recv     *receiver
	d        *daemon
	restarts int
	peakRSS  int64 // kB, the highest VmHWM of any run
	logs     int   // runs, each with its own log file
}

func TestSoak(t *testing.T) {
	run := *duration
	if run == 0 {
		if testing.Short() {
			t.Skip("soak")
		}
		run = shortRun
	}
	s0 := *seed
	if s0 == 0 {
		s0 = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-soak.seed=%d repeats the choices), %s", s0, s0, run)
	rng := rand.New(rand.NewPCG(s0, s0>>1|1))
	dir := t.TempDir()
	s := &soak{t: t, dir: dir, rng: rng, w: newWorld(dir, rng), recv: newReceiver(2 * time.Second)}
	defer s.recv.close()
	defer s.w.close()
	s.configure()
	for f := range formats {
		for range 2 {
			if _, err := s.w.addStream(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.start()
	s.waitFollowing(len(s.w.streams)) // start_at is end: write once cowbell has seen the files

	s.chaos(run)
	s.recv.setMode(healthy)
	if s.d == nil {
		s.start()
	}
	undelivered := s.drain(time.Minute + run/10)
	s.stop()
	s.report(undelivered)
}

// configure writes the rule and cowbell's configuration: a source per format, each
// following its files with a glob and start_at: end.
func (s *soak) configure() {
	rules := filepath.Join(s.dir, "rules.yaml")
	s.must(os.WriteFile(rules, []byte(`
- id: soak/numbered
  title: numbered incident
  match: 'seq=(?P<n>\d+) '
  key: '{{.Rule}}/{{.Captures.n}}'
`), 0o600))
	g := s.w.sourceGlobs()
	s.cfg = filepath.Join(s.dir, "cowbell.yaml")
	s.must(os.WriteFile(s.cfg, []byte(fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: plain, type: file, paths: [%q], poll_interval: 100ms, rotate_grace: 2s}
  - {name: docker, type: file, paths: [%q], poll_interval: 100ms, rotate_grace: 2s, max_open_files: 4}
  - {name: cri, type: file, paths: [%q], poll_interval: 100ms, rotate_grace: 2s, max_open_files: 4}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {timeout: 500ms, min_backoff: 20ms, max_backoff: 1s}
`, s.dir, rules, g[plain], g[docker], g[cri], s.recv.srv.URL)), 0o600))
}

// chaos writes, rotates and compresses for the given time, kills cowbell with -9 at
// random and changes the world while it is down, and makes the receiver fail at random.
func (s *soak) chaos(run time.Duration) {
	end := time.Now().Add(run)
	nextKill := time.Now().Add(s.between(2*time.Second, 8*time.Second))
	nextMode := time.Now()
	for time.Now().Before(end) {
		if time.Now().After(nextMode) {
			m := healthy
			if s.rng.IntN(10) < 4 {
				m = mode(1 + s.rng.IntN(int(modes)-1))
			}
			s.recv.setMode(m)
			nextMode = time.Now().Add(s.between(500*time.Millisecond, 3*time.Second))
		}
		if time.Now().After(nextKill) {
			s.kill()
			s.whileDown()
			s.start()
			nextKill = time.Now().Add(s.between(2*time.Second, 8*time.Second))
		}
		s.step()
		time.Sleep(s.between(5*time.Millisecond, 40*time.Millisecond)) // the writers' pace
	}
}

// step is one thing the world does while cowbell runs.
func (s *soak) step() {
	st := s.w.streams[s.rng.IntN(len(s.w.streams))]
	switch r := s.rng.IntN(1000); {
	case r < 930:
		s.must(s.w.write(st, 1+s.rng.IntN(20), 0.05))
	case r < 960:
		s.must(s.w.rotate(st))
	case r < 970 && st.format != plain:
		s.must(s.w.splitAcrossRotation(st))
	case r < 980:
		s.must(s.w.compressSome(st))
	case r < 995:
		s.must(s.w.prune(st, s.delivered))
	case len(s.w.streams) < 16:
		_, err := s.w.addStream(format(s.rng.IntN(int(formats))))
		s.must(err)
	}
}

// whileDown changes the world while cowbell is down: lines, rotations (often two or
// more in a row), compressions, a new file.
func (s *soak) whileDown() {
	for range 1 + s.rng.IntN(2*len(s.w.streams)) {
		st := s.w.streams[s.rng.IntN(len(s.w.streams))]
		switch s.rng.IntN(6) {
		case 0, 1:
			s.must(s.w.write(st, 1+s.rng.IntN(30), 0.1))
		case 2:
			for range 2 + s.rng.IntN(2) {
				s.must(s.w.write(st, 1+s.rng.IntN(10), 0.2))
				s.must(s.w.rotate(st))
			}
		case 3:
			s.must(s.w.rotate(st))
			s.must(s.w.write(st, 1+s.rng.IntN(10), 0.2))
		case 4:
			s.must(s.w.compressSome(st))
		case 5:
			if len(s.w.streams) < 16 {
				nst, err := s.w.addStream(format(s.rng.IntN(int(formats))))
				s.must(err)
				s.must(s.w.write(nst, 1+s.rng.IntN(10), 0.3))
			}
		}
	}
}

func (s *soak) delivered(n int) bool {
	return s.recv.delivered(fmt.Sprintf("soak/numbered/%d", n))
}

// drain waits until every incident written was delivered, or for limit; it returns
// those that were not.
func (s *soak) drain(limit time.Duration) []int {
	deadline := time.After(limit)
	for {
		var missing []int
		for _, n := range s.w.incidents {
			if !s.delivered(n) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-s.recv.got:
		case <-time.After(time.Second):
		case err := <-s.d.done:
			s.t.Fatalf("cowbell exited: %v\n%s", err, s.tail())
		case <-deadline:
			return missing
		}
	}
}

// report prints the figures and fails on any incident lost or paged twice.
func (s *soak) report(undelivered []int) {
	s.t.Helper()
	keys, duplicated, resent := s.recv.tally()
	s.t.Logf("lines written %d, incidents written %d (%d split across a rotation)", s.w.lines, len(s.w.incidents), s.w.split)
	s.t.Logf("incidents delivered %d, lost %d, duplicated %d (notified twice, not foldable); %d notifications sent again unchanged",
		keys, len(undelivered), duplicated, resent)
	s.t.Logf("restarts (kill -9) %d, rotations %v, files %d, peak RSS %d kB", s.restarts, s.w.rotations, len(s.w.streams), s.peakRSS)
	if len(undelivered) > 0 {
		s.t.Errorf("%d incidents lost: %v", len(undelivered), head(undelivered))
	}
	if duplicated > 0 {
		s.t.Errorf("%d incidents notified as more than one notification", duplicated)
	}
	if keys != len(s.w.incidents)-len(undelivered) {
		s.t.Errorf("%d incidents delivered that were never written", keys-(len(s.w.incidents)-len(undelivered)))
	}
	if s.t.Failed() {
		s.t.Logf("the last run's log ends:\n%s", s.tail())
		s.keep(undelivered)
	}
}

func head(ns []int) []int { return ns[:min(len(ns), 20)] }

// keep copies what is needed to look into a failed run to -soak.keep: the events, the
// lost incidents' files, cowbell's logs.
func (s *soak) keep(lost []int) {
	if *keepDir == "" {
		return
	}
	dir := filepath.Join(*keepDir, fmt.Sprintf("soak-%d", time.Now().Unix()))
	s.must(os.MkdirAll(dir, 0o755))
	var b strings.Builder
	for _, e := range s.w.events {
		b.WriteString(e + "\n")
	}
	where := map[int][]string{}
	for _, st := range s.w.streams {
		for _, g := range append([]*gen{st.cur}, st.rotated...) {
			for _, n := range g.seqs {
				where[n] = append(where[n], g.path)
			}
		}
	}
	b.WriteString("\nlost:\n")
	for _, n := range lost {
		fmt.Fprintf(&b, "%d in %v\n", n, where[n])
	}
	s.must(os.WriteFile(filepath.Join(dir, "events"), []byte(b.String()), 0o644))
	s.must(exec.Command("cp", "-a", s.dir, filepath.Join(dir, "world")).Run())
	s.t.Logf("kept in %s", dir)
}

// start starts cowbell, its log in a file of its own.
func (s *soak) start() {
	s.logs++
	s.w.note("start, log cowbell-%d.log", s.logs)
	log, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("cowbell-%d.log", s.logs)))
	s.must(err)
	cmd := exec.Command(binary, "run", "--config", s.cfg, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = log, log
	s.must(cmd.Start())
	d := &daemon{cmd: cmd, done: make(chan error, 1), log: log}
	go func() { d.done <- cmd.Wait() }()
	s.d = d
}

// kill kills cowbell with -9, noting its peak memory first.
func (s *soak) kill() {
	s.w.note("kill -9")
	s.sampleRSS()
	s.must(s.d.cmd.Process.Signal(syscall.SIGKILL))
	<-s.d.done //nolint:errcheck // killed: its exit status says nothing
	s.d.log.Close()
	s.d = nil
	s.restarts++
}

// stop stops cowbell with SIGTERM; it must exit cleanly.
func (s *soak) stop() {
	s.sampleRSS()
	s.must(s.d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.d.done:
		if err != nil {
			s.t.Errorf("cowbell did not exit cleanly: %v\n%s", err, s.tail())
		}
	case <-time.After(30 * time.Second):
		_ = s.d.cmd.Process.Kill()
		<-s.d.done //nolint:errcheck // killed
		s.t.Errorf("cowbell did not stop within 30s")
	}
	s.d.log.Close()
}

// sampleRSS notes the running cowbell's peak resident memory (VmHWM).
func (s *soak) sampleRSS() {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.d.cmd.Process.Pid))
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.peakRSS = max(s.peakRSS, kb)
		}
	}
}

// waitFollowing waits until the running cowbell follows n files.
func (s *soak) waitFollowing(n int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(s.d.log.Name())
		if bytes.Count(b, []byte("following file")) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a log file another process writes
	}
	s.t.Fatalf("cowbell did not follow %d files:\n%s", n, s.tail())
}

// tail is the end of the last run's log.
func (s *soak) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("cowbell-%d.log", s.logs)))
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

func (s *soak) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

func (s *soak) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}
