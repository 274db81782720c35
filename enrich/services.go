package enrich

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
)

// redisSections are the INFO sections asked for: the version, fork and save history,
// and memory.
var redisSections = []string{"server", "persistence", "stats", "memory"}

// redisFields are the INFO fields kept: what says whether a fork can succeed and what
// it costs.
var redisFields = map[string]bool{
	"redis_version":               true,
	"rdb_bgsave_in_progress":      true,
	"rdb_last_bgsave_status":      true,
	"rdb_last_bgsave_time_sec":    true,
	"rdb_changes_since_last_save": true,
	"rdb_last_cow_size":           true,
	"aof_enabled":                 true,
	"aof_rewrite_in_progress":     true,
	"aof_last_bgrewrite_status":   true,
	"aof_last_cow_size":           true,
	"latest_fork_usec":            true,
	"total_forks":                 true,
	"used_memory":                 true,
	"used_memory_rss":             true,
	"used_memory_peak":            true,
	"maxmemory":                   true,
	"maxmemory_policy":            true,
	"mem_fragmentation_ratio":     true,
	"total_system_memory":         true,
	"evicted_keys":                true,
	"current_fork_perc":           true,
	// what the forecasts read: whose INFO it is, the save running now and the
	// write rate since the last save
	"process_id":                   true,
	"tcp_port":                     true,
	"rdb_last_save_time":           true,
	"rdb_current_bgsave_time_sec":  true,
	"aof_last_rewrite_time_sec":    true,
	"aof_current_rewrite_time_sec": true,
	"current_cow_size":             true,
	"current_cow_peak":             true,
	"current_save_keys_processed":  true,
	"current_save_keys_total":      true,
}

// readRedis asks Redis for INFO with one short-lived connection, so nothing lingers
// between snapshots and a rotated password file is read again.
func readRedis(ctx context.Context, c *RedisConfig) (map[string]string, error) {
	pw, err := secret.Pick("password", c.Password, c.PasswordFile, false)
	if err != nil {
		return nil, fmt.Errorf("redis password: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cl := redis.NewClient(&redis.Options{
		Addr:            c.Addr,
		Password:        pw.Reveal(),
		DialTimeout:     c.Timeout,
		ReadTimeout:     c.Timeout,
		WriteTimeout:    c.Timeout,
		MaxRetries:      -1,
		DialerRetries:   1,
		PoolSize:        1,
		DisableIdentity: true,
	})
	defer cl.Close()
	text, err := cl.Info(ctx, redisSections...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis info: %w", err)
	}
	return parseInfo(text), nil
}

// parseInfo keeps the wanted "name:value" lines of an INFO reply.
func parseInfo(text string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && redisFields[name] {
			m[name] = v
		}
	}
	return m
}

// postgresSettings are the settings that size PostgreSQL's memory.
var postgresSettings = []string{
	"server_version", "shared_buffers", "work_mem", "maintenance_work_mem",
	"max_connections", "huge_pages", "effective_cache_size", "autovacuum_work_mem",
	// the commit budget: the shared memory as computed (15+), whether it is in huge
	// pages (17+), hash tables' share of work_mem (13+), autovacuum's workers
	"shared_memory_size", "huge_pages_status", "hash_mem_multiplier", "autovacuum_max_workers",
}

// readPostgres reads the memory settings, with their units as SHOW prints them
// ("128MB"), over one short-lived connection.
func readPostgres(ctx context.Context, c *PostgresConfig) (map[string]string, error) {
	dsn, err := secret.Pick("dsn", c.DSN, c.DSNFile, true)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	cfg, err := pgx.ParseConfig(dsn.Reveal())
	if err != nil {
		// pgx quotes the DSN in parse errors: keep the password out of the snapshot.
		return nil, errors.New("postgres dsn: cannot parse")
	}
	cfg.ConnectTimeout = c.Timeout
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres connect: %w", err)
	}
	defer conn.Close(ctx) // runs before cancel: the close is bounded too
	rows, err := conn.Query(ctx,
		"SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1) ORDER BY name",
		postgresSettings)
	if err != nil {
		return nil, fmt.Errorf("postgres settings: %w", err)
	}
	m := map[string]string{}
	var name, v string
	_, err = pgx.ForEachRow(rows, []any{&name, &v}, func() error {
		m[name] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres settings: %w", err)
	}
	return m, nil
}
