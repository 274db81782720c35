package rules

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

func TestKBSeedEntry(t *testing.T) {
	const file = "testdata/kb/redis-bgsave-fork.json"
	rs, err := LoadPaths(file)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	r := rs[0]

	require.Equal(t, "redis/err-bgsave-failed-disk", r.ID)
	require.Equal(t, "Error: BGSAVE failed because fork failed: Cannot allocate memory", r.Title)
	require.Equal(t, SeverityCritical, r.Severity, "resource_error entries are critical")
	require.Equal(t, []string{"redis", "resource_error"}, r.Tags)
	require.Equal(t, file, r.File)
	require.Equal(t, 1, r.Line)

	require.Len(t, r.Match.Any, 1)
	require.Equal(t, 5, r.Match.Any[0].Line)
	require.Equal(t, 12, r.Match.Any[0].Column)
	require.Equal(t, []string{r.Title}, r.Examples.Match, "the signature is an example that must match")
	require.True(t, r.Match.Any[0].Regexp.MatchString(r.Examples.Match[0]))
	require.True(t, r.Match.Any[0].Regexp.MatchString("1:M 01 Jan 2024 00:00:00.000 # BGSAVE failed because fork failed: Cannot allocate memory"))

	require.True(t, strings.HasPrefix(r.RootCause, "The Redis server's attempt to fork a child process for BGSAVE failed"))
	require.Equal(t, []DeadEnd{
		{Why: "The fork failure is at the OS level, not Redis config.", FailRate: 0.95},
		{Why: "Swap can provide a buffer; disabling it may cause immediate OOM kills.", FailRate: 0.7},
	}, r.DeadEnds)

	require.Len(t, r.Advice, 3)
	rates := []float64{0.9, 0.75, 0.8}
	prefixes := []string{"Enable overcommit memory on the Linux host", "Reduce Redis memory usage", "Use a smaller fork-friendly configuration"}
	for i, a := range r.Advice {
		require.InDelta(t, rates[i], a.SuccessRate, 1e-9)
		require.Nil(t, a.When)
		text, err := a.Text.Execute(facts.Env{})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(text, prefixes[i]), text)
	}
	require.Equal(t, []string{"https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/"}, r.Docs)
	require.Equal(t, []string{"Redis 6.2.8", "Redis 7.0.13", "Linux kernel 5.10", "Linux kernel 6.1"}, r.Versions)
	require.Equal(t, "redis/err-bgsave-failed-disk@h", r.Key.Execute(KeyData{Rule: r.ID, Host: "h"}))
}

