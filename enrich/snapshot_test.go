package enrich

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// step swaps one file for its successor and moves the clock before the next snapshot.
type step struct {
	file, next string
	after      time.Duration
}

// fixtureCase is one captured or built host and what its last snapshot must say.
type fixtureCase struct {
	name      string
	steps     []step
	commit    facts.Commit
	kernel    facts.Kernel
	thp       facts.THP
	cgroup    facts.Cgroup
	trend     facts.Trend
	running   map[string]bool
	pids      []int
	container bool
	machineID string
}

const v2CowbellPath = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d1e.slice/cri-containerd-9b2f.scope"

const v1HostPath = "/process_api/7a3a5a901e4c0d490370d40be4492ace"

var fixtureCases = []fixtureCase{
	{
		name: "host",
		commit: facts.Commit{Mode: 0, CommittedKB: 312424, LimitKB: 12341832, Ratio: 312424.0 / 12341832,
			HeadroomKB: 12029408, Mode2LimitKB: 12341832, UsableKB: 24683664, RecommendedKbytes: 21844083},
		kernel: facts.Kernel{Release: "6.18.44-fc-v1147", Major: 6, Minor: 18, Patch: 44},
		thp:    facts.THP{Enabled: "madvise", Defrag: "madvise"},
		cgroup: facts.Cgroup{Version: 1, Path: v1HostPath, LimitBytes: -1, UsageBytes: 143491072,
			PeakBytes: 1442209792, SwapLimit: -1},
		trend:     facts.Trend{Samples: 1},
		running:   map[string]bool{"redis": false, "postgres": false},
		machineID: "3d1219c7c4c5404aaa1f6d2a48adfda4",
	},
	{
		name: "mode2-near-limit",
		commit: facts.Commit{Mode: 2, CommittedKB: 12320768, LimitKB: 13107200, Ratio: 0.94, HeadroomKB: 786432,
			Mode2LimitKB: 13107200, HugepagesKB: 1048576, UsableKB: 15728640, RecommendedKbytes: 14155776},
		kernel: facts.Kernel{Release: "6.1.0-18-amd64", Major: 6, Minor: 1},
		thp:    facts.THP{Enabled: "never", Defrag: "madvise"},
		cgroup: facts.Cgroup{Version: 2, Path: "/system.slice/cowbell.service", LimitBytes: -1,
			UsageBytes: 41943040, PeakBytes: 52428800, SwapLimit: -1},
		trend:     facts.Trend{Samples: 1},
		running:   map[string]bool{"redis": false, "postgres": true},
		pids:      []int{1204, 1311},
		machineID: "4c0ffee0b0a14f5d9e2a7c3b1d8e6f20",
	},
	{
		name: "leak-6.5",
		steps: []step{
			{"proc/meminfo", "proc/meminfo.1", time.Hour},
			{"proc/meminfo", "proc/meminfo.2", time.Hour},
			{"proc/meminfo", "proc/meminfo.3", time.Hour},
		},
		commit: facts.Commit{Mode: 2, CommittedKB: 5550080, LimitKB: 6815744, Ratio: 5550080.0 / 6815744,
			HeadroomKB: 1265664, Mode2LimitKB: 6815744, UsableKB: 8388608, RecommendedKbytes: 7549746},
		kernel: facts.Kernel{Release: "6.5.0-1020-aws", Major: 6, Minor: 5},
		thp:    facts.THP{Enabled: "madvise", Defrag: "madvise"},
		cgroup: facts.Cgroup{Version: 2, Path: "/system.slice/cowbell.service", LimitBytes: -1,
			UsageBytes: 41943040, PeakBytes: 52428800, SwapLimit: -1},
		trend:     facts.Trend{Samples: 4, CommittedGrowthKBPerHour: 102400, SpanSeconds: 3 * 3600},
		running:   map[string]bool{"redis": false, "postgres": false},
		machineID: "d0b05e1f2a3c4d5e6f708192a3b4c5d6", // from var/lib/dbus: no etc/machine-id
	},
	{
		name:  "cgroup-v1",
		steps: []step{{"sys/fs/cgroup/memory/docker/3f9a1c0d5e7b/memory.oom_control", "sys/fs/cgroup/memory/docker/3f9a1c0d5e7b/memory.oom_control.1", time.Minute}},
		commit: facts.Commit{Mode: 1, CommittedKB: 2914316, LimitKB: 3063804, Ratio: 2914316.0 / 3063804,
			HeadroomKB: 149488, Mode2LimitKB: 3063804, UsableKB: 4030464, RecommendedKbytes: 3627417},
		kernel: facts.Kernel{Release: "5.10.0-28-amd64", Major: 5, Minor: 10},
		thp:    facts.THP{Enabled: "madvise", Defrag: "madvise"},
		cgroup: facts.Cgroup{Version: 1, Path: "/docker/3f9a1c0d5e7b", LimitBytes: 1 << 30, UsageBytes: 1072693248,
			PeakBytes: 1 << 30, SwapLimit: 1 << 30, OOM: 1, OOMKill: 6, Failcnt: 48213,
			UsageRatio: 1072693248.0 / (1 << 30)},
		trend: facts.Trend{Samples: 2, SpanSeconds: 60, OOMKillDelta: 2, OOMKills: []facts.OOMKill{{
			Cgroup: facts.Cgroup{Version: 1, Path: "/docker/3f9a1c0d5e7b", LimitBytes: 1073741824, UsageBytes: 1072693248,
				PeakBytes: 1073741824, SwapLimit: 1073741824, OOM: 1, OOMKill: 6, Failcnt: 48213, UsageRatio: 0.9990234375},
			Delta: 2, Process: "cowbell"}}},
		running:   map[string]bool{"redis": false, "postgres": false},
		container: true,
		machineID: "4c0ffee0b0a14f5d9e2a7c3b1d8e6f20",
	},
	{
		name: "cgroup-v2",
		steps: []step{{
			"sys/fs/cgroup" + v2Pod + "/memory.events", "sys/fs/cgroup" + v2Pod + "/memory.events.1", time.Minute,
		}},
		commit: facts.Commit{Mode: 1, CommittedKB: 21474836, LimitKB: 16436720, Ratio: 21474836.0 / 16436720,
			HeadroomKB: -5038116, Mode2LimitKB: 16436720, UsableKB: 32873440, RecommendedKbytes: 28395904},
		kernel: facts.Kernel{Release: "6.8.0-1015-gcp", Major: 6, Minor: 8},
		thp:    facts.THP{Enabled: "always", Defrag: "madvise"},
		cgroup: facts.Cgroup{Version: 2, Path: v2Pod, LimitBytes: 512 << 20, UsageBytes: 529530880,
			PeakBytes: 512 << 20, SwapLimit: 0, OOM: 9, OOMKill: 5, UsageRatio: 529530880.0 / (512 << 20)},
		trend: facts.Trend{Samples: 2, SpanSeconds: 60, OOMKillDelta: 2, OOMKills: []facts.OOMKill{{
			Cgroup: facts.Cgroup{Version: 2, Path: v2CowbellPath, LimitBytes: 536870912, UsageBytes: 529530880,
				PeakBytes: 536870912, OOM: 9, OOMKill: 5, UsageRatio: 0.986328125},
			Delta: 2, Process: "cowbell"}}},
		running:   map[string]bool{"redis": true, "postgres": false},
		pids:      []int{7},
		container: true,
		machineID: "4c0ffee0b0a14f5d9e2a7c3b1d8e6f20",
	},
	{
		name: "redis-postgres",
		commit: facts.Commit{Mode: 0, CommittedKB: 10485760, LimitKB: 16777216, Ratio: 0.625, HeadroomKB: 6291456,
			Mode2LimitKB: 16777216, UsableKB: 33554432, RecommendedKbytes: 28940697},
		kernel: facts.Kernel{Release: "6.1.0-18-amd64", Major: 6, Minor: 1},
		thp:    facts.THP{Enabled: "always", Defrag: "always"},
		cgroup: facts.Cgroup{Version: 2, Path: "/system.slice/cowbell.service", LimitBytes: -1,
			UsageBytes: 41943040, PeakBytes: 52428800, SwapLimit: -1},
		trend:     facts.Trend{Samples: 1},
		running:   map[string]bool{"redis": true, "postgres": true},
		pids:      []int{812, 901, 955, 956},
		machineID: "4c0ffee0b0a14f5d9e2a7c3b1d8e6f20",
	},
}

