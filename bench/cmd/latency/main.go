// Command latency measures how long a log line takes to become a webhook request:
// it writes ordinary lines at a steady rate to a followed file (or to journald), stamps
// each incident line it writes with the time of the write, and receives the webhook
// requests cowbell makes, computing each incident's latency from the stamp in its
// line and the request's arrival. bench/latency.sh runs it against `cowbell run`.
//
//	latency run [flags]           write, receive, print the phases' figures
//	latency stats FILE...         p50/p90/p99/max of latency files that run -out wrote
//
// A run writes background lines for -warmup, then -steady seconds of incidents at
// -incidents a second, waits for them, then (with -burst N) N distinct incidents
// within one second, in -burst-writes writes evenly spread, and waits for those. The
// background goes on throughout. Every incident line is distinct (its own id, hence
// its own incident key) and carries the time taken right before its write(2) (to
// journald: before the sends of its clump).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/cowbell-sidecar/cowbell/bench/corpus"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "stats":
		err = statsCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: latency run [flags] | latency stats FILE...")
	os.Exit(2)
}

// probe is how an incident line reads; the rule bench/latency.sh writes matches it.
var probe = regexp.MustCompile(`latency-probe id=(\d+) at=(\d+)`)

type options struct {
	listen    string
	file      string
	ident     string // journal SYSLOG_IDENTIFIER; "" writes to file
	rate      int
	incidents int
	steady    time.Duration
	burst     int
	clumps    int
	warmup    time.Duration
	wait      time.Duration
	idBase    int
	out       string
	ready     string
}

