package file

import (
	"context"
	"sync"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Bounds: the inotify watches one source takes, and the written files remembered
// between two read passes (past it, the next pass reads every file).
const (
	maxWatchedDirs = 1024
	maxChanged     = 4096
)

// watcher turns fsnotify events into wakeups: a write asks for a read pass, anything
// else (create, rename, remove, an overflow) for a full scan. It is only a hint:
// without it (inotify exhausted, a network filesystem) polling finds the same.
type watcher struct {
	w    *fsnotify.Watcher
	scan chan struct{}
	read chan struct{}
	dirs map[string]bool
	log  *zap.Logger
	wg   sync.WaitGroup
	quit context.CancelFunc

	mu         sync.Mutex
	changed    map[string]bool // files written since the last take
	changedAll bool            // too many to remember: read everything
}

// startWatcher starts watching with a watcher from newWatcher, when set. On failure
// (inotify instances exhausted) it logs and returns a watcher that never wakes
// anyone: polling goes on alone.
func startWatcher(ctx context.Context, newWatcher func() (*fsnotify.Watcher, error), log *zap.Logger) *watcher {
	w := &watcher{
		scan:    make(chan struct{}, 1),
		read:    make(chan struct{}, 1),
		dirs:    map[string]bool{},
		log:     log,
		changed: map[string]bool{},
	}
	if newWatcher == nil {
		return w
	}
	fw, err := newWatcher()
	if err != nil {
		log.Warn("file notifications unavailable, polling only", zap.Error(err))
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
			if ev.Op == fsnotify.Write {
				w.note(ev.Name)
				wake(w.read)
			} else {
				wake(w.scan)
			}
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.log.Debug("file notification error, scanning", zap.Error(err))
			wake(w.scan)
		}
	}
}

// note remembers that a file was written.
func (w *watcher) note(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.changed) >= maxChanged {
		w.changedAll = true
		return
	}
	w.changed[name] = true
}

// take returns the files written since the last take, or all=true when they were
// too many to remember.
func (w *watcher) take() (names map[string]bool, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	names, all = w.changed, w.changedAll
	w.changed, w.changedAll = map[string]bool{}, false
	return names, all
}

// wake signals c without blocking; one pending signal is enough.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add watches dir, once it exists; failures are retried on the next scan.
func (w *watcher) add(dir string) {
	if w.w == nil || w.dirs[dir] || len(w.dirs) >= maxWatchedDirs {
		return
	}
	if err := w.w.Add(dir); err != nil {
		return
	}
	w.dirs[dir] = true
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
