package rules_test

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// TestRealReplicaSyncRefused runs a Redis master whose forks fail with ENOMEM
// (strace's fault injection on clone) and a replica of it. The replica's full resync
// fails because the master cannot start the BGSAVE feeding it:
//
//   - the replica's log, all a replica-side sidecar sees, fires
//     redis/replica-sync-refused;
//   - the master's log fires redis/bgsave-fork-enomem, and its "BGSAVE for
//     replication failed" folds into that incident.
func TestRealReplicaSyncRefused(t *testing.T) {
	noLeaks(t)
	bin := testenv.NeedBinary(t, "redis-server")
	dir := t.TempDir()
	masterLog, replicaLog := filepath.Join(dir, "master.log"), filepath.Join(dir, "replica.log")
	mport, rport := testenv.FreePort(t), testenv.FreePort(t)
	// Diskless sync, Redis 7's default, without its delay: the fork comes at once.
	master := straced(t, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(mport), "--dir", dir,
		"--logfile", masterLog, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	mp := start(t, master)
	killGroup(t, master)
	waitLog(t, masterLog, "Ready to accept connections", 1)
	rp := start(t, exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(rport), "--dir", dir,
		"--logfile", replicaLog, "--save", "", "--appendonly", "no",
		"--replicaof", "127.0.0.1", strconv.Itoa(mport)))
	waitLog(t, replicaLog, "MASTER aborted replication with an error", 1)
	waitLog(t, masterLog, "BGSAVE for replication failed", 1)
	redisCommand(t, rport, "SHUTDOWN NOSAVE", "")
	rp.wait(t)
	redisCommand(t, mport, "SHUTDOWN NOSAVE", "")
	mp.wait(t)

	_, m := builtinPack(t)
	ids, hits := firedBy(m, "redis", readLines(t, replicaLog))
	delete(ids, "redis/overcommit-warning") // this host's mode decides; the startup test covers it
	delete(ids, "redis/thp-warning")
	require.Positive(t, ids["redis/replica-sync-refused"])
	require.Len(t, ids, 1, "the replica fires only the sync failure: %v", ids)
	for _, h := range hits {
		if h.Rule.ID == "redis/replica-sync-refused" {
			require.Contains(t, h.Captures["error"], "BGSAVE failed")
		}
	}

	tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "n1"}, time.Now)
	var opened []string
	folded := 0
	for _, text := range readLines(t, masterLog) {
		for _, ev := range tr.Observe(sources.Line{Source: "redis", Stream: masterLog, Text: text}) {
			switch {
			case ev.Kind == incidents.Open:
				opened = append(opened, ev.State.Rule)
			case ev.Kind == incidents.Fold && ev.State.Rule == "redis/bgsave-fork-enomem":
				folded++
			}
		}
	}
	require.Contains(t, opened, "redis/bgsave-fork-enomem")
	require.NotContains(t, opened, "redis/replica-sync-refused")
	require.Positive(t, folded, "BGSAVE for replication failed folds into the fork incident")
}
