package enrich

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// TestForkRoom: the room a fork has follows the mode and, under mode 0, the kernel.
func TestForkRoom(t *testing.T) {
	s := facts.Snapshot{
		Kernel:  facts.Kernel{Release: "6.1.0", Major: 6, Minor: 1},
		VM:      map[string]int64{"admin_reserve_kbytes": 8192},
		Meminfo: map[string]int64{"MemTotal": 8 << 20, "SwapTotal": 1 << 20, "MemFree": 1 << 20, "Cached": 2 << 20, "Shmem": 512 << 10, "SwapFree": 1 << 20},
		Commit:  facts.Commit{HeadroomKB: 3 << 20},
	}
	for _, tc := range []struct {
		name       string
		mode       int64
		kernel     facts.Kernel
		room       int64
		perMapping bool
	}{
		{"mode 1 refuses nothing", 1, s.Kernel, -1, false},
		{"mode 2: CommitLimit less Committed_AS, the whole fork", 2, s.Kernel, 3 << 20, false},
		{"mode 0 on 6.1: RAM + swap, each mapping", 0, s.Kernel, 9 << 20, true},
		{"mode 0 on 4.19: the free estimate, each mapping", 0, facts.Kernel{Release: "4.19.0", Major: 4, Minor: 19},
			1<<20 + 2<<20 - 512<<10 + 1<<20 - 8192, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s
			s.Commit.Mode, s.Kernel = tc.mode, tc.kernel
			room, per := ForkRoom(s)
			require.Equal(t, tc.room, room)
			require.Equal(t, tc.perMapping, per)
		})
	}
}

// TestRecommendDecisions walks the decision table of docs/pack.md.
func TestRecommendDecisions(t *testing.T) {
	host := func(mode int64, ramGiB, swapGiB, committedGiB int64, kernel facts.Kernel, running ...string) facts.Snapshot {
		usable := ramGiB << 20
		s := facts.Snapshot{
			Kernel:  kernel,
			VM:      map[string]int64{"overcommit_memory": mode, "overcommit_ratio": 50},
			Meminfo: map[string]int64{"MemTotal": usable, "SwapTotal": swapGiB << 20, "Committed_AS": committedGiB << 20},
			Commit: facts.Commit{Mode: mode, CommittedKB: committedGiB << 20, LimitKB: usable/2 + swapGiB<<20,
				UsableKB: usable, RecommendedKbytes: baselineKbytes(usable)},
			Running: map[string]bool{},
		}
		s.Commit.HeadroomKB = s.Commit.LimitKB - s.Commit.CommittedKB
		for _, r := range running {
			s.Running[r] = true
			if r == "redis" {
				s.Processes = append(s.Processes, facts.Process{Name: "redis", PID: 7, ForkChargeKB: 6 << 20})
			}
		}
		s.Commit.LeakSuspected = leakSuspected(s.Kernel, s.Meminfo)
		return s
	}
	k61 := facts.Kernel{Release: "6.1.0-21-amd64", Major: 6, Minor: 1}
	k419 := facts.Kernel{Release: "4.19.0-25-amd64", Major: 4, Minor: 19}
	k65 := facts.Kernel{Release: "6.5.0-44-generic", Major: 6, Minor: 5}

	t.Run("PostgreSQL on 4 GiB without swap: strict, capped under RAM", func(t *testing.T) {
		r := Recommend(host(0, 4, 0, 1, k61, "postgres"))
		require.Equal(t, int64(2), r.Mode)
		require.Equal(t, int64(4<<20*8/10+4<<20/10), r.OvercommitKbytes, "0.8 × usable + a tenth, not + 2 GiB")
		require.LessOrEqual(t, r.CommitLimitKB, int64(4<<20))
		require.True(t, r.Fits)
		require.Contains(t, r.Commands, "sysctl -w vm.overcommit_kbytes=")
	})
	t.Run("PostgreSQL and Redis: the limit holds the next fork", func(t *testing.T) {
		r := Recommend(host(0, 64, 8, 30, k61, "postgres", "redis"))
		require.Equal(t, int64(2), r.Mode)
		require.Equal(t, int64(6<<20), r.ForkReserveKB)
		require.Equal(t, int64(36<<20), r.NeedKB)
		require.True(t, r.Fits)
		require.GreaterOrEqual(t, r.CommitLimitKB, r.NeedKB)
		require.NotContains(t, r.Text, "overcommit_memory=1")
	})
	t.Run("more committed than the baseline: raised, up to RAM", func(t *testing.T) {
		r := Recommend(host(1, 16, 0, 15, k61, "postgres"))
		require.Equal(t, int64(2), r.Mode)
		require.Greater(t, int64(15<<20), baselineKbytes(16<<20))
		require.Equal(t, int64(15<<20), r.OvercommitKbytes, "what is committed, in 256 MiB steps")
		require.True(t, r.Fits)
	})
	t.Run("more committed than RAM + swap: strict, but not yet", func(t *testing.T) {
		r := Recommend(host(1, 16, 0, 12, k61, "postgres", "redis"))
		require.Equal(t, int64(2), r.Mode)
		require.Equal(t, int64(16<<20), r.OvercommitKbytes, "capped at usable memory")
		require.False(t, r.Fits)
		require.Empty(t, r.Commands)
		require.Contains(t, r.Text, "Do not switch yet")
		require.Contains(t, r.Text, "Mode 1 is not the way out")
	})
	t.Run("Redis alone on 4.19: mode 1, the heuristic refuses", func(t *testing.T) {
		r := Recommend(host(0, 16, 0, 8, k419, "redis"))
		require.Equal(t, int64(1), r.Mode)
		require.Contains(t, r.Reason, "before 5.2")
		require.Equal(t, "  sysctl -w vm.overcommit_memory=1\n", r.Commands)
	})
	t.Run("Redis alone on 6.1: mode 1, for consistency, not a fix", func(t *testing.T) {
		r := Recommend(host(0, 16, 0, 8, k61, "redis"))
		require.Equal(t, int64(1), r.Mode)
		require.Contains(t, r.Reason, "does not refuse")
	})
	t.Run("the 6.5 leak: upgrade or reboot first", func(t *testing.T) {
		r := Recommend(host(2, 8, 2, 40, k65, "postgres"))
		require.True(t, r.Leak)
		require.Equal(t, int64(2), r.Mode)
		require.Empty(t, r.Commands)
		require.Contains(t, r.Text, "Upgrade the kernel, or reboot")
		require.Contains(t, r.Text, "do not raise vm.overcommit_kbytes")
	})
	t.Run("no database: keep", func(t *testing.T) {
		r := Recommend(host(0, 16, 0, 8, k61))
		require.Equal(t, "none", r.For)
		require.Equal(t, int64(0), r.Mode)
		require.False(t, r.Change)
	})
}
