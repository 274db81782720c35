package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/state"
)

// New opens the store in the configured state directory and builds every stage on
// it (Build); Close closes the store.
func New(ctx context.Context, cfg *config.Config, o Options) (*Pipeline, error) {
	st, err := state.Open(cfg.StateDir, o.Log)
	if err != nil {
		return nil, err
	}
	p, err := Build(ctx, cfg, st, o)
	if err != nil {
		st.Close()
		return nil, err
	}
	p.out.ownStore = true
	return p, nil
}

// Build loads rules and builds every stage on an open store; nothing runs, and the
// store's incidents are read only when Run starts, so a reload can build the new
// pipeline while the old one still runs and commits. Every source and receiver that
// cannot be built is reported, not only the first.
func Build(ctx context.Context, cfg *config.Config, st *state.Store, o Options) (*Pipeline, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	rs, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	m, err := matcher.New(rs)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg: cfg, log: o.Log, now: o.Now,
		rules:   newRuleSet(rs),
		metrics: newMetrics(o.Registry),
		inc:     incidentStage{matcher: m, enricher: enrich.New(cfg.Snapshot, o.Log.Named("enrich"))},
		out:     outlet{store: st, flushEvery: flushEvery},
	}
	snap := p.inc.enricher.Snapshot(ctx)
	p.id = incidents.Identity{Host: Host(cfg, snap), Node: snap.MachineID + "/" + snap.BootID}
	p.inc.tracker = incidents.NewTracker(m, p.id, o.Now).Configure(incidents.Config{MaxAge: cfg.Incidents.MaxAge})
	receivers, errs := BuildNotifiers(cfg, st, o.Log)
	p.out.router = notifiers.NewRouter(cfg.Routes, defaultNotifiers(cfg))
	p.out.dispatcher = notifiers.NewDispatcher(st, receivers, cfg.Outbox, o.Log.Named("outbox"), o.Registry)
	p.in.metrics = sources.NewMetrics(o.Registry)
	names := make([]string, 0, len(cfg.Sources))
	for _, sc := range cfg.Sources {
		names = append(names, sc.Name)
	}
	p.in.status = sources.NewStatus(names...)
	for _, sc := range cfg.Sources {
		name := sc.Name
		s, err := sc.New(sources.Deps{
			Checkpoints: st, Metrics: p.in.metrics, Log: o.Log.With(zap.String("source", name)),
			Opened:  func() { p.in.status.Opened(name) },
			Trouble: func(note string) { p.in.status.Troubled(name, note) },
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.in.sources = append(p.in.sources, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// BuildNotifiers builds every configured receiver, keyed by name, and returns the
// errors of those that cannot be built. st may be nil (no durable receiver state, as
// in `cowbell check` and `cowbell notify test`).
func BuildNotifiers(cfg *config.Config, st *state.Store, log *zap.Logger) (map[string]notifiers.Notifier, []error) {
	out := map[string]notifiers.Notifier{}
	var errs []error
	for _, nc := range cfg.Notifiers {
		d := notifiers.Deps{Log: log.With(zap.String("notifier", nc.Name)), MetricsURL: metricsURL(cfg.Metrics.Listen)}
		if st != nil {
			d.KV = st.KV(nc.Type + "/" + nc.Name)
		}
		n, err := nc.New(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[nc.Name] = n
	}
	return out, errs
}

// metricsURL is the /metrics of a cowbell listening on addr, as another host reaches
// it: by the incident's host name ({host}), on the port it listens on.
func metricsURL(addr string) string {
	if addr == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	return "http://{host}:" + port + "/metrics"
}

// defaultNotifiers are the receivers of incidents no route takes: the configured
// default_notifiers, else every receiver.
func defaultNotifiers(cfg *config.Config) []string {
	if len(cfg.Default) > 0 {
		return cfg.Default
	}
	names := make([]string, 0, len(cfg.Notifiers))
	for _, nc := range cfg.Notifiers {
		names = append(names, nc.Name)
	}
	return names
}

// restore gives the tracker the incidents still open from before a restart. A stored
// record that cannot be read is logged and left out: one damaged record must not keep
// cowbell from starting.
func (p *Pipeline) restore(ctx context.Context) error {
	recs, err := p.out.store.Incidents(ctx)
	if err != nil {
		return err
	}
	states := make([]incidents.State, 0, len(recs))
	for _, r := range recs {
		s, err := incidents.Decode(r.Key, r.Value)
		if err != nil {
			p.log.Warn("stored incident cannot be read, left out", zap.String("incident", r.Key), zap.Error(err))
			continue
		}
		states = append(states, s)
	}
	p.inc.tracker.Restore(states)
	return nil
}

// Host is the name incidents carry: the configured one, else the snapshot's.
func Host(cfg *config.Config, snap facts.Snapshot) string {
	if cfg.Host != "" {
		return cfg.Host
	}
	if snap.Host != "" {
		return snap.Host
	}
	h, _ := os.Hostname()
	return h
}

// LoadRules loads the configured rules: the built-in pack (unless off) and paths,
// giving log rules without a cooldown the configured default.
func LoadRules(cfg *config.Config) ([]*rules.Rule, error) {
	rs, err := rules.Load(rules.LoadOptions{Builtin: cfg.Rules.Builtin, Paths: cfg.Rules.Paths})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if !r.IsProbe() && r.Cooldown == 0 {
			r.Cooldown = rules.Duration(cfg.Rules.DefaultCooldown)
		}
	}
	return rs, nil
}

// ruleSet is the loaded rules, by id, the probes among them and the rules with a
// resolve condition: both are evaluated on each fresh snapshot.
type ruleSet struct {
	all      []*rules.Rule
	byID     map[string]*rules.Rule
	probes   []*rules.Rule
	resolved []*rules.Rule
}

func newRuleSet(rs []*rules.Rule) ruleSet {
	s := ruleSet{all: rs, byID: make(map[string]*rules.Rule, len(rs))}
	for _, r := range rs {
		s.byID[r.ID] = r
		if r.IsProbe() {
			s.probes = append(s.probes, r)
		}
		if r.ResolveWhen != nil {
			s.resolved = append(s.resolved, r)
		}
	}
	return s
}

func (s ruleSet) rule(id string) *rules.Rule { return s.byID[id] }

// errUnknownRule is an event of a rule no longer loaded (removed from the
// configuration while its incident was open).
var errUnknownRule = errors.New("rule not loaded")

// incident builds the incident of an event and attaches the snapshot and the advice
// that holds on it.
func (p *Pipeline) incident(ev incidents.Event, snap *facts.Snapshot) (*incidents.Incident, error) {
	r := p.rules.byID[ev.State.Rule]
	if r == nil {
		return nil, fmt.Errorf("incident %s: %w", ev.State.Key, errUnknownRule)
	}
	inc := incidents.Build(r, ev, p.id.Host)
	var target *facts.Target
	if snap != nil {
		t := p.inc.enricher.Target(*snap, r.ID, ev.State.Captures, ev.State.Labels)
		target = &t
	}
	enrich.Attach(inc, r, snap, target)
	return inc, nil
}
