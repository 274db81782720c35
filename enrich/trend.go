package enrich

import (
	"cmp"
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

// trend compares cur with the kept samples, as if cur were the newest of them.
func (h *history) trend(cur sample, ok bool) facts.Trend {
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
		return t
	}
	first, last := series[0], series[len(series)-1]
	t.SpanSeconds = last.at.Sub(first.at).Seconds()
	t.MemTotalChangedKB = last.memTotalKB - first.memTotalKB
	if last.at.Sub(first.at) >= MinTrendSpan {
		t.CommittedGrowthKBPerHour = slopePerHour(series)
	}
	return t
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

// slopePerHour is the least-squares slope of Committed_AS over time, in kB per hour,
// computed around the means so large kB values do not cancel out.
func slopePerHour(series []sample) float64 {
	t0 := series[0].at
	var mx, my float64
	for _, s := range series {
		mx += s.at.Sub(t0).Hours()
		my += float64(s.committedKB)
	}
	n := float64(len(series))
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, s := range series {
		dx := s.at.Sub(t0).Hours() - mx
		sxx += dx * dx
		sxy += dx * (float64(s.committedKB) - my)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}
