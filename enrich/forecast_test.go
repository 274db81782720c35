package enrich

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// forecastHost is a 16 GiB host without swap, with a Redis of 9 GiB VmData + 132 kB
// VmStk and a 12 GiB address space, read by its INFO at 127.0.0.1:6379.
func forecastHost(mode int64, kernel facts.Kernel) facts.Snapshot {
	s := facts.Snapshot{
		Taken:  start,
		Kernel: kernel,
		VM:     map[string]int64{"overcommit_memory": mode, "admin_reserve_kbytes": 8192, "user_reserve_kbytes": 131072},
		Meminfo: map[string]int64{
			"MemTotal": 16 << 20, "MemFree": 2 << 20, "MemAvailable": 8 << 20, "Cached": 3 << 20, "Buffers": 0,
			"Shmem": 1 << 20, "SwapTotal": 0, "SwapFree": 0, "SReclaimable": 512 << 10,
		},
		Commit:  facts.Commit{Mode: mode, LimitKB: 10 << 20, CommittedKB: 6 << 20},
		Running: map[string]bool{"redis": true},
		Processes: []facts.Process{{Name: "redis", Comm: "redis-server", PID: 812, VmSizeKB: 12 << 20,
			VmDataKB: 9 << 20, VmStkKB: 132, ForkChargeKB: 9<<20 + 132, RssAnonKB: 1 << 20,
			LargestMappingKB: 7 << 20}},
		RedisAddr: "127.0.0.1:6379",
		Redis:     map[string]string{"process_id": "812"},
	}
	s.Commit.HeadroomKB = s.Commit.LimitKB - s.Commit.CommittedKB
	return s
}

var (
	linux61  = facts.Kernel{Release: "6.1.0-21-amd64", Major: 6, Minor: 1}
	linux419 = facts.Kernel{Release: "4.19.0-25-amd64", Major: 4, Minor: 19}
)

// TestForkForecast: the next fork's charge against the kernel's rule, by mode and
// kernel, on hand-computed figures.
func TestForkForecast(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     int64
		kernel   facts.Kernel
		edit     func(*facts.Snapshot)
		room     int64
		refused  bool
		contains string
	}{
		// allowed = 10 GiB − 8 MiB admin − min(12 GiB/32, 128 MiB) = 10485760 − 8192 −
		// 131072 = 10346496 kB; room = 10346496 − 6291456 = 4055040 kB (3.9 GiB).
		{"mode 2: 9 GiB does not fit in 3.9 GiB", 2, linux61, nil, 4055040, true,
			"The next BGSAVE or AOF rewrite of 127.0.0.1:6379 (redis-server pid 812) will fail: its fork needs 9.0 GiB of commit"},
		{"mode 2: 3 GiB fits", 2, linux61, func(s *facts.Snapshot) { s.Processes[0].ForkChargeKB = 3 << 20 }, 4055040, false, "fits"},
		{"mode 2: a charge equal to the room fails (Committed_AS must stay below)", 2, linux61,
			func(s *facts.Snapshot) { s.Processes[0].ForkChargeKB = 4055040 }, 4055040, true, "will fail"},
		{"mode 2 with CAP_SYS_ADMIN: no admin reserve", 2, linux61,
			func(s *facts.Snapshot) { s.Processes[0].SysAdmin, s.Processes[0].ForkChargeKB = true, 4055040 }, 4055040 + 8192, false, "fits"},
		{"mode 2, small process: the user reserve is 1/32 of its size", 2, linux61,
			func(s *facts.Snapshot) { s.Processes[0].VmSizeKB = 1 << 20 }, 10485760 - 8192 - 32768 - 6291456, true, "will fail"},
		{"mode 1 refuses nothing", 1, linux61, nil, -1, false, "refuses nothing"},
		{"mode 0 on 6.1: a 7 GiB mapping under RAM + swap (16 GiB)", 0, linux61, nil, 16 << 20, false, "RAM + swap"},
		{"mode 0 on 6.1: a 17 GiB mapping", 0, linux61, func(s *facts.Snapshot) { s.Processes[0].LargestMappingKB = 17 << 20 },
			16 << 20, true, "will fail"},
		// free = 2 GiB free + 3 GiB cache − 1 GiB shmem + 512 MiB slab − 8 MiB admin
		// = 4710400 kB (4.5 GiB): the 7 GiB mapping does not fit.
		{"mode 0 on 4.19: a 7 GiB mapping over the free estimate", 0, linux419, nil, 4710400, true, "before Linux 5.2"},
		{"mode 0 on 4.19: mappings unknown", 0, linux419, func(s *facts.Snapshot) { s.Processes[0].LargestMappingKB = 0 },
			4710400, false, "not known here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := forecastHost(tc.mode, tc.kernel)
			if tc.edit != nil {
				tc.edit(&s)
			}
			f := Forecast(s)
			require.Len(t, f.Redis, 1)
			r := f.Redis[0]
			require.Equal(t, tc.room, r.ForkRoomKB)
			require.Equal(t, tc.refused, r.ForkRefused, r.ForkText)
			require.Equal(t, tc.refused, f.ForkRefused)
			require.Contains(t, r.ForkText, tc.contains)
			require.Equal(t, "proc", r.ChargeFrom)
		})
	}
}

