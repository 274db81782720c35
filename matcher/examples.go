package matcher

import (
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// ExampleFailure is one rule example that did not behave as the rule says.
type ExampleFailure struct {
	Rule string // rule id
	Line string // the example line ("" when the rule itself could not be built)
	Want bool   // whether the line should have fired the rule
	Err  string // what went wrong
}

// RunExamples checks every rule's own examples: each Examples.Match line must fire the
// rule and no Examples.NoMatch line may. Source and label selectors are ignored (an
// example has neither), and probes have no examples to run. Lines run through the same
// prefiltered path as live lines, so an example also checks the prefilter.
func RunExamples(rs []*rules.Rule) []ExampleFailure {
	var fails []ExampleFailure
	for _, r := range rs {
		if r == nil || r.Match == nil {
			continue
		}
		m, err := New([]*rules.Rule{r})
		if err != nil {
			fails = append(fails, ExampleFailure{Rule: r.ID, Err: err.Error()})
			continue
		}
		for _, text := range r.Examples.Match {
			if !m.fires(text) {
				fails = append(fails, ExampleFailure{Rule: r.ID, Line: text, Want: true, Err: "line does not fire the rule"})
			}
		}
		for _, text := range r.Examples.NoMatch {
			if m.fires(text) {
				fails = append(fails, ExampleFailure{Rule: r.ID, Line: text, Want: false, Err: "line fires the rule"})
			}
		}
	}
	return fails
}

// fires reports whether text fires the Matcher's rule, ignoring selectors.
func (m *Matcher) fires(text string) bool {
	var found [foundScratch]int32
	var cand [candScratch]int32
	c := m.pre.candidates(text, found[:0], cand[:0])
	var buf [1]Hit
	var memo runMemo
	return len(m.eval(sources.Line{Text: text}, c, KindMatch, false, &memo, buf[:0])) > 0
}
