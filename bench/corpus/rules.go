// Package corpus makes the matching benchmark's inputs: a deterministic corpus of
// ordinary log lines with rare incidents (Gen), the rule sets (RuleSet) and each
// rule in every compared tool's regexp dialect (Translate). bench/cmd/corpus writes
// them for bench/match.sh; the matcher's benchmarks use them directly.
package corpus

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cowbell-sidecar/cowbell/rules"
)

// services are the 45 service words the service-specific rules and the ordinary
// traffic share: the ordinary lines carry them too, so a rule's service word alone
// says little about whether the line is an incident.
var services = []string{
	"orders", "payments", "users", "inventory", "billing", "search", "checkout", "cart",
	"catalog", "shipping", "auth", "sessions", "notifications", "reports", "invoices",
	"accounts", "profiles", "reviews", "recommendations", "pricing", "coupons", "wishlist",
	"media", "uploads", "exports", "imports", "ledger", "gateway", "webhooks", "tenants",
	"audit", "metrics", "alerts", "messages", "chat", "feeds", "comments", "tickets",
	"scheduler", "workflows", "documents", "contracts", "subscriptions", "refunds", "analytics",
}

// serviceTemplates are the service-specific patterns, <W> standing for the service
// word (a word of lower-case letters: it needs no quoting). Each has an incident line in
// lines.go that fires it.
var serviceTemplates = []string{
	`(GET|POST|PUT|DELETE) /api/v[0-9]+/<W>/[0-9]+ HTTP/1\.[01]" 5[0-9][0-9]`,
	`ERROR .*connection refused to <W>-[0-9]+:[0-9]+`,
	`upstream timed out \(110: Connection timed out\) while reading response header from upstream, client: [0-9.]+, upstream: "http://<W>-[0-9]+:`,
	`"level":"error","service":"<W>","msg":"[^"]*deadline exceeded`,
	`<W>\[[0-9]+\]: panic: runtime error: `,
	`level=error component=<W> msg="[^"]*" err="[^"]*circuit breaker open"`,
	`FATAL: <W> worker [0-9]+ exited with status [1-9][0-9]*`,
	`<W>: retry budget exhausted after [0-9]+ attempts`,
	`"service":"<W>",.*"status":5[0-9][0-9]`,
	`<W>/[0-9.]+ \[[a-z-]+\] Exception in thread "[^"]*" java\.lang\.OutOfMemoryError`,
	`FATAL:  password authentication failed for user "<W>_[a-z]+"`,
	`<W>-(primary|replica)-[0-9]+ replication lag [0-9]{4,} ms`,
	`POST /api/v[0-9]+/<W>/batch HTTP/1\.[01]" 413`,
	`<W> queue depth [0-9]{5,} exceeds limit`,
	`ERROR:  duplicate key value violates unique constraint "<W>_[a-z_]+_key"`,
	`WARN <W> cache hit ratio 0\.[0-4][0-9]`,
	`<W>: TLS handshake (failed|timed out) with [0-9.]+:[0-9]+`,
	`<W>-[0-9]+ disk usage (9[0-9]|100)%`,
	`<W> consumer group rebalanc(e|ing) at generation [0-9]+ failed`,
	`Back-off restarting failed container <W> in pod <W>-[a-z0-9]+-[a-z0-9]{5}`,
	`agent: <W> health check failed: HTTP 50[0-9]`,
	`<W>: slow query \([0-9]{4,} ms\)`,
}

// Rule is one rule of a set: its id and its pattern in Go's syntax.
type Rule struct {
	ID, Pattern string
}

// RuleSet returns n rules: 10 match patterns of the built-in pack (real incident
// patterns, see builtinPatterns), then service patterns, template by template, each
// over every service word.
func RuleSet(n int) ([]Rule, error) {
	pack, err := builtinPatterns(10)
	if err != nil {
		return nil, err
	}
	var out []Rule
	for i, p := range pack {
		if len(out) == n {
			return out, nil
		}
		out = append(out, Rule{ID: fmt.Sprintf("bench/pack-%02d", i), Pattern: p})
	}
	for t, tpl := range serviceTemplates {
		for _, w := range services {
			if len(out) == n {
				return out, nil
			}
			out = append(out, Rule{
				ID:      fmt.Sprintf("bench/svc-%02d-%s", t, w),
				Pattern: strings.ReplaceAll(tpl, "<W>", w),
			})
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d rules can be made", len(out))
	}
	return out, nil
}

// builtinPatterns returns n match patterns of the built-in pack, in pack order: those
// that fire on the incident lines the corpus writes (packIncident: fork failures and
// the kernel's OOM killer) first, then others, so every kind of incident line the
// corpus holds has its real pattern among them however the pack orders its rules.
func builtinPatterns(n int) ([]string, error) {
	rs, err := rules.Builtin()
	if err != nil {
		return nil, err
	}
	g := NewGen(1)
	samples := make([]string, 400)
	for i := range samples {
		samples[i] = g.packIncident()
	}
	var fires, others []string
	for _, r := range rs {
		if r.Match == nil || r.Match.IgnoreCase {
			continue
		}
		for _, p := range append(append([]rules.Pattern(nil), r.Match.Any...), r.Match.All...) {
			if slices.ContainsFunc(samples, p.Regexp.MatchString) {
				fires = append(fires, p.Regexp.String())
			} else {
				others = append(others, p.Regexp.String())
			}
		}
	}
	out := append(fires, others...)
	if len(out) < n {
		return nil, fmt.Errorf("the pack has %d match patterns, fewer than %d", len(out), n)
	}
	return out[:n], nil
}
