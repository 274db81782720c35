package notifiers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
	"github.com/cowbell-sidecar/cowbell/notifiers/webhook"
	"github.com/cowbell-sidecar/cowbell/state"
)

// endpoint is an HTTP receiver whose answer to the n-th request (from 1) a plan
// decides: "ok", "hang" (no answer until the client gives up), or a status code.
type endpoint struct {
	*httptest.Server
	clk  *clock
	plan func(n int, inc *incidents.Incident) (status int, hang bool, header http.Header, body string)

	mu    sync.Mutex
	n     int
	got   []string    // key#count of the requests answered 2xx, in order
	times []time.Time // by the virtual clock, of every request
}

func newEndpoint(t *testing.T, clk *clock, plan func(n int, inc *incidents.Incident) (int, bool, http.Header, string)) *endpoint {
	e := &endpoint{clk: clk, plan: plan}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	var inc incidents.Incident
	if err := json.NewDecoder(r.Body).Decode(&inc); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.n++
	e.times = append(e.times, e.clk.Now())
	status, hang, header, body := e.plan(e.n, &inc)
	if status/100 == 2 && !hang {
		e.got = append(e.got, label(&inc))
	}
	e.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (e *endpoint) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func (e *endpoint) requestTimes() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Time(nil), e.times...)
}

func newWebhook(t testing.TB, url string) *webhook.Notifier {
	t.Helper()
	n, err := webhook.New(webhook.Config{URL: secret.Secret(url), Secret: "s3cret", HTTPConfig: notifiers.HTTPConfig{Timeout: time.Minute}}, notifierstest.Deps(t))
	require.NoError(t, err)
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 5*time.Millisecond, what)
}

// An endpoint that fails with 5xx and timeouts for a while, then recovers, receives
// every notification exactly once, in the order queued; a healthy notifier beside it
// is not held up.
func TestDispatcherOutageDeliversEverythingInOrderOnce(t *testing.T) {
	clk := newClock(time.Now())
	failures := map[int]string{1: "500", 2: "hang", 3: "503", 4: "hang", 5: "502", 6: "500", 7: "429"}
	ep := newEndpoint(t, clk, func(n int, _ *incidents.Incident) (int, bool, http.Header, string) {
		switch failures[n] {
		case "hang":
			return 0, true, nil, ""
		case "":
			return http.StatusOK, false, nil, ""
		}
		return map[string]int{"500": 500, "502": 502, "503": 503, "429": 429}[failures[n]], false, nil, "try later"
	})
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := notifierstest.New()
	names := []string{"hook", "rec"}
	// The timeout must end the hung requests, yet never the answered ones (that would be
	// a legitimate duplicate), even on a loaded machine under -race.
	// One at a time: the whole queue in order (the default sends different incidents
	// side by side; TestDispatcherConcurrentKeepsKeyOrder covers that).
	cfg := notifiers.DispatcherConfig{Timeout: time.Second, MinBackoff: time.Second, MaxBackoff: time.Minute, Concurrency: 1}
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": newWebhook(t, ep.URL), "rec": rec}, cfg, clk)

	want := enqueue(t, st, names, incident("a", 1, incidents.StatusFiring), incident("b", 1, incidents.StatusFiring))
	want = append(want, enqueue(t, st, names, incident("c", 1, incidents.StatusFiring), incident("a", 2, incidents.StatusFiring))...)
	stop := r.start(t)
	want = append(want, enqueue(t, st, names, incident("b", 2, incidents.StatusResolved), incident("c", 2, incidents.StatusFiring))...)
	want = append(want, enqueue(t, st, names, incident("a", 3, incidents.StatusResolved), incident("c", 3, incidents.StatusResolved))...)

	rec.WaitDelivered(t, len(want))
	waitFor(t, "the endpoint receives everything", func() bool { return len(ep.received()) >= len(want) })
	waitFor(t, "the outbox drains", func() bool {
		return r.metric(t, "cowbell_outbox_pending", "notifier", "hook") == 0 && r.metric(t, "cowbell_outbox_pending", "notifier", "rec") == 0
	})
	require.NoError(t, stop())

	require.Equal(t, want, ep.received(), "every notification once, in queue order")
	require.Equal(t, want, labels(rec.Delivered()))
	require.Equal(t, float64(len(want)), r.metric(t, "cowbell_notifications_sent_total", "notifier", "hook"))
	require.Equal(t, float64(len(failures)), r.metric(t, "cowbell_notifications_failed_total", "notifier", "hook", "retry", "true"))
	require.Zero(t, r.metric(t, "cowbell_notifications_failed_total", "notifier", "rec", "retry", "true"))
	require.Zero(t, r.metric(t, "cowbell_outbox_dead_total", "notifier", "hook"))
	pending, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Empty(t, pending)

	// The failures were all on the first notification; the log says when they started,
	// changed and cleared, not once per attempt.
	require.NotEmpty(t, r.logged("delivery failed, will retry"))
	require.LessOrEqual(t, len(r.logged("delivery failed, will retry")), len(failures))
	require.Equal(t, []string{"a"}, r.logged("delivery recovered"))
	waits := clk.Waits()
	require.Len(t, waits, len(failures), "one backoff per failure")
	require.Greater(t, waits[4], waits[0], "the backoff grows")
}