const v2Pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d1e.slice/cri-containerd-9b2f.scope"

// snapshotOf takes a fixture's snapshots in order and returns the last.
func snapshotOf(t *testing.T, tc fixtureCase) facts.Snapshot {
	t.Helper()
	root := copyTree(t, filepath.Join("testdata", tc.name))
	e, clk := fixture(t, root)
	s := fresh(t, e)
	for _, st := range tc.steps {
		swap(t, root, st.file, st.next)
		clk.advance(st.after)
		s = fresh(t, e)
	}
	return s
}

func TestSnapshotFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			s := snapshotOf(t, tc)
			require.Empty(t, s.Errors)
			require.InDelta(t, tc.commit.Ratio, s.Commit.Ratio, 1e-12)
			tc.commit.Ratio = s.Commit.Ratio
			require.Equal(t, tc.commit, s.Commit)
			require.Equal(t, tc.kernel, s.Kernel)
			require.Equal(t, tc.thp, s.THP)
			require.InDelta(t, tc.cgroup.UsageRatio, s.Cgroup.UsageRatio, 1e-12)
			tc.cgroup.UsageRatio = s.Cgroup.UsageRatio
			require.Equal(t, tc.cgroup, s.Cgroup)
			require.InDelta(t, tc.trend.CommittedGrowthKBPerHour, s.Trend.CommittedGrowthKBPerHour, 1e-6)
			tc.trend.CommittedGrowthKBPerHour = s.Trend.CommittedGrowthKBPerHour
			require.Equal(t, tc.trend, s.Trend)
			require.Equal(t, tc.running, s.Running)
			var pids []int
			for _, p := range s.Processes {
				pids = append(pids, p.PID)
			}
			require.Equal(t, tc.pids, pids)
			require.Equal(t, tc.container, s.Container)
			require.Equal(t, tc.machineID, s.MachineID)
			require.NotEmpty(t, s.BootID)
			require.NotEmpty(t, s.Host)
			require.Equal(t, start.Add(totalAfter(tc.steps)), s.Taken)
			require.Equal(t, s.Commit.Mode, s.VM["overcommit_memory"])
			require.Contains(t, s.VMText, "lowmem_reserve_ratio")
		})
	}
}

