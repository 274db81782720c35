package notifierstest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
)

// incidentJSON is the incident every receiver's golden files are made from: a Redis
// fork failure on cache-7 with lines, facts, advice, dead ends and docs.
//
//go:embed testdata/incident.json
var incidentJSON []byte

// Incident returns a fresh copy of the shared test incident, changed by edit if it is
// not nil.
func Incident(t testing.TB, edit func(*incidents.Incident)) *incidents.Incident {
	t.Helper()
	var inc incidents.Incident
	require.NoError(t, json.Unmarshal(incidentJSON, &inc))
	if edit != nil {
		edit(&inc)
	}
	return &inc
}

// ResolvedAt is when Resolved resolves an incident.
var ResolvedAt = time.Date(2024, 5, 1, 3, 40, 0, 0, time.UTC)

// Resolved marks inc resolved at ResolvedAt; it fits Incident's edit.
func Resolved(inc *incidents.Incident) {
	at := ResolvedAt
	inc.Status, inc.ResolvedAt = incidents.StatusResolved, &at
}

// HugeLine is the length of each line of Huge: the longest line a file source passes
// on whole.
const HugeLine = 64 << 10

// Huge is the shared incident at its largest: MaxLines lines of HugeLine bytes each
// (a repeat of a line that long), a related line as long and a process list in the
// snapshot, over a megabyte as JSON.
func Huge(t testing.TB) *incidents.Incident {
	t.Helper()
	return Incident(t, func(inc *incidents.Incident) {
		inc.Lines = inc.Lines[:0]
		for i := range incidents.MaxLines {
			at := inc.FirstSeen.Add(time.Duration(i) * time.Second)
			text := fmt.Sprintf("1:M %s # line %02d ", at.Format("02 Jan 2006 15:04:05.000"), i)
			text += strings.Repeat("é", (HugeLine-len(text))/2)
			inc.Lines = append(inc.Lines, incidents.Line{Time: at, Text: text, Stream: "/var/log/redis/redis-server.log"})
		}
		inc.Count, inc.LastSeen = incidents.MaxLines, inc.Lines[len(inc.Lines)-1].Time
		inc.Related = []incidents.Related{{Rule: "kernel/oom-kill", Key: "kernel/oom-kill@n/1", PID: "1", Line: strings.Repeat("k", HugeLine)}}
		s := *inc.Snapshot
		for i := range 64 {
			s.Processes = append(s.Processes, facts.Process{Name: "redis", Comm: "redis-server", PID: 1000 + i})
		}
		inc.Snapshot = &s
	})
}
