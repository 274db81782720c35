package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cowbell-sidecar/cowbell/config"
)

// A dead letter is logged at Error: one entry saying what failed and why, without a
// Go stack trace under it.
func TestErrorLogHasNoStackTrace(t *testing.T) {
	for _, format := range []string{"console", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLoggerTo(config.Log{Level: "info", Format: format}, zapcore.AddSync(&buf))
			require.NoError(t, err)
			log.Error("delivery given up, notification moved to dead letters",
				zap.String("incident", "k"), zap.Error(errors.New("endpoint answered 400 Bad Request: invalid_blocks")))
			require.NoError(t, log.Sync())
			out := buf.String()
			require.Contains(t, out, "invalid_blocks")
			require.Equal(t, 1, strings.Count(out, "\n"), "one line:\n%s", out)
			require.NotContains(t, out, "stacktrace")
			require.NotContains(t, out, "goroutine")
		})
	}
}
