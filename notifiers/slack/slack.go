// Package slack delivers incidents to Slack as Block Kit messages, through an
// incoming webhook (one message per notification) or a bot token (one message per
// incident: repeats go to its thread, a resolve edits it in place and says so in the
// thread). Every piece of log or incident text is escaped, so a log line can neither
// mention a channel nor forge a link.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Notifier posts incidents to one Slack webhook or channel.
type Notifier struct {
	webhook  secret.Secret // webhook mode
	token    secret.Secret // bot mode
	api      *slack.Client // bot mode
	channel  string
	client   *http.Client
	threads  notifiers.KV
	maxLines int
	now      func() time.Time
	log      *zap.Logger
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a Notifier, reading webhook_url_file or token_file if set. d.KV keeps
// the bot's message per incident key (nil: in memory).
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	webhook, err := secret.Read("webhook_url", c.WebhookURL, c.WebhookURLFile)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	if !webhook.Empty() && notifiers.CheckURL(webhook.Reveal()) != nil {
		return nil, errors.New("slack: webhook_url_file: not an absolute http or https URL")
	}
	token, err := secret.Read("token", c.Token, c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	if c.MaxLines == 0 {
		c.MaxLines = DefaultConfig.MaxLines
	}
	if c.APIURL == "" {
		c.APIURL = APIURL
	}
	client, err := c.NewClient(webhook, token)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	kv := d.KV
	if kv == nil {
		kv = &memKV{m: map[string]string{}}
	}
	n := &Notifier{
		webhook: webhook, token: token, channel: c.Channel,
		client: client, threads: kv,
		maxLines: c.MaxLines, now: time.Now, log: d.Log,
	}
	if !token.Empty() {
		n.api = slack.New(token.Reveal(), slack.OptionHTTPClient(n.client),
			slack.OptionAPIURL(strings.TrimRight(c.APIURL, "/")+"/"))
	}
	return n, nil
}

// Notify makes one delivery attempt. Rate limits and transport failures may succeed
// later (a rate limit says when); Slack refusing the request (invalid_auth,
// channel_not_found, …) will not.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error) {
	if n.api == nil {
		return n.postWebhook(ctx, inc)
	}
	if inc.Status == incidents.StatusResolved {
		return n.resolve(ctx, inc)
	}
	return n.fire(ctx, inc)
}

// postWebhook posts one message to the incoming webhook. Slack answers a refused
// message with a status and a word saying why (404 no_service, 400 invalid_blocks, 403
// invalid_token): the error quotes it.
func (n *Notifier) postWebhook(ctx context.Context, inc *incidents.Incident) (bool, error) {
	m := render(inc, n.maxLines)
	f := false
	body, err := json.Marshal(&slack.WebhookMessage{
		Text: m.text, Blocks: &slack.Blocks{BlockSet: m.blocks}, UnfurlLinks: &f, UnfurlMedia: &f,
	})
	if err != nil {
		return false, fmt.Errorf("encode slack message: %w", err)
	}
	retry, err := notifiers.Post(ctx, n.client, n.webhook.Reveal(), "application/json", body)
	if err != nil {
		return retry, secret.Redact(fmt.Errorf("post slack webhook: %w", err), n.webhook)
	}
	n.log.Debug("slack webhook accepted", zap.String("incident", inc.Key))
	return false, nil
}

// fire posts the first notification of a key as a message and later ones as
// replies in its thread.
func (n *Notifier) fire(ctx context.Context, inc *incidents.Incident) (bool, error) {
	th, ok, err := n.thread(inc.Key)
	if err != nil {
		return true, err
	}
	if ok {
		m := renderRepeat(inc, n.maxLines)
		if _, _, err := n.api.PostMessageContext(ctx, th.channel, options(m, slack.MsgOptionTS(th.ts))...); err != nil {
			return n.classify("post slack thread reply", err)
		}
		n.log.Debug("slack thread reply posted", zap.String("incident", inc.Key))
		return false, nil
	}
	m := render(inc, n.maxLines)
	channel, ts, err := n.api.PostMessageContext(ctx, n.channel, options(m)...)
	if err != nil {
		return n.classify("post slack message", err)
	}
	// The message is out: a thread id that cannot be kept costs threading, not
	// delivery, so it is not retried (that would post the message twice).
	if err := n.threads.Put(inc.Key, channel+" "+ts); err != nil {
		n.log.Warn("slack thread not stored, repeats will start a new message", zap.String("incident", inc.Key), zap.Error(err))
	}
	n.log.Debug("slack message posted", zap.String("incident", inc.Key))
	return false, nil
}

