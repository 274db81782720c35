// Package samples runs annotated sample logs through a rule set: each log line is
// preceded by the result expected of it, in the manner of fail2ban's failJSON:
//
//	# expect: {"rule": "redis/bgsave-fork-enomem", "captures": {"error": "Cannot allocate memory"}}
//	1:M 01 Jan 2024 00:00:00.000 # Can't save in background: fork: Cannot allocate memory
//	# expect: none
//	1:M 01 Jan 2024 00:00:01.000 * Background saving started by pid 42
//
// An expectation may also be a JSON list of such objects, for a line that fires
// several rules. Other lines starting with "#" are comments; blank lines are skipped;
// a line with no expectation before it is an error, so nothing goes untested.
package samples

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Expect is one rule a line must fire, with the captures it must have (a subset).
type Expect struct {
	Rule     string            `json:"rule"`
	Captures map[string]string `json:"captures,omitempty"`
}

// Case is one sample line and what it must fire (nothing when Expect is empty).
type Case struct {
	File   string
	Line   int
	Text   string
	Expect []Expect
}

// Failure is a case whose result differed.
type Failure struct {
	Case
	Msg string
}

func (f Failure) String() string { return fmt.Sprintf("%s:%d: %s: %q", f.File, f.Line, f.Msg, f.Text) }

const marker = "# expect:"

// Load reads sample files and directories (every *.log inside, sorted).
func Load(paths ...string) ([]Case, error) {
	var cases []Case
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("samples: %w", err)
		} else if fi.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.log"))
			sort.Strings(files)
		}
		for _, f := range files {
			cs, err := ParseFile(f)
			if err != nil {
				return nil, err
			}
			cases = append(cases, cs...)
		}
	}
	return cases, nil
}

// ParseFile reads one annotated sample file.
func ParseFile(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	defer f.Close()
	var cases []Case
	var pending []Expect
	have := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(text, marker):
			exp, err := parseExpect(strings.TrimSpace(strings.TrimPrefix(text, marker)))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			pending, have = exp, true
		case strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#"):
		default:
			if !have {
				return nil, fmt.Errorf("%s:%d: line without a %q annotation before it", path, n, marker)
			}
			cases = append(cases, Case{File: path, Line: n, Text: text, Expect: pending})
			pending, have = nil, false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("samples: read %s: %w", path, err)
	}
	return cases, nil
}

func parseExpect(s string) ([]Expect, error) {
	if s == "none" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var list []Expect
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("expectation: %w", err)
		}
		return list, nil
	}
	var e Expect
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return nil, fmt.Errorf("expectation: %w", err)
	}
	if e.Rule == "" {
		return nil, fmt.Errorf("expectation: rule is required (or write none)")
	}
	return []Expect{e}, nil
}

// Run matches every case with m (selectors on source and labels aside: a sample has
// neither) and returns the cases whose hits differ from their expectation: exactly
// the expected rules, each with at least the expected captures.
func Run(m *matcher.Matcher, cases []Case) []Failure {
	var failures []Failure
	var hits []matcher.Hit
	for _, c := range cases {
		hits = m.Match(sources.Line{Source: "sample", Stream: c.File, Text: c.Text}, hits[:0])
		got := map[string]map[string]string{}
		var ids []string
		for _, h := range hits {
			got[h.Rule.ID] = h.Captures
			ids = append(ids, h.Rule.ID)
		}
		sort.Strings(ids)
		want := map[string]bool{}
		for _, e := range c.Expect {
			want[e.Rule] = true
			caps, ok := got[e.Rule]
			if !ok {
				failures = append(failures, Failure{c, fmt.Sprintf("want %s, got %v", e.Rule, ids)})
				continue
			}
			for k, v := range e.Captures {
				if caps[k] != v {
					failures = append(failures, Failure{c, fmt.Sprintf("%s: capture %s = %q, want %q", e.Rule, k, caps[k], v)})
				}
			}
		}
		for _, id := range ids {
			if !want[id] {
				failures = append(failures, Failure{c, fmt.Sprintf("unexpected %s", id)})
			}
		}
	}
	return failures
}