// smapsOf writes a /proc/812/smaps under root with one mapping per size, flagged
// accounted ("ac") or not ("nr": MAP_NORESERVE under mode 0 or 1).
func smapsOf(t *testing.T, root string, maps ...struct {
	kb int64
	ac bool
}) {
	t.Helper()
	var b []byte
	addr := uint64(0x7f0000000000)
	for _, m := range maps {
		end := addr + uint64(m.kb)<<10
		flags := "rd wr mr mw me nr"
		if m.ac {
			flags = "rd wr mr mw me ac"
		}
		b = fmt.Appendf(b, "%x-%x rw-p 00000000 00:00 0 \nSize:           %8d kB\nRss:                   4 kB\nVmFlags: %s\n",
			addr, end, m.kb, flags)
		addr = end + 4096
	}
	dir := filepath.Join(root, "812")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "smaps"), b, 0o644))
}

// TestConfirmForks: a refusal VmData forecasts is checked against what the kernel
// accounts (smaps VmFlags "ac"): jemalloc's MAP_NORESERVE heap, mapped before the
// host went to mode 2, is not charged by the fork, and the forecast says so. The
// reading is reused for accountedFor with growth added, and read again after it or
// when the process shrank.
func TestConfirmForks(t *testing.T) {
	type m = struct {
		kb int64
		ac bool
	}
	root := t.TempDir()
	e := New(Config{Proc: root}, zap.NewNop())
	take := func(at time.Time, edit func(*facts.Snapshot)) facts.Snapshot {
		s := forecastHost(2, linux61)
		s.Taken = at
		if edit != nil {
			edit(&s)
		}
		s.Forecast = Forecast(s)
		require.True(t, s.Forecast.Redis[0].ForkRefused, "9 GiB of VmData in 3.9 GiB")
		if e.confirmForks(&s) {
			s.Forecast = Forecast(s)
		}
		return s
	}

	// 8 GiB mapped MAP_NORESERVE, 1 GiB accounted: the fork charges 1 GiB and fits.
	smapsOf(t, root, m{8 << 20, false}, m{1 << 20, true}, m{132, true})
	s := take(start, nil)
	r := s.Forecast.Redis[0]
	require.Equal(t, "smaps", r.ChargeFrom)
	require.Equal(t, int64(1<<20+132), r.ForkChargeKB)
	require.Equal(t, int64(8<<20), r.UnaccountedKB)
	require.False(t, r.ForkRefused, r.ForkText)
	require.False(t, s.Forecast.ForkRefused)
	require.Contains(t, r.ForkText, "fits: its fork needs 1.0 GiB of commit (the mappings the kernel accounts")
	require.Contains(t, r.ForkText, "8.0 GiB of its private writable memory was mapped MAP_NORESERVE")
	require.Contains(t, r.ForkText, "charges all 9.0 GiB")

	// Within accountedFor the reading is reused (smaps is not read again), with what
	// VmData grew since counted as accounted: 1 GiB + 3.5 GiB no longer fits.
	require.NoError(t, os.Remove(filepath.Join(root, "812", "smaps")))
	s = take(start.Add(time.Minute), func(s *facts.Snapshot) { s.Processes[0].ForkChargeKB += 7 << 19 })
	r = s.Forecast.Redis[0]
	require.Equal(t, "smaps", r.ChargeFrom)
	require.Equal(t, int64(1<<20+132+7<<19), r.ForkChargeKB)
	require.True(t, r.ForkRefused, r.ForkText)

	// A process that shrank is read again: smaps is gone, the cheap figures stand.
	s = take(start.Add(2*time.Minute), func(s *facts.Snapshot) { s.Processes[0].ForkChargeKB -= 1 << 20 })
	require.Equal(t, "proc", s.Forecast.Redis[0].ChargeFrom)
	require.True(t, s.Forecast.Redis[0].ForkRefused)

	// Every mapping accounted (Redis started under mode 2): the refusal stands.
	smapsOf(t, root, m{9 << 20, true}, m{132, true})
	s = take(start.Add(3*time.Minute), nil)
	r = s.Forecast.Redis[0]
	require.Equal(t, "smaps", r.ChargeFrom)
	require.True(t, r.ForkRefused, r.ForkText)
	require.Contains(t, r.ForkText, "all of it accounted")

	// Mode 0 checks the largest accounted mapping, not the largest mapping.
	smapsOf(t, root, m{17 << 20, false}, m{1 << 20, true})
	s = forecastHost(0, linux61)
	s.Taken = start.Add(accountedFor + 4*time.Minute)
	s.Processes[0].LargestMappingKB = 17 << 20
	s.Forecast = Forecast(s)
	require.True(t, s.Forecast.Redis[0].ForkRefused, "a 17 GiB mapping over RAM + swap")
	require.True(t, e.confirmForks(&s))
	s.Forecast = Forecast(s)
	require.False(t, s.Forecast.Redis[0].ForkRefused, s.Forecast.Redis[0].ForkText)
	require.Equal(t, int64(1<<20), s.Forecast.Redis[0].LargestMappingKB)
}

