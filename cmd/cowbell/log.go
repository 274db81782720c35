package main

import (
	"context"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cowbell-sidecar/cowbell/config"
)

// newLogger builds cowbell's own log on stderr.
func newLogger(c config.Log) (*zap.Logger, error) {
	return newLoggerTo(c, zapcore.Lock(os.Stderr))
}

// newLoggerTo builds cowbell's log writing to w: levelled, ISO 8601 times, console
// or JSON. It adds no stack traces: an Error entry (a dead letter, an incident not
// spooled) says what failed and why in its fields, and a Go stack of the goroutine
// that logged it would bury that on every dead letter.
func newLoggerTo(c config.Log, w zapcore.WriteSyncer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if c.Format == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, w, level), zap.AddCaller(), zap.ErrorOutput(w)), nil
}

// nopLogger is for one-shot commands whose output is their answer.
func nopLogger() *zap.Logger { return zap.NewNop() }

// redisLog routes the Redis client's own messages ("dial tcp ...: connection
// refused") into cowbell's log at Debug: the enricher already records a Redis that
// does not answer in the snapshot, and the library would otherwise print to stderr.
type redisLog struct{ log *zap.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Debug("redis client", zap.String("message", fmt.Sprintf(format, v...)))
}

// quietRedis installs redisLog; go-redis keeps its logger in a package variable, so
// main sets it once, before any client exists.
func quietRedis(log *zap.Logger) { redis.SetLogger(redisLog{log.Named("redis")}) }
