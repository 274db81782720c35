package secret

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	tok := Secret("xoxb-T0KEN")
	urlErr := &url.Error{Op: "Post", URL: "https://hooks.example.com/services/T0KEN", Err: context.DeadlineExceeded}
	tests := []struct {
		name    string
		err     error
		secrets []Secret
		want    string
	}{
		{"nil", nil, nil, ""},
		{"nothing to take out", errors.New("endpoint answered 400"), []Secret{tok}, "endpoint answered 400"},
		{"a url.Error tells its operation", fmt.Errorf("post incident: %w", urlErr), nil,
			"post incident: post: timeout: context deadline exceeded"},
		{"a secret's value", fmt.Errorf("answered: invalid token xoxb-T0KEN"), []Secret{tok, ""}, "answered: invalid token <secret>"},
		{"a URL in a message", errors.New(`proxy said "see https://proxy.example/T0KEN?x=1" and http://a/b`), nil,
			`proxy said "see <url>" and <url>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.err, tt.secrets...)
			if tt.err == nil {
				require.NoError(t, got)
				return
			}
			require.Equal(t, tt.want, got.Error())
			require.NotContains(t, got.Error(), "T0KEN")
		})
	}
}

// TestRedactKeepsTheChain: callers still tell a cancellation from a timeout and find
// the status error or the *url.Error underneath.
func TestRedactKeepsTheChain(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://api.example.com/T0KEN", Err: context.Canceled}
	err := Redact(fmt.Errorf("call: %w", ue))
	require.ErrorIs(t, err, context.Canceled)
	var got *url.Error
	require.ErrorAs(t, err, &got)
	require.Equal(t, "call: get: context canceled", err.Error())

	pe := &os.PathError{Op: "open", Path: "/run/secrets/x", Err: os.ErrNotExist}
	err = Redact(fmt.Errorf("status %d from https://h/T0KEN: %w", http.StatusNotFound, pe))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Equal(t, "status 404 from <url>: open /run/secrets/x: file does not exist", err.Error())
}

func TestCheckAndRead(t *testing.T) {
	file := t.TempDir() + "/key"
	require.NoError(t, os.WriteFile(file, []byte("k3y\n"), 0o600))
	require.ErrorContains(t, Check("url", "", "", true), "one of url and url_file is required")
	require.NoError(t, Check("url", "", "", false))
	err := Check("token", "a", file, false)
	require.ErrorContains(t, err, "only one of token and token_file may be set")

	s, err := Read("key", "", file)
	require.NoError(t, err)
	require.Equal(t, "k3y", s.Reveal())
	_, err = Read("key", "", file+".missing")
	require.ErrorContains(t, err, "key_file: read secret file")
	require.ErrorContains(t, err, file+".missing", "names the file")
}
