package slack

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// APIURL is Slack's Web API.
const APIURL = "https://slack.com/api/"

// Config configures a Slack receiver, in one of two modes:
//
//	# incoming webhook: one message per notification
//	type: slack
//	webhook_url_file: /run/secrets/slack-webhook
//
//	# bot token: one message per incident, repeats in its thread, resolve edits it
//	type: slack
//	token_file: /run/secrets/slack-bot-token
//	channel: C0123456789
type Config struct {
	// WebhookURL is an incoming webhook (https://hooks.slack.com/services/…), a
	// secret; WebhookURLFile is its _file twin.
	WebhookURL     secret.Secret `yaml:"webhook_url"`
	WebhookURLFile string        `yaml:"webhook_url_file"`
	// Token is a bot token (xoxb-…) with chat:write; TokenFile is its _file twin.
	Token     secret.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	// Channel is where a bot posts: a channel ID, or a name the bot is a member of.
	Channel string `yaml:"channel"`
	// APIURL is the Web API base (APIURL unless overridden, e.g. for a test server).
	APIURL string `yaml:"api_url"`
	// Timeout bounds one HTTP request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxLines is how many of the newest log lines a message shows.
	MaxLines int `yaml:"max_lines"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{APIURL: APIURL, Timeout: 10 * time.Second, MaxLines: 10}

// UnmarshalYAML sets defaults, decodes strictly and checks that exactly one mode is
// configured. It does no I/O: secret files are read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	webhook := c.WebhookURL != "" || c.WebhookURLFile != ""
	bot := c.Token != "" || c.TokenFile != ""
	switch {
	case webhook == bot:
		return yamlpos.At(n, "exactly one of webhook_url (or webhook_url_file) and token (or token_file) is required")
	case c.WebhookURL != "" && c.WebhookURLFile != "":
		return yamlpos.At(yamlpos.Value(n, "webhook_url_file"), "only one of webhook_url and webhook_url_file may be set")
	case c.Token != "" && c.TokenFile != "":
		return yamlpos.At(yamlpos.Value(n, "token_file"), "only one of token and token_file may be set")
	case bot && c.Channel == "":
		return yamlpos.At(n, "channel is required with token")
	case webhook && c.Channel != "":
		return yamlpos.At(yamlpos.Value(n, "channel"), "channel applies only with token: an incoming webhook posts to its own channel")
	}
	if c.WebhookURL != "" && notifiers.CheckURL(c.WebhookURL.Reveal()) != nil {
		return yamlpos.At(yamlpos.Value(n, "webhook_url"), "webhook_url: not an absolute http or https URL")
	}
	if notifiers.CheckURL(c.APIURL) != nil {
		return yamlpos.At(yamlpos.Value(n, "api_url"), "api_url: not an absolute http or https URL")
	}
	if c.Timeout <= 0 {
		return yamlpos.At(yamlpos.Value(n, "timeout"), "timeout must be positive")
	}
	if c.MaxLines < 1 || c.MaxLines > 50 {
		return yamlpos.At(yamlpos.Value(n, "max_lines"), "max_lines must be between 1 and 50")
	}
	return nil
}
