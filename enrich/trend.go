package enrich

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// trendSamples is how many samples the trend keeps: an hour at the default 30s
// interval.
const trendSamples = 120

// MinTrendSpan is how long the samples must span before a growth rate is given: two
// samples seconds apart (a restart, a burst of incidents) extrapolate any jitter of
// Committed_AS to gigabytes an hour.
const MinTrendSpan = 10 * time.Minute

// sample is what the trend keeps of one fresh snapshot.
type sample struct {
	at          time.Time
	committedKB int64
	memTotalKB  int64
	// oomKill holds each memory cgroup's oom_kill counter, keyed by version and path.
	oomKill map[string]int64
	// cgroups holds the cgroups read, by the same key, and who lives there.
	cgroups map[string]cgroupSeen
}

// cgroupSeen is a memory cgroup as one sample read it.
type cgroupSeen struct {
	cg  facts.Cgroup
	who string
}

// history is the ring of samples taken by Fresh.
type history struct {
	samples []sample
}

// sampleOf extracts a sample from a snapshot; ok is false when meminfo was not read.
func sampleOf(s *facts.Snapshot) (sample, bool) {
	sm := sample{at: s.Taken, oomKill: map[string]int64{}, cgroups: map[string]cgroupSeen{}}
	if s.Cgroup.Version > 0 {
		sm.oomKill[cgroupKey(s.Cgroup)] = s.Cgroup.OOMKill
		sm.cgroups[cgroupKey(s.Cgroup)] = cgroupSeen{cg: s.Cgroup, who: "cowbell"}
	}
	for _, p := range s.Processes {
		if p.Cgroup.Version > 0 {
			k := cgroupKey(p.Cgroup)
			sm.oomKill[k] = p.Cgroup.OOMKill
			// the target is who matters in a cgroup shared with cowbell (a plain host)
			sm.cgroups[k] = cgroupSeen{cg: p.Cgroup, who: p.Comm + " pid " + strconv.Itoa(p.PID)}
		}
	}
	total, ok := s.Meminfo["MemTotal"]
	sm.committedKB, sm.memTotalKB = s.Meminfo["Committed_AS"], total
	return sm, ok
}

func cgroupKey(cg facts.Cgroup) string {
	return strconv.Itoa(cg.Version) + ":" + cg.Path
}

// add keeps sm, dropping the oldest sample beyond trendSamples.
func (h *history) add(sm sample) {
	h.samples = append(h.samples, sm)
	if len(h.samples) > trendSamples {
		h.samples = append(h.samples[:0], h.samples[len(h.samples)-trendSamples:]...)
	}
}

// trend compares cur with the kept samples, as if cur were the newest of them, and
// fits Committed_AS over them (a zero line until they span MinTrendSpan).
func (h *history) trend(cur sample, ok bool) (facts.Trend, line) {
	var t facts.Trend
	var prev *sample
	if n := len(h.samples); n > 0 {
		prev = &h.samples[n-1]
		t.OOMKillDelta, t.OOMKills = oomKillDelta(prev.oomKill, cur)
	}
	series := h.samples
	if ok {
		series = append(series[:len(series):len(series)], cur)
	}
	if len(series) > trendSamples {
		series = series[len(series)-trendSamples:]
	}
	t.Samples = len(series)
	if len(series) < 2 {
		return t, line{}
	}
	first, last := series[0], series[len(series)-1]
	t.SpanSeconds = last.at.Sub(first.at).Seconds()
	t.MemTotalChangedKB = last.memTotalKB - first.memTotalKB
	var l line
	if last.at.Sub(first.at) >= MinTrendSpan {
		l = robustFit(series)
		t.CommittedGrowthKBPerHour = l.slopePerHour
	}
	return t, l
}

