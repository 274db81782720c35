package enrich

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

func TestCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		version    int
		path       string
	}{
		{"v2 only", "0::/system.slice/redis.service\n", 2, "/system.slice/redis.service"},
		{"hybrid uses the v1 memory controller", "4:memory:/docker/abc\n1:cpu:/\n0::/\n", 1, "/docker/abc"},
		{"joined controllers", "3:cpu,memory:/lxc/x\n", 1, "/lxc/x"},
		{"none", "1:name=systemd:/\n", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, p := cgroupPath([]byte(tc.file))
			require.Equal(t, tc.version, v)
			require.Equal(t, tc.path, p)
		})
	}
}

func TestReadKernel(t *testing.T) {
	for _, tc := range []struct {
		release             string
		major, minor, patch int
		wantErr             bool
	}{
		{"6.5.0-1020-aws", 6, 5, 0, false},
		{"6.5.3", 6, 5, 3, false},
		{"5.10.0-28-amd64", 5, 10, 0, false},
		{"6.8-rc1", 6, 8, 0, false},
		{"6.18.44-fc-v1147", 6, 18, 44, false},
		{"4.19.0-25-amd64", 4, 19, 0, false},
		{"unknown", 0, 0, 0, true},
	} {
		t.Run(tc.release, func(t *testing.T) {
			proc := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(proc, "sys", "kernel"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(proc, "sys", "kernel", "osrelease"), []byte(tc.release+"\n"), 0o644))
			k, err := readKernel(proc)
			require.Equal(t, tc.wantErr, err != nil, "error: %v", err)
			require.Equal(t, facts.Kernel{Release: tc.release, Major: tc.major, Minor: tc.minor, Patch: tc.patch}, k)
		})
	}
}

func TestSelected(t *testing.T) {
	require.Equal(t, "madvise", selected("always [madvise] never"))
	require.Equal(t, "defer+madvise", selected("always defer [defer+madvise] madvise never"))
	require.Equal(t, "never", selected("never"))
}

func TestDeriveCommitKbytes(t *testing.T) {
	// overcommit_kbytes replaces the ratio; swap is added either way; 1 GiB hugepages
	// count through Hugetlb.
	c := deriveCommit(
		map[string]int64{"overcommit_memory": 2, "overcommit_ratio": 50, "overcommit_kbytes": 10000000},
		map[string]int64{"MemTotal": 20000000, "SwapTotal": 1000, "HugePages_Total": 0, "Hugepagesize": 2048, "Hugetlb": 4194304},
	)
	require.Equal(t, int64(10001000), c.Mode2LimitKB)
	require.Equal(t, int64(4194304), c.HugepagesKB)
	require.Equal(t, int64(15805696), c.UsableKB)
	require.Equal(t, int64(15805696*8/10+1580569), c.RecommendedKbytes, "the allowance is capped at a tenth")
}

// TestBaselineCapped: 0.8 × usable + 2 GiB exceeds RAM below 10 GiB; the baseline
// keeps the 2 GiB allowance only where it is at most a tenth of usable memory, so it
// never exceeds 90 % of it.
func TestBaselineCapped(t *testing.T) {
	for _, tc := range []struct{ usable, want int64 }{
		{4 << 20, 4<<20*8/10 + 4<<20/10},
		{8 << 20, 8<<20*8/10 + 8<<20/10},
		{20 << 20, 20<<20*8/10 + 2<<20},
		{64 << 20, 64<<20*8/10 + 2<<20},
		{0, 0},
	} {
		got := baselineKbytes(tc.usable)
		require.Equal(t, tc.want, got, "usable %d kB", tc.usable)
		require.LessOrEqual(t, got, tc.usable*9/10+1)
	}
}

// TestLeakSuspected: one reading shows the 6.5 leak when Committed_AS is LeakFactor
// times RAM + swap or more, on 6.5 only.
func TestLeakSuspected(t *testing.T) {
	mem := func(committed int64) map[string]int64 {
		return map[string]int64{"MemTotal": 8 << 20, "SwapTotal": 2 << 20, "Committed_AS": committed}
	}
	k65 := facts.Kernel{Release: "6.5.0-44-generic", Major: 6, Minor: 5}
	require.True(t, leakSuspected(k65, mem(650<<20)), "650 GB committed on 8 GB")
	require.True(t, leakSuspected(k65, mem(30<<20)))
	require.False(t, leakSuspected(k65, mem(29<<20)), "under 3 × RAM + swap: a busy host")
	require.False(t, leakSuspected(facts.Kernel{Major: 6, Minor: 8}, mem(650<<20)), "fixed kernels never")
	require.False(t, leakSuspected(k65, map[string]int64{}), "no meminfo")
}

func TestInContainer(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name   string
		marker string
		env    func(string) string
		path   string
		want   bool
	}{
		{name: "bare host", env: noEnv, path: "/system.slice/cowbell.service"},
		{name: "kubernetes env", env: func(k string) string {
			if k == "KUBERNETES_SERVICE_HOST" {
				return "10.0.0.1"
			}
			return ""
		}, path: "/", want: true},
		{name: "docker marker", marker: ".dockerenv", env: noEnv, path: "/", want: true},
		{name: "podman marker", marker: "run/.containerenv", env: noEnv, path: "/", want: true},
		{name: "kubepods cgroup", env: noEnv, path: "/kubepods.slice/x", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.marker != "" {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, tc.marker)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(root, tc.marker), nil, 0o644))
			}
			require.Equal(t, tc.want, inContainer(root, tc.env, facts.Cgroup{Version: 2, Path: tc.path}))
		})
	}
}

func TestProcessesCapped(t *testing.T) {
	root := copyTree(t, "testdata/mode2-near-limit")
	src := filepath.Join(root, "proc", "1311")
	for pid := 2000; pid < 2010; pid++ {
		dst := filepath.Join(root, "proc", itoa(pid))
		require.NoError(t, os.MkdirAll(dst, 0o755))
		for _, f := range []string{"comm", "status", "oom_score_adj", "cgroup"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, f), b, 0o644))
		}
	}
	e, _ := fixture(t, root)
	s := fresh(t, e)
	require.Len(t, s.Processes, maxPerTarget)
	require.Equal(t, 1204, s.Processes[0].PID, "the postmaster, lowest pid, is kept")
	require.Equal(t, 2005, s.Processes[maxPerTarget-1].PID)
}

func itoa(n int) string { return strconv.Itoa(n) }