func labels(incs []*incidents.Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, label(inc))
	}
	return out
}

// A 429 with Retry-After: 1 is waited out even though the backoff is shorter.
func TestDispatcherHonoursRetryAfter(t *testing.T) {
	clk := newClock(time.Now())
	ep := newEndpoint(t, clk, func(n int, _ *incidents.Incident) (int, bool, http.Header, string) {
		if n == 1 {
			return http.StatusTooManyRequests, false, http.Header{"Retry-After": {"1"}}, "slow down"
		}
		return http.StatusNoContent, false, nil, ""
	})
	st := openStore(t, t.TempDir())
	defer st.Close()
	cfg := notifiers.DispatcherConfig{Timeout: 5 * time.Second, MinBackoff: 10 * time.Millisecond}
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": newWebhook(t, ep.URL)}, cfg, clk)
	want := enqueue(t, st, []string{"hook"}, incident("a", 1, incidents.StatusFiring))
	stop := r.start(t)
	waitFor(t, "delivery after the wait", func() bool { return len(ep.received()) == 1 })
	require.NoError(t, stop())

	require.Equal(t, want, ep.received())
	times := ep.requestTimes()
	require.Len(t, times, 2)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), time.Second, "the second attempt waited for Retry-After")
	require.Equal(t, []time.Duration{time.Second}, clk.Waits())
}

// A 400 is not retried: the entry goes to the dead letters with the endpoint's answer,
// loudly, and the entries behind it are still delivered.
func TestDispatcherDeadLettersPermanentFailure(t *testing.T) {
	clk := newClock(time.Now())
	ep := newEndpoint(t, clk, func(_ int, inc *incidents.Incident) (int, bool, http.Header, string) {
		if inc.Key == "bad" {
			return http.StatusBadRequest, false, nil, "invalid payload: missing field summary"
		}
		return http.StatusOK, false, nil, ""
	})
	st := openStore(t, t.TempDir())
	defer st.Close()
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": newWebhook(t, ep.URL)}, notifiers.DefaultDispatcherConfig, clk)
	enqueue(t, st, []string{"hook"}, incident("good", 1, incidents.StatusFiring), incident("bad", 1, incidents.StatusFiring), incident("good", 2, incidents.StatusFiring))
	stop := r.start(t)
	waitFor(t, "the good ones arrive", func() bool { return len(ep.received()) == 2 })
	require.NoError(t, stop())

	require.Equal(t, []string{"good#1", "good#2"}, ep.received())
	dead, err := st.DeadLetters("hook")
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "bad", dead[0].Key)
	require.Contains(t, dead[0].LastError, "400")
	require.Contains(t, dead[0].LastError, "invalid payload: missing field summary")
	require.NotContains(t, dead[0].LastError, ep.URL)
	require.Equal(t, 1.0, r.metric(t, "cowbell_outbox_dead_total", "notifier", "hook"))
	require.Equal(t, 1.0, r.metric(t, "cowbell_notifications_failed_total", "notifier", "hook", "retry", "false"))
	require.Equal(t, 2.0, r.metric(t, "cowbell_notifications_sent_total", "notifier", "hook"))
	require.Equal(t, []string{"bad"}, r.logged("delivery given up, notification moved to dead letters"))
	require.Empty(t, clk.Waits(), "nothing was retried")
}

