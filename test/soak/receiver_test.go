package soak

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// mode is how the receiver answers for a while.
type mode int

const (
	healthy   mode = iota
	status5xx      // 500
	status429      // 429 with Retry-After
	slow           // takes the body, answers after the notifier's timeout
	reset          // closes the connection without an answer
	modes
)

func (m mode) String() string {
	return [...]string{"healthy", "500", "429", "slow", "reset"}[m]
}

// receiver is a webhook endpoint that fails at random, and records what it took.
type receiver struct {
	srv     *httptest.Server
	slowFor time.Duration

	mu       sync.Mutex
	mode     mode
	bodies   map[string]int             // notification identity (key, status, count, last_seen) → times taken
	keys     map[string]map[string]bool // incident key → identities taken
	attempts int
	got      chan struct{}
}

func newReceiver(slowFor time.Duration) *receiver {
	r := &receiver{
		slowFor: slowFor, bodies: map[string]int{}, keys: map[string]map[string]bool{},
		got: make(chan struct{}, 1),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	m := r.mode
	r.attempts++
	r.mu.Unlock()
	if err != nil {
		return
	}
	switch m {
	case status5xx:
		w.WriteHeader(http.StatusInternalServerError)
		return
	case status429:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case reset:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	r.take(body)
	if m == slow {
		select { // the notifier gives up first: it sends the same again later
		case <-time.After(r.slowFor):
		case <-req.Context().Done():
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// take records a notification under the identity receivers deduplicate on
// (docs/webhook.md).
func (r *receiver) take(body []byte) {
	var inc struct {
		Key      string `json:"key"`
		Status   string `json:"status"`
		Count    int    `json:"count"`
		LastSeen string `json:"last_seen"`
	}
	if err := json.Unmarshal(body, &inc); err != nil || inc.Key == "" {
		return
	}
	id := fmt.Sprintf("%s|%s|%d|%s", inc.Key, inc.Status, inc.Count, inc.LastSeen)
	r.mu.Lock()
	r.bodies[id]++
	if r.keys[inc.Key] == nil {
		r.keys[inc.Key] = map[string]bool{}
	}
	r.keys[inc.Key][id] = true
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *receiver) setMode(m mode) {
	r.mu.Lock()
	r.mode = m
	r.mu.Unlock()
}

// delivered reports whether the incident of key was taken.
func (r *receiver) delivered(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys[key]) > 0
}

// tally counts incidents taken, those taken as more than one notification (paged
// twice: a receiver cannot fold them), and notifications taken again as they were.
func (r *receiver) tally() (keys, duplicated, resent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ids := range r.keys {
		if len(ids) > 1 {
			duplicated++
		}
	}
	for _, n := range r.bodies {
		resent += n - 1
	}
	return len(r.keys), duplicated, resent
}

func (r *receiver) close() { r.srv.Close() }
