package file

import (
	"context"
	"sync"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Bounds: the inotify watches one source takes, and the names remembered between
// two passes (past it, the next pass looks at everything).
const (
	maxWatchedDirs = 8192
	maxChanged     = 4096
)

// watcher turns fsnotify events into work: a write asks for a read of the files
// written, anything else (create, rename, remove, chmod) for a look at the paths
// named, an overflow or error for a full scan. Without it (no inotify, its watches
// exhausted) the source polls.
type watcher struct {
	w    *fsnotify.Watcher
	scan chan struct{}
	read chan struct{}
	log  *zap.Logger
	wg   sync.WaitGroup
	quit context.CancelFunc

	mu         sync.Mutex
	dirs       map[string]bool // watched directories
	written    names           // files written since the last take
	moved      names           // paths created, renamed, removed or changed otherwise
	overflowed bool            // events were lost: look at everything
}

// names is a set of paths that gives up past maxChanged.
type names struct {
	set map[string]bool
	all bool // too many to remember
}

func (n *names) add(name string) {
	if n.all {
		return
	}
	if len(n.set) >= maxChanged {
		n.all, n.set = true, nil
		return
	}
	if n.set == nil {
		n.set = map[string]bool{}
	}
	n.set[name] = true
}

// startWatcher starts watching with a watcher from newWatcher, when set. On failure
// (inotify instances exhausted) it logs and returns a watcher that watches nothing:
// the source polls.
func startWatcher(ctx context.Context, newWatcher func() (*fsnotify.Watcher, error), log *zap.Logger) *watcher {
	w := &watcher{
		scan: make(chan struct{}, 1),
		read: make(chan struct{}, 1),
		dirs: map[string]bool{},
		log:  log,
	}
	if newWatcher == nil {
		return w
	}
	fw, err := newWatcher()
	if err != nil {
		log.Warn("file notifications unavailable, polling every poll_interval", zap.Error(err))
		return w
	}
	w.w = fw
	ctx, w.quit = context.WithCancel(ctx)
	w.wg.Add(1)
	go w.loop(ctx)
	return w
}

func (w *watcher) loop(ctx context.Context) {
	defer w.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.mu.Lock()
			if ev.Op == fsnotify.Write {
				w.written.add(ev.Name)
				w.mu.Unlock()
				wake(w.read)
				continue
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				delete(w.dirs, ev.Name) // a watched directory gone: watched again when it is back
			}
			w.moved.add(ev.Name)
			w.mu.Unlock()
			wake(w.scan)
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.log.Debug("file notification error, scanning", zap.Error(err))
			w.mu.Lock()
			w.overflowed = true
			w.mu.Unlock()
			wake(w.scan)
		}
	}
}

// takeWritten returns the files written since the last take, or all=true when they
// were too many to remember.
func (w *watcher) takeWritten() (set map[string]bool, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.written
	w.written = names{}
	return n.set, n.all
}

// takeMoved returns the paths otherwise changed since the last take, or all=true
// when they were too many or events were lost.
func (w *watcher) takeMoved() (set map[string]bool, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, over := w.moved, w.overflowed
	w.moved, w.overflowed = names{}, false
	return n.set, n.all || over
}

// wake signals c without blocking; one pending signal is enough.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add watches dir and reports whether it is watched (a new watch: added is true).
func (w *watcher) add(dir string) (watched, added bool) {
	if w.w == nil {
		return false, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirs[dir] {
		return true, false
	}
	if len(w.dirs) >= maxWatchedDirs {
		return false, false
	}
	if err := w.w.Add(dir); err != nil {
		return false, false
	}
	w.dirs[dir] = true
	return true, true
}

// stop ends watching and waits for the event loop.
func (w *watcher) stop() {
	if w.w == nil {
		return
	}
	w.quit()
	w.w.Close()
	w.wg.Wait()
}
