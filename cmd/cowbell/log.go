package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

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
