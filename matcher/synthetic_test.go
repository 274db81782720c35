package matcher

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/cowbell-sidecar/cowbell/rules"
)

// Synthetic rules for benchmarks and allocation tests: distinct messages shaped like
// real daemon logs, a quarter case-folding, half with captures.
var (
	synthSubjects = []string{"fork", "BGSAVE", "replication backlog", "AOF rewrite", "checkpointer",
		"autovacuum worker", "WAL writer", "background worker", "cgroup memory", "page allocator", "shared buffer pool"}
	synthVerbs = []string{"failed", "aborted", "stalled", "timed out", "was terminated", "could not reserve memory",
		"exceeded its limit"}
)

// syntheticMessage is rule i's message; the code at its end keeps messages distinct.
func syntheticMessage(i int) string {
	s := synthSubjects[i%len(synthSubjects)]
	v := synthVerbs[(i/len(synthSubjects))%len(synthVerbs)]
	return fmt.Sprintf("%s %s [E%04d]", s, v, i)
}

// syntheticRules returns n rules; rule i fires on syntheticMatchLine(i).
func syntheticRules(n int) []*rules.Rule {
	rs := make([]*rules.Rule, n)
	for i := range rs {
		msg := regexp.QuoteMeta(syntheticMessage(i))
		var p string
		switch i % 4 {
		case 0:
			p = msg + `: (?P<pid>\d+)`
		case 1:
			p = "(?i)" + msg + `: \d+`
		case 2:
			p = `(?P<comm>[a-z-]+)\[\d+\]: ` + msg + `:`
		default:
			p = `(?:` + msg + `|` + strings.ToUpper(msg) + `): (?P<code>\d+)`
		}
		rs[i] = anyRule(fmt.Sprintf("synthetic/rule-%d", i), p)
	}
	return rs
}

// syntheticMatchLine is a line rule i fires on.
func syntheticMatchLine(i int) string {
	prefix := "1:M 01 Jan 2024 00:00:00.000 # "
	if i%4 == 2 {
		prefix += "redis-server[42]: "
	}
	return prefix + syntheticMessage(i) + ": 4242"
}

// missLine is a busy log line that fires no synthetic rule.
const missLine = "2024-01-01 00:00:00.000 UTC [4242] LOG:  checkpoint complete: wrote 1524 buffers (9.3%); " +
	"0 WAL file(s) added, 0 removed, 1 recycled; write=150.012 s, sync=0.004 s, total=150.030 s"