// TestForkForecastInstances: every redis-server is forecast; the configured address
// joins the process its process_id names, else stands alone with used_memory_rss as
// a lower bound of its charge.
func TestForkForecastInstances(t *testing.T) {
	s := forecastHost(2, linux61)
	second := s.Processes[0]
	second.PID, second.ForkChargeKB = 990, 1<<20
	s.Processes = append(s.Processes, second)
	f := Forecast(s)
	require.Len(t, f.Redis, 2)
	require.Equal(t, "127.0.0.1:6379 (redis-server pid 812)", f.Redis[0].Instance)
	require.Equal(t, "redis-server pid 990", f.Redis[1].Instance)
	require.True(t, f.Redis[0].ForkRefused)
	require.False(t, f.Redis[1].ForkRefused)
	require.True(t, f.ForkRefused, "one Redis that cannot fork is enough")

	s.Redis = map[string]string{"process_id": "1", "used_memory_rss": strconv.Itoa(5 << 30)}
	f = Forecast(s)
	require.Len(t, f.Redis, 3, "the address's process is in another PID namespace")
	alone := f.Redis[2]
	require.Equal(t, "127.0.0.1:6379", alone.Instance)
	require.Equal(t, "info", alone.ChargeFrom)
	require.Equal(t, int64(5<<20), alone.ForkChargeKB)
	require.True(t, alone.ForkRefused, "5 GiB at least, 3.9 GiB left")
	require.Contains(t, alone.ForkText, "at least 5.0 GiB")

	s.Processes = s.Processes[:1]
	f = Forecast(s)
	require.Len(t, f.Redis, 1, "one process and one address are the same Redis")
	require.Equal(t, 812, f.Redis[0].PID)
	require.Equal(t, "127.0.0.1:6379", f.Redis[0].Addr)
}