// TestDispatcherDropFloodLogsOnce: drops at the bound keep coming, over many rounds (a
// flood of incidents against an endpoint that does not answer); each is counted, and
// the log says so once per interval, not once per drop.
func TestDispatcherDropFloodLogsOnce(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	hung := notifyFunc(func(ctx context.Context, _ *incidents.Incident) (bool, error) {
		<-ctx.Done() // every attempt times out
		return true, ctx.Err()
	})
	// Backoff of 1ms on the virtual clock: the log interval (10s) never passes.
	cfg := notifiers.DispatcherConfig{MaxEntries: 2, Concurrency: 1, Timeout: 5 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	r := newRig(t, st, map[string]notifiers.Notifier{"rec": hung}, cfg, newClock(time.Now()))
	stop := r.start(t)
	for i := 1; i <= 100; i++ {
		enqueue(t, st, []string{"rec"}, incident(fmt.Sprintf("k%d", i), 1, incidents.StatusFiring))
	}
	waitFor(t, "the drops", func() bool {
		return r.metric(t, "cowbell_outbox_dropped_total", "notifier", "rec", "reason", "max_entries") == 98
	})
	require.NoError(t, stop())
	require.Len(t, r.logs.FilterMessage("outbox bound reached, notifications dropped undelivered").All(), 1)
}

// A notifier's own permanent error (not HTTP) is dead-lettered too, and a queued body
// that is not an incident does not block the queue.
func TestDispatcherDeadLettersNotifierError(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := notifierstest.New(notifierstest.Result{Err: errors.New("channel_not_found")})
	cfg := notifiers.DefaultDispatcherConfig
	cfg.Concurrency = 1 // the scripted error goes to the first in the queue
	r := newRig(t, st, map[string]notifiers.Notifier{"rec": rec}, cfg, newClock(time.Now()))
	enqueue(t, st, []string{"rec"}, incident("a", 1, incidents.StatusFiring), incident("b", 1, incidents.StatusFiring))
	stop := r.start(t)
	rec.WaitDelivered(t, 1)
	require.NoError(t, stop())
	require.Equal(t, []string{"b#1"}, labels(rec.Delivered()))
	dead, err := st.DeadLetters("rec")
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "channel_not_found", dead[0].LastError)
}

func TestDispatcherBoundDropsOldest(t *testing.T) {
	tests := []struct {
		name      string
		cfg       notifiers.DispatcherConfig
		clockAt   time.Duration // from now
		reason    string
		dropped   int
		delivered []string
	}{
		{"max entries", notifiers.DispatcherConfig{MaxEntries: 3}, 0, "max_entries", 2, []string{"k#3", "k#4", "k#5"}},
		{"max age", notifiers.DispatcherConfig{MaxAge: time.Hour}, 2 * time.Hour, "max_age", 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			defer st.Close()
			rec := notifierstest.New()
			r := newRig(t, st, map[string]notifiers.Notifier{"rec": rec}, tt.cfg, newClock(time.Now().Add(tt.clockAt)))
			for i := 1; i <= 5; i++ {
				enqueue(t, st, []string{"rec"}, incident("k", i, incidents.StatusFiring))
			}
			stop := r.start(t)
			waitFor(t, "the drops", func() bool {
				return r.metric(t, "cowbell_outbox_dropped_total", "notifier", "rec", "reason", tt.reason) == float64(tt.dropped)
			})
			if len(tt.delivered) > 0 {
				rec.WaitDelivered(t, len(tt.delivered))
			}
			waitFor(t, "the outbox drains", func() bool { return r.metric(t, "cowbell_outbox_pending", "notifier", "rec") == 0 })
			require.NoError(t, stop())
			require.Equal(t, tt.delivered, labels(rec.Delivered()))
			// Counted one by one, said once: a flood of drops is not a flood of log.
			lines := r.logs.FilterMessage("outbox bound reached, notifications dropped undelivered").All()
			require.Len(t, lines, 1)
			require.EqualValues(t, tt.dropped, lines[0].ContextMap()["dropped"])
		})
	}
}

// extras is a receiver with the optional interfaces: it records what it was primed
// with and runs until delivery stops.
type extras struct {
	notifyFunc
	primed  chan []*incidents.Incident
	running chan struct{}
	stopped chan struct{}
}

func (e *extras) Prime(incs []*incidents.Incident) { e.primed <- incs }

func (e *extras) Run(ctx context.Context) error {
	close(e.running)
	<-ctx.Done()
	close(e.stopped)
	return ctx.Err()
}

