package notifiers_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func TestTestIncident(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 500, time.FixedZone("X", 3600))
	inc := notifiers.TestIncident("node-7", now)
	require.True(t, inc.Test)
	require.Equal(t, "cowbell test notification — not a real incident", inc.Rule.Title)
	require.Equal(t, incidents.StatusFiring, inc.Status)
	require.Equal(t, incidents.Schema, inc.Schema)
	require.Equal(t, "node-7", inc.Host)
	require.True(t, strings.HasPrefix(inc.Key, "cowbell/test/node-7/"), inc.Key)
	require.NotEqual(t, inc.Key, notifiers.TestIncident("node-7", now.Add(time.Minute)).Key, "each test has its own key")
	require.Equal(t, inc.Key, notifiers.TestIncident("node-7", now).Key)

	body, err := json.Marshal(inc)
	require.NoError(t, err)
	var back incidents.Incident
	require.NoError(t, json.Unmarshal(body, &back))
	require.Equal(t, *inc, back)
	require.Contains(t, string(body), `"test":true`)
}