// TestCowForecast: the copy-on-write of the next or running save against the room
// the memory cgroup (or MemAvailable) leaves, on hand-computed figures.
func TestCowForecast(t *testing.T) {
	mib := func(n int64) string { return strconv.FormatInt(n<<20, 10) }
	inCgroup := func(s *facts.Snapshot) {
		// 2 GiB limit, 1.5 GiB used, 64 MiB of it inactive page cache: 576 MiB room.
		s.Processes[0].Cgroup = facts.Cgroup{Version: 1, Path: "/redis", LimitBytes: 2 << 30, UsageBytes: 3 << 29,
			InactiveFileBytes: 64 << 20}
	}
	for _, tc := range []struct {
		name      string
		info      map[string]string
		cgroup    bool
		cow, room int64
		oom       bool
		from      string
	}{
		{"the last save copied 600 MiB, 576 MiB left in the cgroup",
			map[string]string{"rdb_last_cow_size": mib(600), "aof_last_cow_size": "0"}, true, 600 << 10, 576 << 10, true, "last save"},
		{"the last AOF rewrite copied 500 MiB, 576 MiB left",
			map[string]string{"rdb_last_cow_size": mib(100), "aof_last_cow_size": mib(500)}, true, 500 << 10, 576 << 10, false, "last save"},
		{"no cgroup limit: MemAvailable (8 GiB)",
			map[string]string{"rdb_last_cow_size": mib(600)}, false, 600 << 10, 8 << 20, false, "last save"},
		{"never measured: 10 changes/s over the last save's 60 s, 4 KiB each",
			map[string]string{"rdb_changes_since_last_save": "36000", "rdb_last_save_time": strconv.FormatInt(start.Unix()-3600, 10),
				"rdb_last_bgsave_time_sec": "60"}, true, 2400, 576 << 10, false, "write rate"},
		{"no save ever: nothing to forecast",
			map[string]string{"rdb_changes_since_last_save": "36000", "rdb_last_save_time": strconv.FormatInt(start.Unix()-3600, 10),
				"rdb_last_bgsave_time_sec": "-1", "aof_last_rewrite_time_sec": "-1"}, true, 0, 576 << 10, false, ""},
		// 200 MiB copied at 25 %: 800 MiB by the end, 600 MiB more than 576 MiB.
		{"running: 200 MiB at 25% grows 600 MiB more",
			map[string]string{"rdb_bgsave_in_progress": "1", "current_cow_size": mib(200), "current_fork_perc": "25.00"}, true,
			800 << 10, 576 << 10, true, "current_cow_size / current_fork_perc"},
		{"running: 200 MiB at 50% grows 200 MiB more",
			map[string]string{"rdb_bgsave_in_progress": "1", "current_cow_size": mib(200), "current_fork_perc": "50.00"}, true,
			400 << 10, 576 << 10, false, "current_cow_size / current_fork_perc"},
		{"running: never more than the anonymous memory (1 GiB)",
			map[string]string{"aof_rewrite_in_progress": "1", "current_cow_size": mib(200), "current_fork_perc": "5.00"}, true,
			1 << 20, 576 << 10, true, "current_cow_size / current_fork_perc"},
		{"running, no progress yet: by time against the last save's duration",
			map[string]string{"rdb_bgsave_in_progress": "1", "current_cow_size": mib(100), "current_fork_perc": "0.00",
				"rdb_current_bgsave_time_sec": "10", "rdb_last_bgsave_time_sec": "40"}, true,
			400 << 10, 576 << 10, false, "current_cow_size over the last save's duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := forecastHost(1, linux61)
			tc.info["process_id"] = "812"
			s.Redis = tc.info
			if tc.cgroup {
				inCgroup(&s)
			}
			f := Forecast(s)
			r := f.Redis[0]
			require.Equal(t, tc.cow, r.CowKB)
			require.Equal(t, tc.room, r.RoomKB)
			require.Equal(t, tc.oom, r.SaveOOM, r.CowText)
			require.Equal(t, tc.oom, f.SaveOOM)
			require.Equal(t, tc.from, r.CowFrom)
			if tc.from != "" {
				require.Contains(t, r.CowText, r.Instance)
			}
		})
	}
}

