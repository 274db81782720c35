package matcher

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
)

func TestRunExamples(t *testing.T) {
	good := anyRule("redis/bgsave", "BGSAVE failed because fork failed")
	good.Sources = []string{"redis"} // ignored for examples
	good.Examples = rules.Examples{
		Match:   []string{"Error: BGSAVE failed because fork failed: Cannot allocate memory"},
		NoMatch: []string{"Background saving started"},
	}
	bad := &rules.Rule{ID: "redis/overcommit", Match: &rules.Match{Any: pats("overcommit"), Unless: pats("CONFIG")},
		Examples: rules.Examples{
			Match:   []string{"WARNING overcommit_memory", "CONFIG SET overcommit_memory 1"},
			NoMatch: []string{"overcommit ok", "nothing"},
		}}
	broken := &rules.Rule{ID: "broken/rule", Match: &rules.Match{}, Examples: rules.Examples{Match: []string{"x"}}}
	probe := &rules.Rule{ID: "host/p", Probe: &rules.Probe{}}
	got := RunExamples([]*rules.Rule{good, bad, broken, probe})
	require.Equal(t, []ExampleFailure{
		{Rule: "redis/overcommit", Line: "CONFIG SET overcommit_memory 1", Want: true, Err: "line does not fire the rule"},
		{Rule: "redis/overcommit", Line: "overcommit ok", Want: false, Err: "line fires the rule"},
		{Rule: "broken/rule", Err: `build matcher: rule "broken/rule": match: no patterns in any or all`},
	}, got)
}
