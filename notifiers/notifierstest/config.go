package notifierstest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// DecodeConfig decodes src into a C. With wantErr empty it must decode to want;
// otherwise it must fail with a *yamlpos.Error containing wantErr and none of
// secrets (a config error never quotes a secret it was given).
func DecodeConfig[C any](t *testing.T, src string, want C, wantErr string, secrets ...string) {
	t.Helper()
	var c C
	err := yaml.Unmarshal([]byte(src), &c)
	if wantErr == "" {
		require.NoError(t, err)
		require.Equal(t, want, c)
		return
	}
	var pe *yamlpos.Error
	require.ErrorAs(t, err, &pe)
	require.ErrorContains(t, err, wantErr)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s)
	}
}

// Deps are what a receiver's New takes in a test: a name and a test logger.
func Deps(t testing.TB) notifiers.Deps {
	return notifiers.Deps{Name: "test", Log: zaptest.NewLogger(t)}
}