// TestPostgresBudget: a full pool against what CommitLimit leaves PostgreSQL, on
// hand-computed figures.
func TestPostgresBudget(t *testing.T) {
	host := func(conns string) facts.Snapshot {
		return facts.Snapshot{
			VM:      map[string]int64{"overcommit_memory": 2, "admin_reserve_kbytes": 8192, "user_reserve_kbytes": 131072},
			Meminfo: map[string]int64{"MemTotal": 32 << 20},
			Commit:  facts.Commit{Mode: 2, LimitKB: 24 << 20, CommittedKB: 10 << 20},
			Running: map[string]bool{"postgres": true},
			Postgres: map[string]string{"shared_memory_size": "4GB", "shared_buffers": "3GB", "max_connections": conns,
				"work_mem": "16MB", "hash_mem_multiplier": "2", "autovacuum_max_workers": "3",
				"maintenance_work_mem": "1GB", "autovacuum_work_mem": "-1"},
			Processes: []facts.Process{
				{Name: "postgres", PID: 901, VmSizeKB: 4718592, ForkChargeKB: 102532},
				{Name: "postgres", PID: 955, ForkChargeKB: 20612},
				{Name: "postgres", PID: 956, ForkChargeKB: 20612},
			},
			Totals: map[string]facts.ProcessTotal{"postgres": {Count: 3, ChargeKB: 143756}},
		}
	}
	// per backend 20612 + 16 MiB × 2 = 53380 kB; autovacuum 3 × (20612 + 1 GiB) =
	// 3207564 kB; others 10 GiB − 4 GiB − 143756 = 6147700 kB; available 24 GiB − 8 MiB
	// − 128 MiB − 6147700 = 18878860 kB.
	f := postgresForecast(host("200"))
	require.True(t, f.Known)
	require.Equal(t, int64(4<<20), f.SharedKB)
	require.Equal(t, int64(20612), f.BackendKB, "the mean of the postmaster's children")
	require.Equal(t, int64(4194304+200*53380+3207564), f.PoolKB)
	require.Equal(t, int64(6147700), f.OthersKB)
	require.Equal(t, int64(18878860), f.AvailableKB)
	require.False(t, f.Refused, f.Text)
	require.Contains(t, f.Text, "a full pool fits")

	f = postgresForecast(host("300"))
	require.Equal(t, int64(4194304+300*53380+3207564), f.PoolKB)
	require.True(t, f.Refused, f.Text)
	// (18878860 − 4194304 − 3207564) / 53380 = 215
	require.Contains(t, f.Text, "past about 215 of 300 will be refused")

	s := host("300")
	s.Commit.Mode = 0
	require.False(t, postgresForecast(s).Refused, "mode 0 enforces no CommitLimit")
	s = host("300")
	s.Postgres["huge_pages_status"] = "on"
	f = postgresForecast(s)
	require.Zero(t, f.SharedKB, "huge pages are outside commit accounting")
	require.Contains(t, f.Text, "huge pages")
	s = host("300")
	delete(s.Postgres, "shared_memory_size")
	require.Equal(t, int64(3<<20), postgresForecast(s).SharedKB, "before 15: shared_buffers")
	s = host("300")
	s.Postgres = nil
	require.False(t, postgresForecast(s).Known, "no settings: no budget")
}

