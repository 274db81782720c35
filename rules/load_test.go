package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

func TestParseFullRule(t *testing.T) {
	rs, err := Parse("full.yaml", readTestdata(t, "full.yaml"))
	require.NoError(t, err)
	require.Len(t, rs, 2)

	r := rs[0]
	require.Equal(t, "redis/bgsave-fork-enomem", r.ID)
	require.Equal(t, "Redis cannot fork for BGSAVE", r.Title)
	require.Equal(t, SeverityCritical, r.Severity)
	require.Equal(t, []string{"redis", "fork", "overcommit"}, r.Tags)
	require.Equal(t, []string{"redis", "k8s-*"}, r.Sources)
	require.Equal(t, map[string]string{"container": "redis*"}, r.Labels)
	require.Equal(t, "full.yaml", r.File)
	require.Equal(t, 2, r.Line)
	require.Equal(t, 5, r.Column)
	require.False(t, r.IsProbe())

	require.True(t, r.Match.IgnoreCase)
	require.Len(t, r.Match.Any, 2)
	require.Len(t, r.Match.Unless, 1)
	require.Empty(t, r.Match.All)
	require.Equal(t, 10, r.Match.Any[0].Line)
	require.Equal(t, 11, r.Match.Any[0].Column)
	// ignore_case folds every pattern of the rule, follow and resolve included.
	require.True(t, r.Match.Any[0].Regexp.MatchString("can't SAVE in background: fork: cannot allocate memory"))
	require.Equal(t, "Cannot allocate memory", r.Match.Any[0].Regexp.FindStringSubmatch("Can't save in background: fork: Cannot allocate memory")[1])
	require.True(t, r.Match.Unless[0].Regexp.MatchString("config set"))
	require.True(t, r.Follow[0].Regexp.MatchString("TERMINATING ANY OTHER ACTIVE SERVER PROCESSES"))
	require.True(t, r.Resolve[0].Regexp.MatchString("background saving terminated with success"))
	require.Len(t, r.Patterns(), 5)

	require.Equal(t, Duration(time.Hour), r.ResolveAfter)
	require.Equal(t, &Threshold{Count: 3, Within: Duration(5 * time.Minute)}, r.Threshold)
	require.Equal(t, Duration(15*time.Minute), r.Cooldown)
	require.Equal(t, Duration(10*time.Minute), r.GroupWithin)
	require.Equal(t, "redis/bgsave-fork-enomem/h1/42", r.Key.Execute(KeyData{
		Rule: r.ID, Host: "h1", Captures: map[string]string{"pid": "42"},
	}))

	require.Contains(t, r.RootCause, "Redis forks a child")
	require.Len(t, r.Advice, 2)
	require.InDelta(t, 0.9, r.Advice[0].SuccessRate, 1e-9)
	require.Equal(t, "vm.overcommit_memory != 1", r.Advice[0].When.Source)
	require.Nil(t, r.Advice[1].When)
	require.Equal(t, []DeadEnd{{Action: "Disable swap", Why: "swap is a buffer; without it the OOM killer comes sooner", FailRate: 0.7}}, r.DeadEnds)
	require.Equal(t, []string{"https://redis.io/docs/latest/operate/oss_and_stack/management/admin/"}, r.Docs)
	require.Equal(t, []string{"Redis 6.0+", "Redis 7.x"}, r.Versions)
	require.Len(t, r.Examples.Match, 1)
	require.Len(t, r.Examples.NoMatch, 1)

	env := facts.Env{}
	env.VM = map[string]int64{"overcommit_memory": 0}
	env.Commit = facts.Commit{CommittedKB: 3355443, LimitKB: 4194304, Ratio: 0.8}
	ok, err := r.Advice[0].When.Eval(env)
	require.NoError(t, err)
	require.True(t, ok)
	text, err := r.Advice[1].Text.Execute(env)
	require.NoError(t, err)
	require.Equal(t, "Committed_AS is 3.2 GiB of 4.0 GiB (80.0%).", text)

	p := rs[1]
	require.True(t, p.IsProbe())
	require.Nil(t, p.Match)
	require.Equal(t, SeverityWarning, p.Severity)
	require.Equal(t, Duration(time.Minute), p.Probe.Interval)
	require.Equal(t, "host/commit-near-limit@m1", p.Key.Execute(KeyData{Rule: p.ID, Host: "h1", Node: "m1"}))
	require.Empty(t, p.Patterns())
}

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		data  string
		ids   []string
		lines []int
	}{
		{"list file", "list.yaml", string(readTestdata(t, "list.yaml")), []string{"kernel/oom-kill", "postgres/backend-sigkill"}, []int{2, 6}},
		{"documents", "multidoc.yaml", string(readTestdata(t, "multidoc.yaml")), []string{"redis/overcommit-warning", "host/thp-always"}, []int{2, 7}},
		{"one rule", "one.yaml", "id: a/b\ntitle: T\nmatch: x\n", []string{"a/b"}, []int{1}},
		{"rules mapping", "r.yaml", "rules:\n  - {id: a/b, title: T, match: x}\n", []string{"a/b"}, []int{2}},
		{"empty rules", "r.yaml", "rules: []\n", nil, nil},
		{"null rules", "r.yaml", "rules:\n", nil, nil},
		{"empty file", "r.yaml", "", nil, nil},
		{"comment only", "r.yaml", "# nothing yet\n", nil, nil},
		{"flow mapping yaml", "r.yaml", "{id: a/b, title: T, match: x}", []string{"a/b"}, []int{1}},
		{"json rule format", "r.json", `{"rules": [{"id": "a/b", "title": "T", "match": "x"}]}`, []string{"a/b"}, []int{1}},
		{"json kb array", "kb.json", `[{"id": "a/b", "regex": "x"}, {"id": "a/c", "signature": "y"}]`, []string{"a/b", "a/c"}, []int{1, 1}},
		{"kb content, other extension", "kb.txt", `{"id": "a/b", "regex": "x"}`, []string{"a/b"}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse(tt.file, []byte(tt.data))
			require.NoError(t, err)
			var ids []string
			var lines []int
			for _, r := range rs {
				ids = append(ids, r.ID)
				lines = append(lines, r.Line)
				require.Equal(t, tt.file, r.File)
				require.NotNil(t, r.Key)
			}
			require.Equal(t, tt.ids, ids)
			require.Equal(t, tt.lines, lines)
		})
	}
}