func runCmd(args []string) error {
	var o options
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "the webhook receiver's address")
	fs.StringVar(&o.file, "file", "", "append the lines to this file")
	fs.StringVar(&o.ident, "journal", "", "send the lines to journald with this SYSLOG_IDENTIFIER")
	fs.IntVar(&o.rate, "rate", 10000, "ordinary lines a second")
	fs.IntVar(&o.incidents, "incidents", 10, "incident lines a second in the steady phase")
	fs.DurationVar(&o.steady, "steady", 20*time.Second, "how long the steady phase writes incidents")
	fs.IntVar(&o.burst, "burst", 500, "distinct incidents within one second after the steady phase (0: none)")
	fs.IntVar(&o.clumps, "burst-writes", 10, "the burst comes in this many writes, evenly over its second")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "background only, before the first incident")
	fs.DurationVar(&o.wait, "wait", 60*time.Second, "how long to wait for a phase's last requests")
	fs.IntVar(&o.idBase, "id-base", 1, "the first incident id")
	fs.StringVar(&o.out, "out", "", "write PHASE LATENCY_NS lines here")
	fs.StringVar(&o.ready, "ready", "", "write the receiver's address to this file once it listens")
	_ = fs.Parse(args)
	if (o.file == "") == (o.ident == "") {
		return errors.New("exactly one of -file and -journal")
	}
	w, err := newWriter(o)
	if err != nil {
		return err
	}
	defer w.close()

	rec := newReceiver()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rec, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if o.ready != "" {
		if err := os.WriteFile(o.ready, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	bg := make(chan error, 1)
	go func() { bg <- w.background(ctx, o.rate) }()

	var results []phaseResult
	sleepCtx(ctx, o.warmup)
	next := o.idBase
	steadyN := int(o.steady.Seconds() * float64(o.incidents))
	clumps := max(1, min(o.clumps, o.burst))
	phases := []struct {
		name  string
		n     int
		clump int // lines a write
		every time.Duration
	}{
		{"steady", steadyN, 1, time.Second / time.Duration(max(1, o.incidents))},
		{"burst", o.burst, (o.burst + clumps - 1) / clumps, time.Second / time.Duration(clumps)},
	}
	for _, ph := range phases {
		if ph.n == 0 {
			continue
		}
		ids, err := w.incidents(ctx, next, ph.n, ph.clump, ph.every)
		if err != nil {
			return err
		}
		next += ph.n
		got := rec.await(ids, o.wait)
		results = append(results, phaseResult{name: ph.name, sent: ph.n, lat: got})
		sleepCtx(ctx, time.Second) // the background alone between phases
	}
	stop()
	if err := <-bg; err != nil {
		return err
	}
	if o.out != "" {
		if err := writeOut(o.out, results); err != nil {
			return err
		}
	}
	for _, r := range results {
		fmt.Println(r.name, summary(r.lat, r.sent))
	}
	for _, r := range results {
		if len(r.lat) < r.sent {
			return fmt.Errorf("%s: %d of %d incidents did not arrive within %s", r.name, r.sent-len(r.lat), r.sent, o.wait)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

type phaseResult struct {
	name string
	sent int
	lat  []time.Duration
}

// writer writes ordinary lines and incident lines to a file or to journald.
type writer struct {
	f     *os.File
	ident string
	pool  []string // ordinary lines, cycled
	mu    sync.Mutex
}

func newWriter(o options) (*writer, error) {
	w := &writer{ident: o.ident}
	g := corpus.NewGen(7)
	for range 20000 {
		w.pool = append(w.pool, g.Ordinary())
	}
	if o.ident != "" {
		if _, err := testenv.StartJournald(); err != nil {
			return nil, err
		}
		if !journal.Enabled() {
			return nil, errors.New("journald does not answer")
		}
		return w, nil
	}
	f, err := os.OpenFile(o.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	w.f = f
	return w, nil
}

func (w *writer) close() {
	if w.f != nil {
		w.f.Close()
	}
	_ = testenv.StopJournald()
}

// background writes rate ordinary lines a second, in a write every 10 ms, until ctx
// is done.
func (w *writer) background(ctx context.Context, rate int) error {
	if rate <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	start, written, i := time.Now(), 0, 0
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			if w.f != nil {
				buf = buf[:0]
				for ; written < due; written++ {
					buf = append(buf, w.pool[i%len(w.pool)]...)
					buf = append(buf, '\n')
					i++
				}
				if err := w.write(buf); err != nil {
					return err
				}
				continue
			}
			for ; written < due; written++ {
				if err := journal.Send(w.pool[i%len(w.pool)], journal.PriInfo, map[string]string{"SYSLOG_IDENTIFIER": w.ident}); err != nil {
					return fmt.Errorf("journal send: %w", err)
				}
				i++
			}
		}
	}
}

func (w *writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.f.Write(b)
	return err
}

// incidents writes n incident lines with ids from first, clump lines a write (to
// journald: clump sends in a row) and a write every `every`, each line stamped right
// before its write; it returns their ids.
func (w *writer) incidents(ctx context.Context, first, n, clump int, every time.Duration) ([]int, error) {
	ids := make([]int, 0, n)
	start := time.Now()
	var buf []byte
	for k := 0; k*clump < n; k++ {
		if d := time.Until(start.Add(time.Duration(k) * every)); d > 0 {
			sleepCtx(ctx, d)
		}
		buf = buf[:0]
		stamp := time.Now().UnixNano()
		for id := first + k*clump; id < first+min(n, (k+1)*clump); id++ {
			text := fmt.Sprintf("app[42]: latency-probe id=%d at=%d", id, stamp)
			if w.f == nil {
				if err := journal.Send(text, journal.PriErr, map[string]string{"SYSLOG_IDENTIFIER": w.ident}); err != nil {
					return nil, fmt.Errorf("journal send: %w", err)
				}
			}
			buf = append(append(buf, text...), '\n')
			ids = append(ids, id)
		}
		if w.f != nil {
			if err := w.write(buf); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// receiver is the webhook endpoint: it notes when each probe's first request arrived.
type receiver struct {
	mu      sync.Mutex
	arrived map[int]time.Duration // id → arrival minus the line's stamp
	changed chan struct{}
}

func newReceiver() *receiver {
	return &receiver{arrived: map[int]time.Duration{}, changed: make(chan struct{})}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The probe's text needs no JSON escaping: it is found in the body as it is,
	// which keeps the receiver's own CPU small beside cowbell's.
	r.mu.Lock()
	for _, m := range probe.FindAllSubmatch(body, -1) {
		id, _ := strconv.Atoi(string(m[1]))
		stamp, _ := strconv.ParseInt(string(m[2]), 10, 64)
		if _, seen := r.arrived[id]; !seen {
			r.arrived[id] = at.Sub(time.Unix(0, stamp))
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// await waits up to wait for the requests of ids and returns the latencies that came.
func (r *receiver) await(ids []int, wait time.Duration) []time.Duration {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		var got []time.Duration
		for _, id := range ids {
			if d, ok := r.arrived[id]; ok {
				got = append(got, d)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(got) == len(ids) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			return got
		}
	}
}

func writeOut(path string, results []phaseResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, r := range results {
		fmt.Fprintf(bw, "# %s sent %d\n", r.name, r.sent)
		for _, d := range r.lat {
			fmt.Fprintf(bw, "%s %d\n", r.name, d.Nanoseconds())
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// statsCmd pools the latency files of several runs and prints each phase's figures.
func statsCmd(files []string) error {
	lat := map[string][]time.Duration{}
	sent := map[string]int{}
	var order []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 4 && f[0] == "#":
				n, _ := strconv.Atoi(f[3])
				if _, ok := sent[f[1]]; !ok {
					order = append(order, f[1])
				}
				sent[f[1]] += n
			case len(f) == 2:
				ns, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return fmt.Errorf("%s: %q: %w", name, line, err)
				}
				lat[f[0]] = append(lat[f[0]], time.Duration(ns))
			}
		}
	}
	for _, ph := range order {
		fmt.Println(ph, summary(lat[ph], sent[ph]))
	}
	return nil
}

// summary prints n, p50, p90, p99 and max of ds in milliseconds.
func summary(ds []time.Duration, sent int) string {
	if len(ds) == 0 {
		return fmt.Sprintf("n=0/%d", sent)
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return float64(s[max(0, min(i, len(s)-1))]) / 1e6
	}
	return fmt.Sprintf("n=%d/%d p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms", len(s), sent, q(0.50), q(0.90), q(0.99), float64(s[len(s)-1])/1e6)
}