func TestPgSizeKB(t *testing.T) {
	for in, want := range map[string]int64{"128MB": 128 << 10, "4GB": 4 << 20, "64kB": 64, "8192B": 8, "1TB": 1 << 30} {
		got, ok := pgSizeKB(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"-1", "", "MB", "12 parsecs"} {
		_, ok := pgSizeKB(in)
		require.False(t, ok, in)
	}
}

// series makes samples every 30 s over an hour, Committed_AS at kb(minute).
func series(kb func(min float64) float64) []sample {
	var out []sample
	for i := 0; i <= 120; i++ {
		m := float64(i) / 2
		out = append(out, sample{at: start.Add(time.Duration(i) * 30 * time.Second), committedKB: int64(kb(m))})
	}
	return out
}

// TestRobustTrend: the fitted line on synthetic series: a straight climb, the same
// with a one-off spike near its end (which plain least squares follows), a
// sawtooth with and without a climb under it.
func TestRobustTrend(t *testing.T) {
	climb := func(m float64) float64 { return 4<<20 + 1000*m } // 60000 kB an hour
	t.Run("linear", func(t *testing.T) {
		l := robustFit(series(climb))
		require.InDelta(t, 60000, l.slopePerHour, 1e-6)
		require.InDelta(t, climb(60), l.nowKB, 1e-3)
		require.Zero(t, l.outliers)
	})
	t.Run("spike", func(t *testing.T) {
		ss := series(climb)
		ss[110].committedKB += 4 << 20 // a 4 GiB burst at minute 55
		l := robustFit(ss)
		require.Equal(t, 1, l.outliers)
		require.InDelta(t, 60000, l.slopePerHour, 1e-6)
		require.InDelta(t, climb(60), l.nowKB, 1e-3)
		xs, ys := make([]float64, len(ss)), make([]float64, len(ss))
		for i, s := range ss {
			xs[i], ys[i] = s.at.Sub(ss[len(ss)-1].at).Hours(), float64(s.committedKB)
		}
		plain, _, _ := leastSquares(xs, ys, nil)
		require.Greater(t, plain, 2*60000.0, "plain least squares follows the spike")
	})
	saw := func(m float64) float64 { return 4<<20 + float64(int64(m*10)%100)*(1<<20)/100 } // 1 GiB every 10 min
	t.Run("sawtooth", func(t *testing.T) {
		l := robustFit(series(saw))
		require.Zero(t, l.outliers, "a tooth is not a spike")
		// Least squares over whole teeth reads each tooth's rise: A·P/W² = 1 GiB ×
		// 10 min / (60 min)² = 1/6 GiB an hour, a 25th of a tooth's own rise (6 GiB an
		// hour), which a forecast from the last minutes would extrapolate.
		require.Positive(t, l.slopePerHour)
		require.LessOrEqual(t, l.slopePerHour, float64(1<<20)/6)
		peak := int64(4<<20 + 1<<20)
		s := facts.Snapshot{Taken: start.Add(time.Hour), VM: map[string]int64{"admin_reserve_kbytes": 8192},
			Meminfo: map[string]int64{"MemTotal": 32 << 20}, Trend: facts.Trend{Samples: 121, SpanSeconds: 3600},
			Commit: facts.Commit{Mode: 2, LimitKB: peak + 5<<20 + 8192}}
		f := commitForecast(s, l, 24*time.Hour)
		require.False(t, f.WithinLead, "5 GiB above the teeth's peaks: not within a day (%s)", f.Text)
		edge := robustFit(series(saw)[112:118]) // the last three minutes, on a rising edge
		require.True(t, commitForecast(s, edge, 24*time.Hour).WithinLead, "a short window would have rung")
	})
	t.Run("sawtooth on a climb", func(t *testing.T) {
		l := robustFit(series(func(m float64) float64 { return saw(m) + 20000*m })) // 1.2 GiB an hour
		require.GreaterOrEqual(t, l.slopePerHour, 1200000.0)
		require.LessOrEqual(t, l.slopePerHour, 1200000+float64(1<<20)/6, "the climb, and at most the teeth's A·P/W²")
	})
}

// TestCommitForecast: the time the fitted line reaches CommitLimit less the admin
// reserve, and the lead it fires within.
func TestCommitForecast(t *testing.T) {
	climb := func(m float64) float64 { return 4<<20 + 1000*m }
	now := climb(60)
	snap := func(mode int64) facts.Snapshot {
		return facts.Snapshot{
			Taken:   start.Add(time.Hour),
			VM:      map[string]int64{"overcommit_memory": mode, "admin_reserve_kbytes": 8192},
			Meminfo: map[string]int64{"MemTotal": 16 << 20},
			// 5 hours of climb left below the limit less the admin reserve
			Commit: facts.Commit{Mode: mode, LimitKB: int64(now) + 5*60000 + 8192},
			Trend:  facts.Trend{Samples: 121, SpanSeconds: 3600},
		}
	}
	l := robustFit(series(climb))
	f := commitForecast(snap(2), l, 24*time.Hour)
	require.InDelta(t, 5*3600, f.SecondsToLimit, 1e-6)
	require.True(t, f.WithinLead)
	require.Contains(t, f.Text, "gets there in 5h0m")
	require.Contains(t, f.Text, "2025-03-14 15:00 UTC")

	require.False(t, commitForecast(snap(2), l, time.Hour).WithinLead, "5 h is beyond a 1 h lead")
	require.False(t, commitForecast(snap(0), l, 24*time.Hour).WithinLead, "mode 0 enforces no limit")

	flat := robustFit(series(func(float64) float64 { return 4 << 20 }))
	f = commitForecast(snap(2), flat, 24*time.Hour)
	require.Equal(t, -1.0, f.SecondsToLimit)
	require.False(t, f.WithinLead)

	s := snap(2)
	s.Commit.LimitKB = int64(now) // past the limit less the reserve already
	require.Zero(t, commitForecast(s, l, 24*time.Hour).SecondsToLimit)

	f = commitForecast(snap(2), line{}, 24*time.Hour)
	require.Equal(t, -1.0, f.SecondsToLimit, "no line before MinTrendSpan")
	require.False(t, f.WithinLead)
}

// TestForecastIncident: each forecast probe's incident, built and attached as the
// pipeline does, carries its arithmetic in the headline and first advice, its dead
// ends, and only the Redis that will fail; the probe does not fire once the
// forecast clears (the pipeline then resolves its incident).
func TestForecastIncident(t *testing.T) {
	rs, err := rules.Builtin()
	require.NoError(t, err)
	byID := map[string]*rules.Rule{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	s := forecastHost(2, linux61)
	second := s.Processes[0]
	second.PID, second.ForkChargeKB = 990, 1<<20
	s.Processes = append(s.Processes, second)
	s.Recommend = Recommend(s)
	s.Forecast = Forecast(s)
	r := byID["redis/fork-refused-forecast"]
	fired, err := r.Probe.Condition.Eval(facts.Env{Snapshot: s})
	require.NoError(t, err)
	require.True(t, fired)
	inc := incidents.Build(r, incidents.Event{Kind: incidents.Open, State: incidents.State{Rule: r.ID, Key: r.ID + "@db1",
		FirstSeen: start, LastSeen: start}}, "db1")
	Attach(inc, r, &s, nil)
	require.Contains(t, inc.Summary, "The next Redis fork will be refused on db1.")
	require.Contains(t, inc.Summary, "The next BGSAVE or AOF rewrite of 127.0.0.1:6379 (redis-server pid 812) will fail")
	require.Contains(t, inc.Advice[0].Text, "its fork needs 9.0 GiB of commit (its private writable memory, VmData + VmStk) and 3.9 GiB is left")
	require.NotContains(t, inc.Advice[0].Text, "pid 990", "the Redis whose fork fits is not named")
	require.NotEmpty(t, inc.DeadEnds)
	require.Contains(t, inc.Advice[1].Text, s.Recommend.Text, "mode 1 for a Redis-only host, quoted whole")

	s.Processes = s.Processes[1:] // the big Redis is gone
	s.Forecast = Forecast(s)
	fired, err = r.Probe.Condition.Eval(facts.Env{Snapshot: s})
	require.NoError(t, err)
	require.False(t, fired, "the forecast cleared")
}

// FuzzLargestPrivateWritable: any maps file reads without a panic, and the size is
// never negative.
func FuzzLargestPrivateWritable(f *testing.F) {
	f.Add("55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n7f00-7fff r--p 0 0:0 0 /lib\n")
	f.Add("ffffffffffffffff-0 rw-p\n-\n0-ffffffffffffffff rw-p 0 0 0 /anon_hugepage (deleted)\n")
	f.Fuzz(func(t *testing.T, maps string) {
		p := filepath.Join(t.TempDir(), "maps")
		require.NoError(t, os.WriteFile(p, []byte(maps), 0o644))
		kb, err := largestPrivateWritable(p)
		require.NoError(t, err)
		require.GreaterOrEqual(t, kb, int64(0))
	})
}
