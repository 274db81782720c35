// Package alertmanager delivers incidents to a Prometheus Alertmanager cluster through
// its API v2. Alertmanager expects its clients to re-send active alerts: the Notifier
// keeps the open incidents it has posted and Run posts them again every interval, so
// an alert expires on its own if cowbell stops.
package alertmanager

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// expiryIntervals is how many resend intervals a firing alert stays active without
// being re-sent: a few lost posts do not flap it, a stopped cowbell lets it expire.
const expiryIntervals = 4

// Notifier posts incidents as alerts to every Alertmanager of a cluster and keeps the
// active ones re-sent.
type Notifier struct {
	endpoints []endpoint
	client    *http.Client
	headers   []notifiers.Header
	labels    map[string]string
	generator string
	resend    time.Duration
	now       func() time.Time
	log       *zap.Logger

	// mu guards active and serialises posts, so a re-send of a firing alert never
	// lands after the post that resolved it.
	mu      sync.Mutex
	active  map[string]*incidents.Incident
	failing string // the last re-send failure, "" while re-sends succeed
}

// endpoint is one Alertmanager: where to post, a name safe to log, and its last
// failure while others took the alerts (guarded by Notifier.mu).
type endpoint struct{ url, name, down string }

var (
	_ notifiers.Notifier = (*Notifier)(nil)
	_ notifiers.Primer   = (*Notifier)(nil)
)

// New makes a Notifier, reading password_file or bearer_token_file if set.
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	client, err := c.NewClient()
	if err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	generator := c.GeneratorURL
	if generator == "" {
		generator = d.MetricsURL
	}
	n := &Notifier{
		labels:    c.Labels,
		generator: generator,
		resend:    c.ResendInterval,
		now:       time.Now,
		log:       d.Log,
		active:    map[string]*incidents.Incident{},
		client:    client,
	}
	if n.resend == 0 {
		n.resend = DefaultConfig.ResendInterval
	}
	for _, raw := range c.URLs {
		u, _ := url.Parse(raw) // checked
		n.endpoints = append(n.endpoints, endpoint{
			url:  strings.TrimRight(raw, "/") + "/api/v2/alerts",
			name: u.Host,
		})
	}
	auth, err := authHeader(c)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: %w", err)
	}
	if auth != "" {
		n.headers = []notifiers.Header{{Name: "Authorization", Value: auth}}
	}
	return n, nil
}

func authHeader(c Config) (string, error) {
	token, err := secret.Read("bearer_token", c.BearerToken, c.BearerTokenFile)
	if err != nil {
		return "", err
	}
	if !token.Empty() {
		return "Bearer " + token.Reveal(), nil
	}
	if c.Username == "" {
		return "", nil
	}
	pw, err := secret.Read("password", c.Password, c.PasswordFile)
	if err != nil {
		return "", err
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+pw.Reveal())), nil
}

// Notify posts one incident to every Alertmanager. It succeeds when at least one
// accepted it (the cluster gossips it to the others); a firing incident then joins
// the set Run re-sends. A resolve leaves the set whatever the outcome: re-sending
// the alert as firing would contradict it, and an unsent resolve still expires.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	firing := inc.Status != incidents.StatusResolved
	if !firing {
		delete(n.active, inc.Key)
	}
	retry, err = n.post(ctx, []alert{n.alert(inc, n.now())})
	if err != nil {
		return retry, err
	}
	if firing {
		n.active[inc.Key] = inc
	}
	n.log.Debug("alert accepted", zap.String("incident", inc.Key), zap.String("status", string(inc.Status)))
	return false, nil
}

// Prime implements notifiers.Primer: incidents still open from before a restart join
// the re-sent set, so their alerts do not expire while they are open.
func (n *Notifier) Prime(incs []*incidents.Incident) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, inc := range incs {
		if inc.Status != incidents.StatusResolved {
			n.active[inc.Key] = inc
		}
	}
}

// Active returns the keys of the incidents being re-sent.
func (n *Notifier) Active() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := make([]string, 0, len(n.active))
	for k := range n.active {
		keys = append(keys, k)
	}
	return keys
}

// Run re-sends the active alerts every resend interval until ctx is done, when it
// returns nil. A failing re-send is logged when it starts and when it clears; the
// next interval tries again.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.resend)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.resendActive(ctx)
		}
	}
}

func (n *Notifier) resendActive(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.active) == 0 {
		return
	}
	now := n.now()
	alerts := make([]alert, 0, len(n.active))
	for _, inc := range n.active {
		alerts = append(alerts, n.alert(inc, now))
	}
	_, err := n.post(ctx, alerts)
	switch {
	case err != nil && ctx.Err() != nil:
		return // shutting down
	case err != nil && err.Error() != n.failing:
		n.failing = err.Error()
		n.log.Warn("re-sending active alerts failed", zap.Int("alerts", len(alerts)), zap.Error(err))
	case err == nil && n.failing != "":
		n.failing = ""
		n.log.Info("re-sending active alerts recovered", zap.Int("alerts", len(alerts)))
	}
}

// post sends alerts to every endpoint at once and succeeds when one accepted them.
func (n *Notifier) post(ctx context.Context, alerts []alert) (retry bool, err error) {
	body, err := json.Marshal(alerts)
	if err != nil {
		return false, fmt.Errorf("encode alerts: %w", err)
	}
	type result struct {
		retry bool
		err   error
	}
	results := make([]result, len(n.endpoints))
	var wg sync.WaitGroup
	for i, ep := range n.endpoints {
		wg.Go(func() {
			r, err := notifiers.Post(ctx, n.client, ep.url, "application/json", body, n.headers...)
			results[i] = result{r, err}
		})
	}
	wg.Wait()
	var errs []error
	accepted := false
	for i, r := range results {
		if r.err == nil {
			accepted = true
			n.markUp(i)
			continue
		}
		retry = retry || r.retry
		errs = append(errs, fmt.Errorf("post alerts to %s: %w", n.endpoints[i].name, r.err))
	}
	if !accepted {
		return retry, errors.Join(errs...)
	}
	for i, r := range results {
		if r.err != nil {
			n.markDown(i, r.err)
		}
	}
	return false, nil
}

// markDown logs, when it starts or changes, that one Alertmanager of the cluster
// refuses alerts the others take.
func (n *Notifier) markDown(i int, err error) {
	ep := &n.endpoints[i]
	if ep.down == err.Error() {
		return
	}
	ep.down = err.Error()
	n.log.Warn("alertmanager did not take alerts", zap.String("endpoint", ep.name), zap.Error(err))
}

func (n *Notifier) markUp(i int) {
	ep := &n.endpoints[i]
	if ep.down != "" {
		ep.down = ""
		n.log.Info("alertmanager takes alerts again", zap.String("endpoint", ep.name))
	}
}

// OpensAlerts implements notifiers.Alerter: Alertmanager keeps an alert firing until it ends.
func (n *Notifier) OpensAlerts() bool { return true }
