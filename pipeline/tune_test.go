package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// TestLiveRunTunesItsMatcher: after its first tuneLines lines the live run swaps in
// a matcher fitted to them, between two lines, and goes on paging: an incident line
// before the swap and one after it both reach the webhook.
func TestLiveRunTunesItsMatcher(t *testing.T) {
	b, err := os.ReadFile("../rules/testdata/samples/ordinary.log")
	require.NoError(t, err)
	var ordinary []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			ordinary = append(ordinary, l)
		}
	}
	dir := t.TempDir()
	url, got := hookServer(t)
	doc := fmt.Sprintf("state_dir: %s\nnotifiers:\n  - {name: hook, type: webhook, url: %q}\n", filepath.Join(dir, "state"), url)
	cfg, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, cfg, Options{Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	src := &chanSource{in: make(chan sources.Line)}
	p.in.sources = []sources.Source{src}
	tuned := make(chan struct{})
	p.inc.onTuned = func() { close(tuned) }
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, p.Close())
	}()

	n := 0
	send := func(text string) {
		n++
		src.in <- sources.Line{Source: "redis", Stream: "redis.log", Text: text, Time: time.Now(),
			Cursor: sources.Cursor{Stream: "redis.log", Pos: strconv.Itoa(n)}}
	}
	// The pack's probes look at this host (a Redis running on it, its overcommit
	// setting): their incidents depend on the host, not on the lines, and are passed
	// over.
	probes := map[string]bool{}
	for _, r := range p.Rules() {
		if r.Probe != nil {
			probes[r.ID] = true
		}
	}
	nextLine := func() incidents.Incident {
		t.Helper()
		for {
			if inc := next(t, got); !probes[inc.Rule.ID] {
				return inc
			}
		}
	}
	oom := "1:M 01 Jan 2024 00:00:00.000 # Can't save in background: fork: Cannot allocate memory"
	send(oom)
	require.Equal(t, "redis/bgsave-fork-enomem", nextLine().Rule.ID, "paged before the swap")
	for n < tuneLines-1 {
		send(ordinary[n%len(ordinary)])
	}
	select {
	case <-tuned:
		t.Fatal("tuned before tuneLines lines")
	default:
	}
	send(ordinary[0])
	select {
	case <-tuned:
	case <-time.After(20 * time.Second):
		t.Fatal("the matcher was not tuned after tuneLines lines")
	}
	send("12:M 01 Jan 2024 00:00:01.000 # Out Of Memory allocating 1048576 bytes!")
	for {
		// The ordinary lines resolved the first incident (a BGSAVE that succeeded).
		inc := nextLine()
		if inc.Status == incidents.StatusFiring {
			require.Equal(t, "redis/allocator-oom", inc.Rule.ID, "paged after the swap")
			return
		}
	}
}

// TestQuietLinesAreCommittedTogether: lines that cause nothing are not committed a
// thousand at a time (an fsync each, which a line that pages then waits behind): their
// cursors go to the store with the next commit that has to happen, here the one of
// an incident after 5,000 of them.
func TestQuietLinesAreCommittedTogether(t *testing.T) {
	// No probes: their snapshot at start would be a commit of its own.
	r := newFileRig(t, `
- id: redis/bgsave-fork-enomem
  title: BGSAVE cannot fork
  match: "Can't save in background: fork: Cannot allocate memory"
`)
	cfg, got := r.cfg, r.got
	cfg.Sources = nil
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	p, err := New(ctx, cfg, Options{Log: zaptest.NewLogger(t), Registry: reg})
	require.NoError(t, err)
	p.out.flushEvery = time.Hour // no commit by the clock during the test
	src := &chanSource{in: make(chan sources.Line)}
	p.in.sources = []sources.Source{src}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, p.Close())
	}()
	for i := range 5000 {
		src.in <- sources.Line{Source: "app", Stream: "app.log", Text: fmt.Sprintf("GET /api/v1/items/%d 200", i), Time: time.Now(),
			Cursor: sources.Cursor{Stream: "app.log", Pos: strconv.Itoa(i)}}
	}
	src.in <- sources.Line{Source: "redis", Stream: "app.log", Time: time.Now(), Cursor: sources.Cursor{Stream: "app.log", Pos: "5000"},
		Text: "1:M 01 Jan 2024 00:00:00.000 # Can't save in background: fork: Cannot allocate memory"}
	require.Equal(t, "redis/bgsave-fork-enomem", next(t, got).Rule.ID)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var commits uint64
	for _, mf := range mfs {
		if mf.GetName() == "cowbell_store_commit_seconds" {
			commits = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	require.Equal(t, uint64(1), commits, "one commit: the incident's, with the cursor past every line before it")
	pos, ok, err := p.out.store.Load(ctx, "app.log")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "5000", pos)
}

// TestTuneSampleIsCopied: the tuner's sample keeps copies of the texts, not
// substrings of the read they came from (a file source carves a read's lines out of
// one string): until the tuned matcher is built, the sample would hold every read.
func TestTuneSampleIsCopied(t *testing.T) {
	chunk := strings.Repeat("an ordinary line of a read\n", 100)
	tu := newTuner(nil, time.Now())
	tu.note(chunk[27:53])
	require.Equal(t, []string{"an ordinary line of a read"}, tu.sample)
	p := uintptr(unsafe.Pointer(unsafe.StringData(tu.sample[0]))) //nolint:gosec // a test comparing addresses
	c := uintptr(unsafe.Pointer(unsafe.StringData(chunk)))        //nolint:gosec // a test comparing addresses
	require.False(t, p >= c && p < c+uintptr(len(chunk)), "the sample holds the read")
}
