package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// health is what the loop reports of itself: when it last went round, and whether
// the store took the last commit.
type health struct {
	mu       sync.Mutex
	lastLoop time.Time
	storeErr string
}

func (h *health) progress(now time.Time) {
	h.mu.Lock()
	h.lastLoop = now
	h.mu.Unlock()
}

func (h *health) storeError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.storeErr
}

func (h *health) storeFailed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.storeErr = ""
		return
	}
	h.storeErr = err.Error()
}

// Health is a running pipeline's state: what /readyz and the service manager's
// STATUS= are made of.
type Health struct {
	Sources   map[string]sources.SourceState
	Notifiers map[string]notifiers.NotifierState
	// Store is the error of the last commit, "" when the store took it.
	Store string
	// Progress is when the loop last went round (it does at least once a second
	// while it is healthy, lines or not).
	Progress time.Time
}

// Health returns the pipeline's state now.
func (p *Pipeline) Health() Health {
	p.health.mu.Lock()
	h := Health{Store: p.health.storeErr, Progress: p.health.lastLoop}
	p.health.mu.Unlock()
	h.Sources = p.in.status.Snapshot()
	h.Notifiers = p.out.dispatcher.Status()
	return h
}

// SourcesSettled returns a channel closed once every source has opened what it reads
// or failed: what a service manager waits for before calling cowbell started.
func (p *Pipeline) SourcesSettled() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			changed := p.in.status.Changed()
			if p.in.status.Settled() {
				return
			}
			<-changed
		}
	}()
	return done
}

// Problems lists what keeps the pipeline from doing its job, each a short sentence:
// a source that has not opened or is failing, a store that refuses writes, receivers
// that all dead-letter. None means ready.
func (h Health) Problems() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(h.Sources)) {
		s := h.Sources[name]
		switch {
		case s.Err != "":
			out = append(out, fmt.Sprintf("source %s failing: %s", name, s.Err))
		case !s.Opened:
			out = append(out, fmt.Sprintf("source %s not open yet", name))
		}
	}
	if h.Store != "" {
		out = append(out, "state store refuses writes: "+h.Store)
	}
	dead := 0
	for _, n := range h.Notifiers {
		if n.Dead {
			dead++
		}
	}
	if dead > 0 && dead == len(h.Notifiers) {
		out = append(out, "every notifier dead-letters what it is sent")
	}
	return out
}

// Summary says in one line what cowbell watches and what is wrong, for STATUS=.
func (h Health) Summary() string {
	if p := h.Problems(); len(p) > 0 {
		return strings.Join(p, "; ")
	}
	s := fmt.Sprintf("watching %d sources, %d notifiers", len(h.Sources), len(h.Notifiers))
	for _, name := range slices.Sorted(maps.Keys(h.Sources)) {
		if note := h.Sources[name].Note; note != "" {
			s += fmt.Sprintf("; source %s: %s", name, note)
		}
	}
	return s
}
