package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

const loadLines = 50000

// loadWriter appends numbered lines ("L0000042") to a path as a logging process does:
// one write per line on a descriptor it keeps, reopening the path when asked (after a
// rename or a delete), appending with O_APPEND so that a truncate sends it back to 0.
type loadWriter struct {
	path    string
	written atomic.Int64       // lines whose write returned
	reopen  chan chan struct{} // closed by the writer once it reopened
	marks   chan int64         // every 5000 lines
}

func (w *loadWriter) run(n int) error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	reopen := func(done chan struct{}) error {
		f.Close()
		f, err = os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		close(done)
		return err
	}
	pace := time.NewTicker(time.Millisecond)
	defer pace.Stop()
	for i := range n {
		select {
		case done := <-w.reopen:
			if err := reopen(done); err != nil {
				return err
			}
		default:
		}
		if _, err := fmt.Fprintf(f, "L%07d\n", i); err != nil {
			return err
		}
		w.written.Add(1)
		if i%100 == 99 {
			<-pace.C // about 100 000 lines a second at most
		}
		for sent := i%5000 != 4999; !sent; {
			// Hand over the mark; the rotation then runs while writing goes on.
			select {
			case w.marks <- int64(i + 1):
				sent = true
			case done := <-w.reopen:
				if err := reopen(done); err != nil {
					return err
				}
			}
		}
	}
	close(w.marks)
	return nil
}

// TestLoadAcrossRotations follows a file written at thousands of lines a second while
// it is renamed (kubelet and Docker style, with late writes to the renamed file),
// deleted and recreated, and copied and truncated (logrotate's copytruncate).
//
// The guarantee checked: no line is sent twice and no text is sent that was not
// written; every line is sent, except lines written during a copytruncate between
// logrotate's copy and its truncate, which exist in no file afterwards and that no
// follower can read unless it happened to read them before the truncate. The lines
// a follower has not read by the truncate but that made it into the copy are read from
// the copy. The test widens each such window to [lines written before the copy, lines
// written after the truncate) and only excuses lines inside it.
func TestLoadAcrossRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	h := start(t, testConfig(path), nil, func(s *Source) { s.now = time.Now })
	c := &loadCollector{}
	c.start(h)

	w := &loadWriter{path: path, reopen: make(chan chan struct{}, 1), marks: make(chan int64)}
	werr := make(chan error, 1)
	go func() { werr <- w.run(loadLines) }()
	windows := rotate(t, path, w, c, "rename", "copytruncate", "copytruncate", "delete",
		"copytruncate", "rename", "rename", "copytruncate", "delete")
	require.NoError(t, <-werr)

	excused := func(n int) bool {
		for _, win := range windows {
			if int64(n) >= win[0] && int64(n) < win[1] {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(60 * time.Second)
	for n := range loadLines {
		for c.seen[n].Load() == 0 && !excused(n) {
			require.True(t, time.Now().Before(deadline), "line %d never came", n)
			time.Sleep(time.Millisecond)
		}
	}
	testenv.AppendFile(t, path, "END\n") // after it, nothing more is pending
	for !c.end.Load() {
		require.True(t, time.Now().Before(deadline), "END never came")
		time.Sleep(time.Millisecond)
	}
	c.stop()

	lost := 0
	for n := range c.seen {
		got := c.seen[n].Load()
		require.LessOrEqual(t, got, int32(1), "line %d sent %d times", n, got)
		if got == 0 {
			lost++
		}
	}
	require.Zero(t, c.garbage.Load(), "lines that were never written")
	t.Logf("%d lines, %d copytruncate windows, %d lines lost inside them", loadLines, len(windows), lost)
}

// loadCollector counts the numbered lines a source sends.
type loadCollector struct {
	seen    [loadLines]atomic.Int32
	maxSeen atomic.Int64
	garbage atomic.Int64
	end     atomic.Bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

func (c *loadCollector) start(h *harness) {
	c.quit = make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case b := <-h.out:
				for _, l := range b.Lines {
					c.count(l.Text)
				}
			case <-h.scans:
			case <-c.quit:
				return
			}
		}
	}()
}

func (c *loadCollector) count(text string) {
	if text == "END" {
		c.end.Store(true)
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(text, "L"))
	if err != nil || !strings.HasPrefix(text, "L") || len(text) != 8 || n >= loadLines {
		c.garbage.Add(1)
		return
	}
	c.seen[n].Add(1)
	for m := c.maxSeen.Load(); int64(n) > m && !c.maxSeen.CompareAndSwap(m, int64(n)); m = c.maxSeen.Load() {
	}
}

func (c *loadCollector) stop() {
	close(c.quit)
	c.wg.Wait()
}

// rotate runs one operation at each of the writer's marks, while it writes on, and
// returns the windows [from, to) of line numbers each copytruncate may lose.
func rotate(t *testing.T, path string, w *loadWriter, c *loadCollector, ops ...string) [][2]int64 {
	var windows [][2]int64
	reopen := func() {
		done := make(chan struct{})
		w.reopen <- done
		<-done // the writer keeps writing to the old file until here, as kubelet does
	}
	op := 0
	for range w.marks {
		if op == len(ops) {
			continue
		}
		switch ops[op] {
		case "rename":
			require.NoError(t, os.Rename(path, fmt.Sprintf("%s.r%d", path, op)))
			reopen()
		case "delete":
			require.NoError(t, os.Remove(path))
			reopen()
		case "copytruncate":
			// One copytruncate at a time: wait until the follower noticed the last one.
			want, deadline := w.written.Load()-1, time.Now().Add(wait)
			for c.maxSeen.Load() < want {
				require.True(t, time.Now().Before(deadline), "follower did not catch up")
				time.Sleep(time.Millisecond)
			}
			from := w.written.Load()
			copyTruncate(t, path, fmt.Sprintf("%s.c%d", path, op))
			windows = append(windows, [2]int64{from, w.written.Load() + 1})
		}
		op++
	}
	return windows
}

// TestSlowConsumerAcrossRotations rotates twice by rename while nobody receives: the
// follower is held on its first line, and still reads every generation once, whether
// the rotated names count up (app.log.1, then app.log.2) or shift as logrotate's do
// (app.log.1 moves to app.log.2 first).
func TestSlowConsumerAcrossRotations(t *testing.T) {
	for _, shift := range []bool{false, true} {
		t.Run(fmt.Sprintf("shift=%v", shift), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			gen := func(g int) string {
				var b strings.Builder
				for i := range 1000 {
					fmt.Fprintf(&b, "g%d-%04d\n", g, i)
				}
				return b.String()
			}
			w := openAppend(t, path)
			write(t, w, gen(0))
			h := start(t, testConfig(path), nil)
			first := h.next()
			require.Equal(t, "g0-0000", first.Text)

			require.NoError(t, os.Rename(path, path+".1"))
			write(t, w, "g0-late\n")
			w1 := openAppend(t, path)
			write(t, w1, gen(1))
			if shift {
				require.NoError(t, os.Rename(path+".1", path+".2"))
				require.NoError(t, os.Rename(path, path+".1"))
			} else {
				require.NoError(t, os.Rename(path, path+".2"))
			}
			w2 := openAppend(t, path)
			write(t, w2, gen(2))

			var want []string
			for _, g := range []string{gen(0), "g0-late\n", gen(1), gen(2)} {
				want = append(want, strings.Split(strings.TrimSuffix(g, "\n"), "\n")...)
			}
			h.expect(want[1:]...)
		})
	}
}