// resolve edits the incident's message in place and says so in its thread; an
// incident whose message is unknown gets a new message.
func (n *Notifier) resolve(ctx context.Context, inc *incidents.Incident) (bool, error) {
	th, ok, err := n.thread(inc.Key)
	if err != nil {
		return true, err
	}
	m := render(inc, n.maxLines)
	if !ok {
		if _, _, err := n.api.PostMessageContext(ctx, n.channel, options(m)...); err != nil {
			return n.classify("post slack message", err)
		}
		return false, nil
	}
	if _, _, _, err := n.api.UpdateMessageContext(ctx, th.channel, th.ts, options(m)...); err != nil {
		return n.classify("update slack message", err)
	}
	at := n.now()
	if inc.ResolvedAt != nil {
		at = *inc.ResolvedAt
	}
	reply := renderResolvedReply(inc, at)
	if _, _, err := n.api.PostMessageContext(ctx, th.channel, options(reply, slack.MsgOptionTS(th.ts))...); err != nil {
		// A retry edits the message again (harmless) and posts the reply.
		return n.classify("post slack thread reply", err)
	}
	if err := n.threads.Delete(inc.Key); err != nil {
		n.log.Warn("slack thread not forgotten", zap.String("incident", inc.Key), zap.Error(err))
	}
	n.log.Debug("slack message resolved", zap.String("incident", inc.Key))
	return false, nil
}

type thread struct{ channel, ts string }

func (n *Notifier) thread(key string) (thread, bool, error) {
	v, ok, err := n.threads.Get(key)
	if err != nil {
		return thread{}, false, fmt.Errorf("read slack thread: %w", err)
	}
	ch, ts, found := strings.Cut(v, " ")
	if !ok || !found || ch == "" || ts == "" {
		return thread{}, false, nil
	}
	return thread{channel: ch, ts: ts}, true, nil
}

func options(m message, extra ...slack.MsgOption) []slack.MsgOption {
	return append([]slack.MsgOption{
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}, extra...)
}

// transient are Slack API errors that may go away by themselves.
var transient = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "ratelimited": true,
}

// classify turns a slack-go error into retry and an error free of URL and token.
func (n *Notifier) classify(op string, err error) (bool, error) {
	var rl *slack.RateLimitedError
	var api slack.SlackErrorResponse
	var code slack.StatusCodeError
	var ue *url.Error
	switch {
	case errors.As(err, &rl):
		return true, &RateLimitError{Op: op, After: rl.RetryAfter}
	case errors.As(err, &api):
		why := api.Err
		if msgs := api.ResponseMetadata.Messages; len(msgs) > 0 {
			why += ": " + notifiers.Truncate(strings.Join(msgs, "; "), notifiers.MaxQuotedBody)
		}
		return transient[api.Err], secret.Redact(fmt.Errorf("%s: slack answered %s", op, why), n.webhook, n.token)
	case errors.As(err, &code):
		return notifiers.Retryable(code.Code), fmt.Errorf("%s: slack answered %d %s", op, code.Code, http.StatusText(code.Code))
	case errors.As(err, &ue):
		return true, secret.Redact(fmt.Errorf("%s: %w", op, ue), n.webhook, n.token)
	}
	// Anything else is an answer we could not read (a proxy's error page).
	return true, secret.Redact(fmt.Errorf("%s: %w", op, err), n.webhook, n.token)
}

// RateLimitError is Slack asking us to slow down; it implements notifiers.RetryAfter.
type RateLimitError struct {
	Op    string
	After time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: slack rate limit, retry after %s", e.Op, e.After)
}

// RetryAfter implements notifiers.RetryAfter.
func (e *RateLimitError) RetryAfter() time.Duration { return e.After }

var _ notifiers.RetryAfter = (*RateLimitError)(nil)

// memKV keeps thread ids in memory when no durable store is given.
type memKV struct {
	mu sync.Mutex
	m  map[string]string
}

func (k *memKV) Get(key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Put(key, val string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = val
	return nil
}

func (k *memKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

// MaxConcurrency implements notifiers.Concurrency: Slack allows about one message a
// second per channel (and per incoming webhook), so messages go out one at a time and
// a burst is paced by its rate limit answers rather than refused in a volley.
func (n *Notifier) MaxConcurrency() int { return 1 }
