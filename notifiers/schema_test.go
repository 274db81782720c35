package notifiers_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// incidentSchema compiles docs/incident.schema.json.
func incidentSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../docs/incident.schema.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("incident.schema.json", doc))
	s, err := c.Compile("incident.schema.json")
	require.NoError(t, err)
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	return s.Validate(v)
}

func TestDocumentedExampleValidates(t *testing.T) {
	s := incidentSchema(t)
	md, err := os.ReadFile("../docs/incident.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(md, -1)
	require.NotEmpty(t, blocks, "docs/incident.md has no json example")
	for _, b := range blocks {
		require.NoError(t, validate(t, s, b[1]))
		// The example is also what the Go type reads and writes, field for field.
		var inc incidents.Incident
		dec := json.NewDecoder(bytes.NewReader(b[1]))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&inc))
		require.Equal(t, incidents.Schema, inc.Schema)
	}
}

func TestIncidentJSONValidates(t *testing.T) {
	s := incidentSchema(t)
	now := time.Date(2026, 11, 30, 3, 12, 9, 0, time.UTC)
	full := &incidents.Incident{
		Schema: incidents.Schema, Status: incidents.StatusResolved, Key: "kernel/oom-kill@h",
		Rule:    incidents.RuleRef{ID: "kernel/oom-kill", Title: "OOM kill", Severity: "critical", Tags: []string{"kernel"}},
		Summary: "OOM kill (h)", Host: "h", Source: "journal", Labels: map[string]string{"unit": "x"},
		Lines: []incidents.Line{{Time: now, Text: "Out of memory: Killed process 1 (postgres)"}},
		Count: 1, Captures: map[string]string{"pid": "1"}, FirstSeen: now, LastSeen: now, ResolvedAt: &now, ReadAt: &now,
		Truncated: &incidents.Truncated{Limit: 512000, Size: 1300000, LineBytes: 4096, LinesCut: 20, LinesDropped: 3, Snapshot: "trimmed", Text: true, Fields: true},
		Advice:    []incidents.Advice{{Text: "x", When: "commit.mode != 2", Facts: map[string]string{"commit.mode": "0"}, SuccessRate: 0.5}},
		DeadEnds:  []incidents.DeadEnd{{Action: "a", Why: "b", FailRate: 0.9}},
		Related: []incidents.Related{{Rule: "postgres/backend-sigkill", Key: "k", PID: "1", Time: now, Line: "server process (PID 1) was terminated by signal 9: Killed",
			Captures: map[string]string{"pid": "1"}, Cause: "killed by the kernel OOM killer"}},
		Snapshot: &facts.Snapshot{Taken: now, VM: map[string]int64{"overcommit_memory": 2}, Meminfo: map[string]int64{"MemTotal": 1},
			Commit: facts.Commit{Mode: 2}, Cgroup: facts.Cgroup{Version: 2, LimitBytes: -1}},
	}
	minimal := notifiers.TestIncident("h", now)
	for name, inc := range map[string]*incidents.Incident{"full": full, "test incident": minimal} {
		t.Run(name, func(t *testing.T) {
			body, err := json.Marshal(inc)
			require.NoError(t, err)
			require.NoError(t, validate(t, s, body))
		})
	}
	t.Run("rejects a wrong status", func(t *testing.T) {
		bad := *full
		bad.Status = "open"
		body, err := json.Marshal(&bad)
		require.NoError(t, err)
		require.Error(t, validate(t, s, body))
	})
}
