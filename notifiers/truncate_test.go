package notifiers_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 6, "é…"}, // the cut backs off to a rune boundary
	}
	for _, tt := range tests {
		got := notifiers.Truncate(tt.in, tt.limit)
		require.Equal(t, tt.want, got)
		require.LessOrEqual(t, len(got), tt.limit)
	}
}

func encodeIncident(inc *incidents.Incident) ([]byte, error) { return json.Marshal(inc) }

// An incident that fits is sent untouched, and says nothing was cut.
func TestFitLeavesASmallIncident(t *testing.T) {
	inc := notifierstest.Incident(t, nil)
	want, err := json.Marshal(inc)
	require.NoError(t, err)
	got, err := notifiers.Fit(inc, len(want), encodeIncident)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Nil(t, inc.Truncated)
}

// A 20 × 64 KiB repeat fits every budget a receiver uses, is cut in the stated order,
// says what was cut, and leaves the caller's incident alone.
func TestFitCutsInOrder(t *testing.T) {
	huge := notifierstest.Huge(t)
	full, err := json.Marshal(huge)
	require.NoError(t, err)
	require.Greater(t, len(full), 1<<20)
	tests := []struct {
		limit int
		check func(t *testing.T, got *incidents.Incident)
	}{
		{1 << 20, func(t *testing.T, got *incidents.Incident) { // 1: lines cut to 4 KiB suffice
			require.Len(t, got.Lines, incidents.MaxLines)
			require.Equal(t, 4096, got.Truncated.LineBytes)
			require.Equal(t, incidents.MaxLines+1, got.Truncated.LinesCut, "and the related line")
			require.Empty(t, got.Truncated.Snapshot)
			require.NotEmpty(t, got.Snapshot.Processes)
		}},
		{512_000, func(t *testing.T, got *incidents.Incident) { // PagerDuty's budget: still step 1
			require.Len(t, got.Lines, incidents.MaxLines)
		}},
		{60_000, func(t *testing.T, got *incidents.Incident) { // 3: lines dropped, first and newest kept
			require.Equal(t, "trimmed", got.Truncated.Snapshot)
			require.Empty(t, got.Snapshot.Processes)
			require.Less(t, len(got.Lines), incidents.MaxLines)
			require.Equal(t, incidents.MaxLines-len(got.Lines), got.Truncated.LinesDropped)
			require.Equal(t, huge.Lines[0].Time, got.Lines[0].Time, "the first line stays")
			require.Equal(t, huge.Lines[len(huge.Lines)-1].Time, got.Lines[len(got.Lines)-1].Time, "the newest stays")
			require.Equal(t, 4096, got.Truncated.LineBytes)
		}},
		{16 << 10, func(t *testing.T, got *incidents.Incident) { // the webhook's least cap
			require.NotEmpty(t, got.Lines)
			require.Equal(t, huge.Key, got.Key)
			require.Equal(t, huge.Summary, got.Summary, "the headline is never cut")
		}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.limit), func(t *testing.T) {
			body, err := notifiers.Fit(huge, tt.limit, encodeIncident)
			require.NoError(t, err)
			require.LessOrEqual(t, len(body), tt.limit)
			var got incidents.Incident
			require.NoError(t, json.Unmarshal(body, &got))
			require.NotNil(t, got.Truncated, "the payload says what was cut")
			require.Equal(t, tt.limit, got.Truncated.Limit)
			require.Equal(t, len(full), got.Truncated.Size)
			for _, l := range got.Lines {
				require.True(t, utf8.ValidString(l.Text), "cut on a rune boundary")
			}
			tt.check(t, &got)
		})
	}
	again, err := json.Marshal(huge)
	require.NoError(t, err)
	require.Equal(t, full, again, "the caller's incident is not changed")
}

// An incident that cannot fit at all (its key alone is over the budget) is an error,
// not a payload the vendor refuses.
func TestFitTooLarge(t *testing.T) {
	inc := notifierstest.Incident(t, func(inc *incidents.Incident) { inc.Key = strings.Repeat("k", 20000) })
	_, err := notifiers.Fit(inc, 16<<10, encodeIncident)
	require.ErrorIs(t, err, notifiers.ErrTooLarge)
}

func TestLinkText(t *testing.T) {
	for raw, want := range map[string]string{
		"https://redis.io/docs/latest/operate/oss_and_stack/management/admin/":                  "redis.io: admin",
		"https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/":            "redis.io: persistence",
		"https://www.postgresql.org/docs/current/kernel-resources.html#LINUX-MEMORY-OVERCOMMIT": "postgresql.org: kernel-resources (linux-memory-overcommit)",
		"https://docs.kernel.org/": "docs.kernel.org",
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, want, notifiers.LinkText(u))
	}
}
