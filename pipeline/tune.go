package pipeline

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/matcher"
)

// The live run fits its matcher's prefilter to the logs it reads, as replay does:
// the first tuneLines lines read are the sample (on a quiet host, those read in the
// first tuneAfter, once there are tuneMin of them). The tuned Matcher is built beside
// the loop and swapped into the tracker by the loop, between two lines; hits are the
// same with either, only the time a line takes changes.
const (
	tuneAfter = 10 * time.Minute
	tuneMin   = 256
)

// tuner gathers the sample and builds the tuned Matcher. It is the loop's: only the
// build runs on a goroutine of its own, which wait waits for.
type tuner struct {
	base   *matcher.Matcher
	sample []string
	since  time.Time
	asked  bool // the build was started
	lines  int  // the sample's size, once asked
	out    chan *matcher.Matcher
	wg     sync.WaitGroup
}

func newTuner(base *matcher.Matcher, now time.Time) *tuner {
	return &tuner{base: base, since: now, out: make(chan *matcher.Matcher, 1)}
}

// note adds a line's text to the sample, and starts the build once it is full. The
// text is copied: a line's text may be a substring of its whole read (a file
// source's chunk), which the sample would keep in memory.
func (t *tuner) note(text string) {
	if t.asked {
		return
	}
	t.sample = append(t.sample, strings.Clone(text))
	if len(t.sample) >= tuneLines {
		t.start()
	}
}

// tick starts the build with the sample so far once tuneAfter has passed, if it
// holds tuneMin lines.
func (t *tuner) tick(now time.Time) {
	if !t.asked && len(t.sample) >= tuneMin && now.Sub(t.since) >= tuneAfter {
		t.start()
	}
}

func (t *tuner) start() {
	t.asked, t.lines = true, len(t.sample)
	sample := t.sample
	t.sample = nil
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.out <- t.base.Tune(sample)
	}()
}

func (t *tuner) wait() { t.wg.Wait() }

// swap makes the tuned Matcher the tracker's.
func (p *Pipeline) swap(m *matcher.Matcher, lines int) {
	if err := p.inc.tracker.SetMatcher(m); err != nil {
		p.log.Warn("tuned matcher not taken", zap.Error(err))
		return
	}
	p.log.Info("matcher fitted to the logs read", zap.Int("lines", lines))
	if p.inc.onTuned != nil {
		p.inc.onTuned()
	}
}