func totalAfter(steps []step) time.Duration {
	var d time.Duration
	for _, s := range steps {
		d += s.after
	}
	return d
}

func TestSnapshotProcess(t *testing.T) {
	s := snapshotOf(t, fixtureCases[4]) // cgroup-v2: Redis in its own container cgroup
	require.Len(t, s.Processes, 1)
	require.Equal(t, facts.Process{
		Name: "redis", Comm: "redis-server", PID: 7,
		VmRSSKB: 4089856, VmSizeKB: 4321280, RssAnonKB: 4079616, VmSwapKB: 0, OOMScoreAdj: 999,
		VmDataKB: 2160640, ForkChargeKB: 2160640, InContainer: true,
		Cgroup: facts.Cgroup{
			Version: 2, Path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d1e.slice/cri-containerd-4a6c.scope",
			LimitBytes: 4 << 30, UsageBytes: 4188012544, PeakBytes: 4 << 30, SwapLimit: 0, OOM: 2, OOMKill: 1,
			UsageRatio: 4188012544.0 / (4 << 30),
		},
	}, s.Processes[0])
}

func TestSnapshotCached(t *testing.T) {
	root := copyTree(t, "testdata/leak-6.5")
	e, clk := fixture(t, root)
	ctx := context.Background()

	first := e.Snapshot(ctx)
	require.Equal(t, int64(5242880), first.Commit.CommittedKB)
	swap(t, root, "proc/meminfo", "proc/meminfo.1")

	clk.advance(e.c.CacheFor / 2)
	require.Equal(t, first.Taken, e.Snapshot(ctx).Taken, "within CacheFor the cached snapshot is returned")
	require.Equal(t, int64(5242880), e.Snapshot(ctx).Commit.CommittedKB)

	clk.advance(e.c.CacheFor)
	again := e.Snapshot(ctx)
	require.Equal(t, int64(5345280), again.Commit.CommittedKB, "past CacheFor the host is read again")
	require.Equal(t, 1, again.Trend.Samples, "Snapshot does not add to the trend history")

	swap(t, root, "proc/meminfo", "proc/meminfo.2")
	f := e.Fresh(ctx)
	require.Equal(t, int64(5447680), f.Commit.CommittedKB, "Fresh bypasses the cache")
	require.Equal(t, 1, f.Trend.Samples)
	require.Equal(t, f.Taken, e.Snapshot(ctx).Taken, "Fresh refreshes the cache")

	clk.advance(e.c.CacheFor)
	require.Equal(t, 2, e.Snapshot(ctx).Trend.Samples, "a later Snapshot compares with Fresh's sample")
}

