package sources

import (
	"maps"
	"sync"
	"time"
)

// Status is what a pipeline knows of its sources: whether each has opened what it
// reads, whether it runs, and why its last run failed. Supervise keeps it; a source
// says it has opened through Deps.Opened. It is safe for concurrent use; the zero
// value is not: use NewStatus.
type Status struct {
	mu     sync.Mutex
	states map[string]SourceState
	change chan struct{} // closed and replaced on every change
}

// Opener is a Source that reports through Deps.Opened when a run has opened what it
// reads. Supervise counts a source that is not one as opened as soon as its run
// starts.
type Opener interface {
	Source
	ReportsOpened()
}

// SourceState is one source's status.
type SourceState struct {
	Opened bool      // the current run has opened what the source reads (or it ended: a reader at EOF)
	Up     bool      // a run is going on
	Err    string    // the last failed run's error, "" once a run has opened again
	Since  time.Time // when Up or Err last changed
	// Note says what the source finds but cannot read ("2 files unreadable"); the
	// source still reads the rest, so it is not a failure.
	Note string
}

// NewStatus returns the status of the named sources, none opened yet.
func NewStatus(names ...string) *Status {
	st := &Status{states: map[string]SourceState{}, change: make(chan struct{})}
	for _, n := range names {
		st.states[n] = SourceState{}
	}
	return st
}

// Snapshot returns every source's state, by name.
func (st *Status) Snapshot() map[string]SourceState {
	st.mu.Lock()
	defer st.mu.Unlock()
	return maps.Clone(st.states)
}

// Changed returns a channel closed at the next change.
func (st *Status) Changed() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.change
}

// Settled reports whether every source has opened or failed: what a service manager
// waits for before calling the service started.
func (st *Status) Settled() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.states {
		if !s.Opened && s.Err == "" {
			return false
		}
	}
	return true
}

func (st *Status) update(name string, f func(*SourceState)) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.states[name]
	f(&s)
	st.states[name] = s
	close(st.change)
	st.change = make(chan struct{})
}

// Opened records that a run of the source has opened what it reads.
func (st *Status) Opened(name string) {
	st.update(name, func(s *SourceState) { s.Opened, s.Err = true, "" })
}

// Troubled records what the source finds but cannot read ("" once it reads all).
func (st *Status) Troubled(name, note string) {
	st.update(name, func(s *SourceState) { s.Note = note })
}

func (st *Status) running(name string, up bool) {
	st.update(name, func(s *SourceState) { s.Up, s.Since = up, time.Now() })
}

func (st *Status) failed(name string, err error) {
	st.update(name, func(s *SourceState) { s.Opened, s.Err, s.Since = false, err.Error(), time.Now() })
}
