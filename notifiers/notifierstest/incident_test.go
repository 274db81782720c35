package notifierstest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// The shared incident's summary is what the pipeline would give it: its headline.
func TestIncidentSummaryIsHeadline(t *testing.T) {
	inc := notifierstest.Incident(t, nil)
	require.Equal(t, inc.Headline(), inc.Summary)
}
