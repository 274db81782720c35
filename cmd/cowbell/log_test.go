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

// TestLogCleansTerminalControls: what cowbell logs of untrusted text (incident keys from
// captures, log lines at Debug, endpoints' answers in errors) reaches the terminal
// without escape sequences, DEL or C1 controls, in both formats.
func TestLogCleansTerminalControls(t *testing.T) {
	hostile := "key\x1b]0;owned\x07\x7f\u009b31m"
	for _, enc := range []zapcore.Encoder{
		zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()),
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
	} {
		var out bytes.Buffer
		log := zap.New(zapcore.NewCore(cleanEncoder{enc}, zapcore.AddSync(&out), zap.DebugLevel)).With(zap.String("source", hostile))
		log.Warn("delivery failed "+hostile, zap.String("incident", hostile), zap.ByteString("text", []byte(hostile)),
			zap.Error(errors.New("endpoint answered 400: "+hostile)))
		got := out.String()
		require.NotContains(t, got, "\x1b")
		require.NotContains(t, got, "\x07")
		require.NotContains(t, got, "\x7f")
		require.NotContains(t, got, "\u009b")
		require.Contains(t, got, "key?]0;owned???31m")
		require.Contains(t, got, "endpoint answered 400: key?")
	}
}

// A dead letter is logged at Error: one entry saying what failed and why, without a
// Go stack trace under it.
func TestErrorLogHasNoStackTrace(t *testing.T) {
	for _, format := range []string{"console", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLoggerTo(config.Log{Level: "info", Format: format}, zap.NewAtomicLevel(), zapcore.AddSync(&buf))
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