// TestDispatcherRunsExtras: the Dispatcher primes the receivers that keep a live view
// with the incidents routed to them, runs Runners beside their queues and stops them
// with delivery; a receiver without the extras is left alone.
func TestDispatcherRunsExtras(t *testing.T) {
	st := openStore(t, t.TempDir())
	plain := notifyFunc(func(context.Context, *incidents.Incident) (bool, error) { return false, nil })
	am := &extras{notifyFunc: plain, primed: make(chan []*incidents.Incident, 1), running: make(chan struct{}), stopped: make(chan struct{})}
	r := newRig(t, st, map[string]notifiers.Notifier{"am": am, "hook": plain}, notifiers.DispatcherConfig{}, newClock(time.Now()))

	open := []*incidents.Incident{{Key: "kernel/oom-kill@h", Status: incidents.StatusFiring}}
	r.d.Prime(map[string][]*incidents.Incident{"am": open, "hook": open, "gone": open})
	require.Equal(t, open, <-am.primed)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	<-am.running
	cancel()
	require.NoError(t, <-done, "a Runner stopped by shutdown is no failure")
	<-am.stopped
}

// TestDispatcherConcurrentKeepsKeyOrder: by default different incidents go out side by
// side, at most Concurrency at once, while each incident's notifications arrive in
// order and exactly once, through failures.
func TestDispatcherConcurrentKeepsKeyOrder(t *testing.T) {
	const keys, perKey, concurrency = 12, 5, 4
	st := openStore(t, t.TempDir())
	defer st.Close()
	var (
		mu           sync.Mutex
		inFlight     int
		maxInFlight  int
		calls        int
		delivered    []string
		deliveredSet = map[string]int{}
	)
	n := notifyFunc(func(_ context.Context, inc *incidents.Incident) (bool, error) {
		mu.Lock()
		calls++
		call := calls
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // let attempts overlap
		mu.Lock()
		defer mu.Unlock()
		inFlight--
		// The endpoint fails for a stretch now and then: calls 9-12 and 30-31.
		if (call >= 9 && call <= 12) || call == 30 || call == 31 {
			return true, errors.New("endpoint answered 503 Service Unavailable")
		}
		delivered = append(delivered, label(inc))
		deliveredSet[label(inc)]++
		return false, nil
	})
	cfg := notifiers.DispatcherConfig{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Concurrency: concurrency}
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": n}, cfg, newClock(time.Now()))
	var want []string
	for c := 1; c <= perKey; c++ {
		var incs []*incidents.Incident
		for k := range keys {
			incs = append(incs, incident(fmt.Sprintf("k%02d", k), c, incidents.StatusFiring))
		}
		want = append(want, enqueue(t, st, []string{"hook"}, incs...)...)
	}
	stop := r.start(t)
	waitFor(t, "everything delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) >= len(want)
	})
	require.NoError(t, stop())

	mu.Lock()
	defer mu.Unlock()
	require.ElementsMatch(t, want, delivered, "every notification, once")
	for l, n := range deliveredSet {
		require.Equal(t, 1, n, l)
	}
	last := map[string]int{}
	for _, l := range delivered {
		var key string
		var count int
		_, err := fmt.Sscanf(strings.Replace(l, "#", " ", 1), "%s %d", &key, &count)
		require.NoError(t, err)
		require.Equal(t, last[key]+1, count, "%s arrives in order: %v", key, delivered)
		last[key] = count
	}
	require.Equal(t, concurrency, maxInFlight, "side by side, up to the limit")
	require.Zero(t, st.Len("hook"))
}

// TestDispatcherSlowAnswerHoldsBackOnlyItsIncident: an endpoint slow to answer for
// one incident does not hold back the others: a free slot takes the next incident as
// soon as an attempt ends, not once the slowest of a round has answered.
func TestDispatcherSlowAnswerHoldsBackOnlyItsIncident(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	release := make(chan struct{})
	var mu sync.Mutex
	var delivered []string
	allOthers := make(chan struct{})
	const others = 20
	n := notifyFunc(func(ctx context.Context, inc *incidents.Incident) (bool, error) {
		if inc.Key == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return true, context.Cause(ctx)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, label(inc))
		if len(delivered) == others {
			close(allOthers)
		}
		return false, nil
	})
	cfg := notifiers.DispatcherConfig{Concurrency: 4, Timeout: time.Hour}
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": n}, cfg, newClock(time.Now()))
	incs := []*incidents.Incident{incident("slow", 1, incidents.StatusFiring)}
	for i := range others {
		incs = append(incs, incident(fmt.Sprintf("k%02d", i), 1, incidents.StatusFiring))
	}
	want := enqueue(t, st, []string{"hook"}, incs...)
	stop := r.start(t)
	select {
	case <-allOthers:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		close(release)
		require.NoError(t, stop())
		t.Fatalf("while one incident's answer is slow, the others wait: %d of %d delivered", len(delivered), others)
	}
	close(release)
	waitFor(t, "the slow one delivered too", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) == len(want)
	})
	require.NoError(t, stop())
	require.ElementsMatch(t, want, delivered)
	require.Zero(t, st.Len("hook"))
}