func TestSnapshotNeverFailsWhole(t *testing.T) {
	e, _ := fixture(t, t.TempDir())
	s := fresh(t, e)
	var what []string
	for _, r := range s.Errors {
		what = append(what, r.What)
		require.NotEmpty(t, r.Err)
	}
	require.Equal(t, []string{"machine_id", "boot_id", "host", "kernel", "vm", "meminfo", "thp", "thp", "cgroup", "processes"}, what)
	require.Equal(t, start, s.Taken)
	require.Equal(t, map[string]bool{"redis": false, "postgres": false}, s.Running)
}

func TestTrendKeepsLastSamples(t *testing.T) {
	root := copyTree(t, "testdata/leak-6.5")
	e, clk := fixture(t, root)
	var s facts.Snapshot
	for i := range trendSamples + 10 {
		// Committed_AS rises 1000 kB a sample, one sample a minute: 60000 kB/h.
		clk.advance(time.Minute)
		writeMeminfo(t, root, 8388608, 5000000+int64(i)*1000)
		s = fresh(t, e)
	}
	require.Equal(t, trendSamples, s.Trend.Samples)
	require.Equal(t, float64((trendSamples-1)*60), s.Trend.SpanSeconds)
	require.InDelta(t, 60000, s.Trend.CommittedGrowthKBPerHour, 1e-6)
	require.Len(t, e.hist.samples, trendSamples)
}

func writeMeminfo(t *testing.T, root string, total, committed int64) {
	t.Helper()
	b := "MemTotal: " + strconv.FormatInt(total, 10) + " kB\nCommitted_AS: " + strconv.FormatInt(committed, 10) + " kB\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc", "meminfo"), []byte(b), 0o644))
}

func TestOOMKillDelta(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur map[string]int64
		want      int64
	}{
		{"first sample", nil, map[string]int64{"2:/a": 5}, 0},
		{"rise", map[string]int64{"2:/a": 5}, map[string]int64{"2:/a": 7}, 2},
		{"two cgroups", map[string]int64{"2:/a": 5, "2:/b": 1}, map[string]int64{"2:/a": 6, "2:/b": 3}, 3},
		{"new cgroup adds nothing", map[string]int64{"2:/a": 5}, map[string]int64{"2:/a": 5, "2:/b": 9}, 0},
		{"recreated cgroup counts all", map[string]int64{"2:/a": 5}, map[string]int64{"2:/a": 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := sample{oomKill: tc.cur, cgroups: map[string]cgroupSeen{}}
			for k := range tc.cur {
				cur.cgroups[k] = cgroupSeen{cg: facts.Cgroup{Version: 2, Path: k[2:]}, who: "redis-server pid 7"}
			}
			got, kills := oomKillDelta(tc.prev, cur)
			require.Equal(t, tc.want, got)
			var sum int64
			for _, k := range kills {
				require.Positive(t, k.Delta, "only cgroups that killed are listed")
				require.Equal(t, "redis-server pid 7", k.Process)
				sum += k.Delta
			}
			require.Equal(t, tc.want, sum, "the listed cgroups account for every kill")
		})
	}
}

// Two samples seconds apart are no trend: a jitter of Committed_AS between them would
// extrapolate to gigabytes an hour. The growth is given once the samples span
// MinTrendSpan, and the table says so until then.
func TestTrendNeedsTime(t *testing.T) {
	root := copyTree(t, "testdata/leak-6.5")
	e, clk := fixture(t, root)
	writeMeminfo(t, root, 8388608, 5000000)
	fresh(t, e)
	clk.advance(6 * time.Second)
	writeMeminfo(t, root, 8388608, 5048000) // 48 MB in 6 s: "28.8 GB/h"
	s := fresh(t, e)
	require.Equal(t, 2, s.Trend.Samples)
	require.Zero(t, s.Trend.CommittedGrowthKBPerHour)
	var b strings.Builder
	require.NoError(t, WriteTable(&b, s))
	require.Regexp(t, `Committed_AS growth\s+not yet: needs 10m0s of samples`, b.String())

	clk.advance(MinTrendSpan)
	writeMeminfo(t, root, 8388608, 5058000)
	s = fresh(t, e)
	require.Positive(t, s.Trend.CommittedGrowthKBPerHour)
	b.Reset()
	require.NoError(t, WriteTable(&b, s))
	require.Regexp(t, `Committed_AS growth\s+[0-9.]+ kB/h`, b.String())
}