func TestParseReportsEveryBrokenRule(t *testing.T) {
	data := "- {id: a/one, title: T, match: '('}\n- {id: a/two, title: T, match: ok}\n- {id: a/three, match: x}\n"
	rs, err := Parse("f.yaml", []byte(data))
	require.Error(t, err)
	require.Len(t, rs, 1, "the good rule still decodes")
	errs := leafErrors(t, err)
	require.Len(t, errs, 2)
	require.Equal(t, 1, errs[0].Line)
	require.Contains(t, errs[0].Error(), `f.yaml:1:32: rule "a/one": match: any[0]: error parsing regexp: missing closing )`)
	require.Equal(t, 3, errs[1].Line)
	require.Contains(t, errs[1].Error(), `rule "a/three": title is required`)
}

// A file of many rules is decoded on several goroutines: the rules, and the errors of
// the broken ones, still come in the file's order, and the rules without a key all
// render the default key.
func TestParseManyRulesInOrder(t *testing.T) {
	var b strings.Builder
	var want []string
	broken := map[int]bool{3: true, decodeChunk + 1: true, 5*decodeChunk - 1: true}
	for i := range 6 * decodeChunk {
		id := fmt.Sprintf("many/r%d", i)
		switch {
		case broken[i]:
			fmt.Fprintf(&b, "- {id: %s, title: T, match: '('}\n", id)
		case i%7 == 0:
			fmt.Fprintf(&b, "- {id: %s, title: T, probe: {condition: 'true'}}\n", id)
			want = append(want, id)
		default:
			fmt.Fprintf(&b, "- {id: %s, title: T, match: 'x%d'}\n", id, i)
			want = append(want, id)
		}
	}
	rs, err := Parse("many.yaml", []byte(b.String()))
	require.Equal(t, want, ids(rs))
	errs := leafErrors(t, err)
	require.Len(t, errs, len(broken))
	for k, line := range []int{4, decodeChunk + 2, 5 * decodeChunk} {
		require.Equal(t, line, errs[k].Line, "errors in the file's order")
	}
	for _, r := range rs {
		node := "n1"
		want := r.ID + "@h1"
		if r.IsProbe() {
			want = r.ID + "@" + node
		}
		require.Equal(t, want, r.Key.Execute(KeyData{Rule: r.ID, Host: "h1", Node: node}))
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
}

func rule(id string) string { return "id: " + id + "\ntitle: T\nmatch: x\n" }

func ids(rs []*Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yaml":            rule("a/b"),
		"a.yml":             rule("a/a"),
		"c.json":            `{"id": "a/c", "regex": "x"}`,
		"notes.txt":         rule("a/txt"),
		".hidden.yaml":      rule("a/hidden"),
		"sub/d.yaml":        rule("a/sub"),
		"..data/e.yaml":     rule("a/configmap"),
		"single/other.conf": rule("a/other"),
	})
	// Kubernetes mounts ConfigMap keys as symlinks into a hidden directory.
	require.NoError(t, os.Symlink(filepath.Join(dir, "..data", "e.yaml"), filepath.Join(dir, "e.yaml")))

	rs, err := LoadPaths(dir, filepath.Join(dir, "single", "other.conf"))
	require.NoError(t, err)
	require.Equal(t, []string{"a/a", "a/b", "a/c", "a/configmap", "a/other"}, ids(rs))
	require.Equal(t, filepath.Join(dir, "a.yml"), rs[0].File)
}

func TestLoadPathsErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": rule("a/dup") + "---\n" + rule("a/fine"),
		"b.yaml": "- id: a/x\n  title: T\n  match: x\n  bogus: 1\n- id: a/dup\n  title: T\n  match: y\n",
	})
	missing := filepath.Join(dir, "missing.yaml")
	rs, err := LoadPaths(dir, missing)
	require.Nil(t, rs)
	errs := leafErrors(t, err)
	require.Len(t, errs, 3)

	require.Equal(t, filepath.Join(dir, "b.yaml"), errs[0].File)
	require.Equal(t, 4, errs[0].Line)
	require.Contains(t, errs[0].Error(), `rule "a/x": unknown field "bogus"`)

	require.Equal(t, missing, errs[1].File)
	require.ErrorIs(t, errs[1], os.ErrNotExist)

	require.Equal(t, filepath.Join(dir, "b.yaml"), errs[2].File)
	require.Equal(t, 5, errs[2].Line)
	require.Contains(t, errs[2].Error(), `rule "a/dup": duplicate id, first defined at `+filepath.Join(dir, "a.yaml")+":1:1")
}

func TestLoad(t *testing.T) {
	builtin, err := Builtin()
	require.NoError(t, err)
	require.NotEmpty(t, builtin)
	first := builtin[0].ID

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": "id: user/extra\ntitle: T\nmatch: x\n---\nid: " + first + "\ntitle: Tuned\nmatch: tuned\nseverity: info\n",
	})

	rs, err := Load(LoadOptions{Builtin: true, Paths: []string{dir}})
	require.NoError(t, err)
	require.Len(t, rs, len(builtin)+1)
	require.Equal(t, first, rs[0].ID, "a replaced built-in rule keeps its place")
	require.Equal(t, "Tuned", rs[0].Title)
	require.False(t, rs[0].Builtin)
	require.Equal(t, "user/extra", rs[len(rs)-1].ID)

	rs, err = Load(LoadOptions{Paths: []string{dir}})
	require.NoError(t, err)
	require.Equal(t, []string{"user/extra", first}, ids(rs))

	rs, err = Load(LoadOptions{Builtin: true})
	require.NoError(t, err)
	require.Equal(t, ids(builtin), ids(rs))
}

func TestBuiltinRulesLoad(t *testing.T) {
	rs, err := Builtin()
	require.NoError(t, err)
	require.NotEmpty(t, rs)
	for _, r := range rs {
		t.Run(r.ID, func(t *testing.T) {
			require.True(t, r.Builtin)
			require.True(t, strings.HasPrefix(r.File, "builtin/"), r.File)
			require.Positive(t, r.Line)
			require.NotNil(t, r.Key)
			require.NotEmpty(t, r.Title)
		})
	}
}

func TestLoadFSDuplicates(t *testing.T) {
	fsys := os.DirFS(t.TempDir())
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pack/a.yaml": rule("p/one"),
		"pack/b.yaml": "\n" + rule("p/one"),
	})
	_, err := loadFS(fsys, "pack")
	require.Error(t, err, "a missing pack directory is an error")

	_, err = loadFS(os.DirFS(dir), "pack")
	errs := leafErrors(t, err)
	require.Len(t, errs, 1)
	require.Equal(t, "pack/b.yaml", errs[0].File)
	require.Equal(t, 2, errs[0].Line)
	require.Contains(t, errs[0].Error(), `rule "p/one": duplicate id, first defined at pack/a.yaml:1:1`)
}

func TestSeverityRank(t *testing.T) {
	require.Less(t, SeverityInfo.Rank(), SeverityWarning.Rank())
	require.Less(t, SeverityWarning.Rank(), SeverityCritical.Rank())
	require.Zero(t, Severity("bogus").Rank())
}

// leafErrors flattens joined errors into their positioned parts, failing on any part
// that is not a *yamlpos.Error.
func leafErrors(t testing.TB, err error) []*yamlpos.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*yamlpos.Error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(t, e)...)
		}
		return out
	}
	var pe *yamlpos.Error
	require.ErrorAs(t, err, &pe, "not a positioned error: %v", err)
	return []*yamlpos.Error{pe}
}

// TestEveryFieldErrorReported: a rule with several wrong fields reports each, with its
// place, not only the first.
func TestEveryFieldErrorReported(t *testing.T) {
	_, err := Parse("r.yaml", []byte(`
- id: t/bad
  title: [not, a, string]
  severity: {critical: true}
  cooldown: soon
  match: x
  tagz: [a]
`))
	require.Error(t, err)
	for _, want := range []string{
		`r.yaml:3: rule "t/bad": title: cannot unmarshal`,
		`r.yaml:4:13: rule "t/bad": severity`,
		`r.yaml:5:13: rule "t/bad": cooldown`,
		`r.yaml:7:3: rule "t/bad": unknown field "tagz"`,
	} {
		require.ErrorContains(t, err, want)
	}
}
