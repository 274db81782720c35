package slack

import (
	"errors"

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
	// MaxLines is how many of the newest log lines a message shows.
	MaxLines int `yaml:"max_lines"`

	notifiers.HTTPConfig `yaml:",inline"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{APIURL: APIURL, MaxLines: 10, HTTPConfig: notifiers.DefaultHTTPConfig}

// UnmarshalYAML sets defaults, decodes strictly and checks that exactly one mode is
// configured. It does no I/O: secret files are read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	return yamlpos.Place(n, c.check())
}

// Describe implements notifiers.Config.
func (c Config) Describe() string {
	if c.bot() {
		return "slack bot, channel " + c.Channel
	}
	return "slack incoming webhook"
}

func (c Config) bot() bool { return !c.Token.Empty() || c.TokenFile != "" }

func (c Config) check() error {
	webhook := !c.WebhookURL.Empty() || c.WebhookURLFile != ""
	bot := c.bot()
	if webhook == bot {
		return errors.New("exactly one of webhook_url (or webhook_url_file) and token (or token_file) is required")
	}
	if err := secret.Check("webhook_url", c.WebhookURL, c.WebhookURLFile, false); err != nil {
		return err
	}
	if err := secret.Check("token", c.Token, c.TokenFile, false); err != nil {
		return err
	}
	switch {
	case bot && c.Channel == "":
		return errors.New("channel is required with token")
	case webhook && c.Channel != "":
		return yamlpos.Field("channel", errors.New("channel applies only with token: an incoming webhook posts to its own channel"))
	}
	if !c.WebhookURL.Empty() && notifiers.CheckURL(c.WebhookURL.Reveal()) != nil {
		return yamlpos.Field("webhook_url", errors.New("webhook_url: not an absolute http or https URL"))
	}
	if c.APIURL != "" && notifiers.CheckURL(c.APIURL) != nil {
		return yamlpos.Field("api_url", errors.New("api_url: not an absolute http or https URL"))
	}
	if c.MaxLines < 0 || c.MaxLines > 50 {
		return yamlpos.Field("max_lines", errors.New("max_lines must be between 1 and 50"))
	}
	return c.HTTPConfig.Check()
}
