package enrich

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
)

// CheckFiles reads what the snapshot settings name and decoding could not check
// without I/O: the Redis password_file, the PostgreSQL dsn_file, and the DSN itself,
// which must parse. `cowbell check` runs it so that a typo shows there, not as an
// error in every snapshot. Errors never quote a DSN: it holds a password.
func (c Config) CheckFiles() error {
	var errs []error
	if r := c.Redis; r != nil {
		if _, err := secret.Pick("password", r.Password, r.PasswordFile, false); err != nil {
			errs = append(errs, fmt.Errorf("snapshot: redis: %w", err))
		}
	}
	for i, r := range c.RedisInstances {
		if _, err := secret.Pick("password", r.Password, r.PasswordFile, false); err != nil {
			errs = append(errs, fmt.Errorf("snapshot: redis_instances[%d]: %w", i, err))
		}
	}
	if p := c.Postgres; p != nil {
		dsn, err := secret.Pick("dsn", p.DSN, p.DSNFile, true)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("snapshot: postgres: %w", err))
		default:
			if _, err := pgx.ParseConfig(dsn.Reveal()); err != nil {
				errs = append(errs, errors.New("snapshot: postgres: dsn: cannot parse (a URL postgres://… or key=value pairs)"))
			}
		}
	}
	return errors.Join(errs...)
}
