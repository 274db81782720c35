package notifierstest

import (
	_ "embed"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
