package notifiers_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func routedIncident(id, severity string, tags []string, labels map[string]string) *incidents.Incident {
	return &incidents.Incident{
		Key: id + "/h", Rule: incidents.RuleRef{ID: id, Severity: severity, Tags: tags}, Labels: labels,
	}
}

func TestRouter(t *testing.T) {
	routes := []notifiers.Route{
		{Severity: []string{"critical"}, Rules: []string{"redis/*"}, Notifiers: []string{"pager", "slack"}},
		{Tags: []string{"overcommit", "thp"}, Notifiers: []string{"slack"}, Continue: true},
		{Labels: map[string]string{"namespace": "prod-*"}, Notifiers: []string{"am", "slack"}},
		{Rules: []string{"postgres/*"}, Notifiers: []string{"hook"}},
	}
	r := notifiers.NewRouter(routes, []string{"console"})
	tests := []struct {
		name string
		inc  *incidents.Incident
		want []string
	}{
		{"first route wins", routedIncident("redis/bgsave-fork-enomem", "critical", []string{"overcommit"}, nil), []string{"pager", "slack"}},
		{"severity must hold too", routedIncident("redis/bgsave-fork-enomem", "warning", nil, nil), []string{"console"}},
		{"continue then match, deduplicated", routedIncident("host/commit", "warning", []string{"thp"}, map[string]string{"namespace": "prod-eu"}), []string{"slack", "am"}},
		{"continue then nothing more", routedIncident("host/commit", "warning", []string{"overcommit"}, nil), []string{"slack"}},
		{"label glob must match", routedIncident("kernel/oom-kill", "critical", nil, map[string]string{"namespace": "dev"}), []string{"console"}},
		{"label must be present", routedIncident("kernel/oom-kill", "critical", nil, nil), []string{"console"}},
		{"later route", routedIncident("postgres/backend-sigkill", "critical", nil, nil), []string{"hook"}},
		{"no route: defaults", routedIncident("kernel/oom-kill", "info", nil, nil), []string{"console"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, r.Route(tt.inc))
		})
	}

	t.Run("a route without conditions takes all", func(t *testing.T) {
		r := notifiers.NewRouter([]notifiers.Route{{Notifiers: []string{"a"}}}, []string{"b"})
		require.Equal(t, []string{"a"}, r.Route(routedIncident("x/y", "info", nil, nil)))
	})
	t.Run("no routes, no defaults", func(t *testing.T) {
		require.Empty(t, notifiers.NewRouter(nil, nil).Route(routedIncident("x/y", "info", nil, nil)))
	})
}

func TestRouteYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    notifiers.Route
		wantErr string
	}{
		{"full", "severity: [critical]\nrules: [\"redis/*\"]\ntags: [fork]\nlabels: {pod: \"redis-*\"}\nnotifiers: [pager]\ncontinue: true\n",
			notifiers.Route{Severity: []string{"critical"}, Rules: []string{"redis/*"}, Tags: []string{"fork"}, Labels: map[string]string{"pod": "redis-*"}, Notifiers: []string{"pager"}, Continue: true}, ""},
		{"unknown field", "notifiers: [a]\nseverty: [info]\n", notifiers.Route{}, "2:1: unknown field \"severty\""},
		{"bad severity", "severity: [urgent]\nnotifiers: [a]\n", notifiers.Route{}, "severity \"urgent\""},
		{"bad glob", "rules: [\"redis/[\"]\nnotifiers: [a]\n", notifiers.Route{}, "syntax error in pattern"},
		{"bad label glob", "labels: {pod: \"[\"}\nnotifiers: [a]\n", notifiers.Route{}, "labels: pod"},
		{"no notifiers", "severity: [info]\n", notifiers.Route{}, "at least one notifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got notifiers.Route
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			if tt.wantErr != "" {
				var pe *yamlpos.Error
				require.ErrorAs(t, err, &pe)
				require.Positive(t, pe.Line)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
