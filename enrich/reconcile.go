package enrich

import (
	"regexp"
	"strconv"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// Advice asking for an overcommit mode, as advice texts write it:
// "vm.overcommit_memory=1", "vm.overcommit_memory = 2", "echo 1 > /proc/sys/vm/overcommit_memory".
var asksMode = regexp.MustCompile(`overcommit_memory\s*=\s*([012])\b|echo\s+([012])\s*>\s*/proc/sys/vm/overcommit_memory`)

// ReconciledWhen is the When of the advice Reconcile puts in place of advice that
// asked for another mode.
const ReconciledWhen = "recommend.mode != the mode this advice asked for"

// Reconcile keeps an incident's advice consistent with the host recommendation
// (env.Recommend, one per host): advice that asks for another overcommit mode, as a
// rule of the user's may, is replaced by the recommendation itself, once, where the
// first such entry stood, keeping the facts those entries read. The built-in pack
// quotes the recommendation and never needs it; a snapshot without one (vm.* not
// read) or one that found no database to decide for leaves rs as it is.
func Reconcile(rs []Applied, env facts.Env) []Applied {
	rec := env.Recommend
	if rec.Text == "" || rec.For == "none" {
		return rs // nothing decided: no database seen here to decide for
	}
	var out []Applied
	merged := -1
	for i, a := range rs {
		if !contradicts(a.Text, rec.Mode) {
			if out != nil {
				out = append(out, a)
			}
			continue
		}
		if out == nil {
			out = append(make([]Applied, 0, len(rs)), rs[:i]...)
		}
		if merged < 0 {
			merged = len(out)
			out = append(out, Applied{Text: rec.Text, When: ReconciledWhen, Facts: map[string]string{}, Docs: rec.Docs})
		}
		for k, v := range a.Facts {
			if _, ok := out[merged].Facts[k]; !ok {
				out[merged].Facts[k] = v
			}
		}
	}
	if out == nil {
		return rs
	}
	return out
}

// contradicts reports whether text asks for an overcommit mode other than mode.
func contradicts(text string, mode int64) bool {
	for _, m := range asksMode.FindAllStringSubmatch(text, -1) {
		want := m[1] + m[2]
		if want != "" && want != strconv.FormatInt(mode, 10) {
			return true
		}
	}
	return false
}
