package notifiers

import (
	"strconv"
	"time"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

// TestTitle is the title of the incident `cowbell notify test` sends.
const TestTitle = "cowbell test notification — not a real incident"

// TestRuleID is the rule id of the test incident.
const TestRuleID = "cowbell/test"

// TestIncident makes the incident `cowbell notify test` sends: clearly marked (Test,
// its title, an info severity, a "test" tag) and carrying a key of its own, so that no
// receiver folds it into an earlier test or a real incident.
func TestIncident(host string, now time.Time) *incidents.Incident {
	now = now.UTC().Truncate(time.Second)
	return &incidents.Incident{
		Schema: incidents.Schema,
		Status: incidents.StatusFiring,
		Key:    TestRuleID + "/" + host + "/" + strconv.FormatInt(now.Unix(), 10),
		Rule: incidents.RuleRef{
			ID:       TestRuleID,
			Title:    TestTitle,
			Severity: "info",
			Tags:     []string{"test"},
		},
		Summary: TestTitle,
		Host:    host,
		Source:  "cowbell",
		Lines: []incidents.Line{{
			Time: now,
			Text: "cowbell notify test: checking that notifications reach this receiver",
		}},
		Count:     1,
		FirstSeen: now,
		LastSeen:  now,
		RootCause: "Someone ran `cowbell notify test` on " + host + " to check delivery.",
		Advice:    []incidents.Advice{{Text: "No action needed: this notification only shows that delivery works."}},
		Test:      true,
	}
}