// oomKillDelta sums how far each cgroup's oom_kill counter rose. A cgroup seen for the
// first time adds nothing; a counter that went down belongs to a recreated cgroup, so
// all of its count is new.
func oomKillDelta(prev map[string]int64, cur sample) (int64, []facts.OOMKill) {
	var d int64
	var kills []facts.OOMKill
	for k, v := range cur.oomKill {
		p, seen := prev[k]
		var rose int64
		switch {
		case !seen:
		case v >= p:
			rose = v - p
		default:
			rose = v
		}
		if rose > 0 {
			d += rose
			c := cur.cgroups[k]
			kills = append(kills, facts.OOMKill{Cgroup: c.cg, Delta: rose, Process: c.who})
		}
	}
	slices.SortFunc(kills, func(a, b facts.OOMKill) int {
		return cmp.Or(cmp.Compare(b.Delta, a.Delta), cmp.Compare(a.Cgroup.Path, b.Cgroup.Path))
	})
	return d, kills
}

// outlierSigmas is how many standard deviations (estimated from the median absolute
// deviation of the residuals, which one spike does not inflate) a sample may lie off
// the first fit before the second leaves it out.
const outlierSigmas = 3.5

// madToSigma turns a median absolute deviation into a normal standard deviation.
const madToSigma = 1.4826

// line is a fit of Committed_AS over time: its slope, its value at the newest
// sample, and how many samples it rests on and left out. ok is false without a fit.
type line struct {
	slopePerHour float64
	nowKB        float64
	samples      int
	outliers     int
	ok           bool
}

// robustFit fits Committed_AS over the samples by least squares, as Prometheus's
// predict_linear does, then fits again without the samples that lie more than
// outlierSigmas off the first line (the deviation estimated from the residuals'
// median absolute deviation, which a spike does not inflate): a one-off burst near
// either end of the window would otherwise tilt the line and move the forecast by
// hours. Periodic load is not an outlier: a sawtooth of amplitude A and period P
// reads, over a window W, as a climb of up to about A·P/W² (see docs/pack.md).
//
// The line's value at the newest sample is where Committed_AS stands now.
func robustFit(series []sample) line {
	if len(series) < 2 {
		return line{}
	}
	t0 := series[len(series)-1].at
	xs := make([]float64, len(series))
	ys := make([]float64, len(series))
	for i, s := range series {
		xs[i], ys[i] = s.at.Sub(t0).Hours(), float64(s.committedKB)
	}
	slope, at0, ok := leastSquares(xs, ys, nil)
	if !ok {
		return line{}
	}
	dev := make([]float64, len(xs))
	for i := range xs {
		dev[i] = math.Abs(ys[i] - (at0 + slope*xs[i]))
	}
	sorted := slices.Clone(dev)
	slices.Sort(sorted)
	limit := outlierSigmas * madToSigma * median(sorted)
	keep := make([]bool, len(xs))
	dropped := 0
	for i, d := range dev {
		// on a perfect line the deviation is 0: keep what lies on it
		keep[i] = d <= limit || limit == 0 && d < 1
		if !keep[i] {
			dropped++
		}
	}
	if dropped > 0 {
		s2, a2, ok := leastSquares(xs, ys, keep)
		if !ok {
			return line{slopePerHour: slope, nowKB: at0, samples: len(xs), ok: true}
		}
		slope, at0 = s2, a2
	}
	return line{slopePerHour: slope, nowKB: at0, samples: len(xs) - dropped, outliers: dropped, ok: true}
}

// leastSquares fits y = a + b·x over the points kept (all when keep is nil),
// computed around the means so large kB values do not cancel out; it returns b and
// a (the value at x = 0). ok is false when x does not vary.
func leastSquares(xs, ys []float64, keep []bool) (b, a float64, ok bool) {
	var n, mx, my float64
	for i := range xs {
		if keep == nil || keep[i] {
			n++
			mx += xs[i]
			my += ys[i]
		}
	}
	if n < 2 {
		return 0, 0, false
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range xs {
		if keep == nil || keep[i] {
			dx := xs[i] - mx
			sxx += dx * dx
			sxy += dx * (ys[i] - my)
		}
	}
	if sxx == 0 {
		return 0, 0, false
	}
	b = sxy / sxx
	return b, my - b*mx, true
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