func TestKBConversion(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, r *Rule)
	}{
		{"warning unless resource_error", `{"id": "a/b", "regex": "x", "category": "config_error"}`, func(t *testing.T, r *Rule) {
			require.Equal(t, SeverityWarning, r.Severity)
			require.Equal(t, []string{"config_error"}, r.Tags)
		}},
		{"tags without blanks or repeats", `{"id": "a/b", "regex": "x", "domain": "redis", "category": "c", "subcategory": "fork", "tags": ["redis", "oom", ""]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"redis", "c", "fork", "oom"}, r.Tags)
		}},
		{"no regex: the signature, literally", `{"id": "a/b", "signature": "fork (pid 1) failed"}`, func(t *testing.T, r *Rule) {
			require.True(t, r.Match.Any[0].Regexp.MatchString("x fork (pid 1) failed"))
			require.False(t, r.Match.Any[0].Regexp.MatchString("fork pid 1 failed"))
			require.Equal(t, "fork (pid 1) failed", r.Title)
		}},
		{"no signature: the id is the title", `{"id": "a/b", "regex": "x"}`, func(t *testing.T, r *Rule) {
			require.Equal(t, "a/b", r.Title)
			require.Empty(t, r.Examples.Match)
		}},
		{"how over action, action when no how", `{"id": "a/b", "regex": "x", "workarounds": [{"action": "A", "how": "H"}, {"action": "A2", "how": ""}, {"action": "", "how": null}]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"H", "A2"}, adviceTexts(t, r))
		}},
		{"expression condition becomes when", `{"id": "a/b", "regex": "x", "workarounds": [{"how": "H", "condition": "vm.overcommit_memory == 2"}]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, "vm.overcommit_memory == 2", r.Advice[0].When.Source)
			require.Equal(t, 1, r.Advice[0].When.Line)
			require.Equal(t, []string{"H"}, adviceTexts(t, r))
		}},
		{"prose condition goes into the text", `{"id": "a/b", "regex": "x", "workarounds": [{"how": "H", "condition": "if running in Docker"}]}`, func(t *testing.T, r *Rule) {
			require.Nil(t, r.Advice[0].When)
			require.Equal(t, []string{"When: if running in Docker\nH"}, adviceTexts(t, r))
		}},
		{"braces are text, not template", `{"id": "a/b", "regex": "x", "workarounds": [{"how": "docker inspect -f '{{.State.Pid}}' {{{x}}}"}]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"docker inspect -f '{{.State.Pid}}' {{{x}}}"}, adviceTexts(t, r))
		}},
		{"json escapes YAML lacks", `{"id": "a/b", "regex": "x", "official_doc_url": "https:\/\/redis.io\/docs", "root_cause": "fork \ud83d\udca5 \ud83d \"q\\\/\" \u00e9"}`, func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"https://redis.io/docs"}, r.Docs)
			require.Equal(t, "fork \U0001F4A5 \uFFFD \"q\\/\" é", r.RootCause)
		}},
		{"versions as strings", `{"id": "a/b", "regex": "x", "versions": ["7.0", {"version": "7.2"}, {"status": "active"}]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"7.0", "7.2"}, r.Versions)
		}},
		{"unknown fields ignored", `{"id": "a/b", "regex": "x", "confidence": "very", "transition_graph": {"leads_to": [1]}, "root_cause_zh": ["x"]}`, func(t *testing.T, r *Rule) {
			require.Equal(t, "a/b", r.ID)
		}},
		{"tab-indented json", "{\n\t\"id\": \"a/b\",\n\t\"regex\": \"x\"\n}", func(t *testing.T, r *Rule) {
			require.Equal(t, "a/b", r.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("kb.json", []byte(tt.json))
			require.NoError(t, err)
			require.Len(t, rs, 1)
			tt.check(t, rs[0])
		})
	}
}

func adviceTexts(t *testing.T, r *Rule) []string {
	t.Helper()
	var out []string
	for _, a := range r.Advice {
		s, err := a.Text.Execute(facts.Env{})
		require.NoError(t, err)
		out = append(out, s)
	}
	return out
}

func TestKBErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		line int
		want string
	}{
		{"wrong type", "{\n  \"id\": \"a/b\",\n  \"regex\": \"x\",\n  \"dead_ends\": [{\"fail_rate\": \"high\"}]\n}", 4, "rule \"a/b\": cannot unmarshal !!str `high` into float64"},
		{"string field given a list", "{\n  \"id\": \"a/b\",\n  \"regex\": [\"x\"]\n}", 3, `rule "a/b": expected a string, got a list`},
		{"bad regex", "{\n  \"id\": \"a/b\",\n  \"regex\": \"(?<=x)y\"\n}", 3, `rule "a/b": regex: error parsing regexp: invalid named capture`},
		{"missing id", "{\"regex\": \"x\"}", 1, "entry: id is required"},
		{"bad id", "{\n \"id\": \"Redis Fork\", \"regex\": \"x\"}", 2, `rule "Redis Fork": id: "Redis Fork" is not domain/slug`},
		{"no regex or signature", "{\"id\": \"a/b\"}", 1, "one of regex and signature is required"},
		{"not an object", "[1]", 1, "expected a knowledge-base entry, got \"1\""},
		{"broken json", "{\n  \"id\": \"a/b\",\n  \"regex\": \"x\"\n", 3, "did not find expected ',' or '}'"},
		{"unclosed one line", "{\"id\": \"a/b\"", 1, "did not find expected ',' or '}'"},
		{"bad escape", "{\"id\": \"a/b\",\n \"regex\": \"\\q\"}", 2, "found unknown escape character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("kb/e.json", []byte(tt.json))
			require.Empty(t, rs)
			errs := leafErrors(t, err)
			require.Len(t, errs, 1, "%v", err)
			require.Equal(t, "kb/e.json", errs[0].File)
			require.Equal(t, tt.line, errs[0].Line, "%v", err)
			require.Contains(t, errs[0].Error(), tt.want)
		})
	}
}

func TestJSONForYAML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": "b"}`, `{"a": "b"}`},
		{`"http:\/\/x"`, `"http://x"`},
		{`"\\/"`, `"\\/"`},
		{`"\"\/"`, `"\"/"`},
		{`"\ud83d\ude00"`, `"\U0001F600"`},
		{`"\ud83dx"`, `"\U0000FFFDx"`},
		{`"\u00e9\n"`, `"\u00e9\n"`},
		{`"\ud83`, `"\ud83`},
		{`"x\`, `"x\`},
		{`{"a": 1} \/`, `{"a": 1} \/`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, string(jsonForYAML([]byte(tt.in))))
		})
	}
}