// TestDispatcherRounds: what one round sends. Healthy: the oldest entry of each key, up
// to the limit, past keys waiting out their backoff. Failing: the head alone, once due.
func TestDispatcherRounds(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	t0 := time.Now()
	clk := newClock(t0)
	enqueue(t, st, []string{"hook"}, incident("a", 1, incidents.StatusFiring), incident("a", 2, incidents.StatusFiring),
		incident("b", 1, incidents.StatusFiring), incident("c", 1, incidents.StatusFiring), incident("b", 2, incidents.StatusFiring),
		incident("d", 1, incidents.StatusFiring), incident("e", 1, incidents.StatusFiring))
	out, err := st.Outbox("hook")
	require.NoError(t, err)
	require.NoError(t, st.Postpone("hook", out[3].Seq, t0.Add(time.Minute), "503")) // c#1 waits

	cfg := notifiers.DispatcherConfig{Concurrency: 3}
	d := notifiers.NewDispatcher(st, map[string]notifiers.Notifier{"hook": notifierstest.New()}, cfg, zaptest.NewLogger(t), nil)
	notifiers.SetClock(d, clk.Now, clk.After)
	round, _ := notifiers.Round(t, d, "hook", false)
	require.Equal(t, []string{"a#1", "b#1", "d#1"}, round, "a#2 and b#2 wait for their keys; c#1 for its backoff")
	round, _ = notifiers.Round(t, d, "hook", true)
	require.Equal(t, []string{"a#1"}, round, "failing: the head alone")

	require.NoError(t, st.Postpone("hook", out[0].Seq, t0.Add(30*time.Second), "503"))
	round, wait := notifiers.Round(t, d, "hook", true)
	require.Empty(t, round, "failing: nothing passes the head while it backs off")
	require.Equal(t, 30*time.Second, wait)
	round, _ = notifiers.Round(t, d, "hook", false)
	require.Equal(t, []string{"b#1", "d#1", "e#1"}, round)
}

// TestDispatcherMemoryLane: what the store could not take is delivered from memory, in
// order; Unsent says what is left, and once Stored it is left to the store.
func TestDispatcherMemoryLane(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	var mu sync.Mutex
	up := true
	var got []string
	n := notifyFunc(func(_ context.Context, inc *incidents.Incident) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			return true, errors.New("endpoint answered 503")
		}
		got = append(got, label(inc))
		return false, nil
	})
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": n}, notifiers.DispatcherConfig{MinBackoff: time.Hour, MaxBackoff: time.Hour}, newClock(time.Now()))
	stop := r.start(t)
	offer := func(incs ...*incidents.Incident) {
		var ds []state.Delivery
		for _, inc := range incs {
			b, err := json.Marshal(inc)
			require.NoError(t, err)
			ds = append(ds, state.Delivery{Notifier: "hook", Key: inc.Key, Incident: b}, state.Delivery{Notifier: "gone", Key: inc.Key, Incident: b})
		}
		r.d.Offer(ds)
	}
	offer(incident("a", 1, incidents.StatusFiring), incident("b", 1, incidents.StatusFiring))
	waitFor(t, "delivered from memory", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	require.Equal(t, []string{"a#1", "b#1"}, got)
	require.Empty(t, r.d.Unsent().Deliveries)

	mu.Lock()
	up = false
	mu.Unlock()
	offer(incident("c", 1, incidents.StatusFiring), incident("a", 2, incidents.StatusFiring))
	waitFor(t, "an attempt failed", func() bool {
		return r.metric(t, "cowbell_notifications_failed_total", "notifier", "hook", "retry", "true") >= 1
	})
	u := r.d.Unsent()
	require.Equal(t, []string{"c", "a"}, []string{u.Deliveries[0].Key, u.Deliveries[1].Key}, "oldest first; a receiver not configured is left out")
	require.Len(t, u.Deliveries, 2)
	u.Stored()
	require.Empty(t, r.d.Unsent().Deliveries, "in the store now")
	require.NoError(t, stop())
	require.Equal(t, []string{"a#1", "b#1"}, got)
	require.Zero(t, st.Len("hook"), "the memory lane never writes the store")
}
