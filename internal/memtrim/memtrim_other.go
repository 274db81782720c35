//go:build !linux

package memtrim

import "errors"

// Trim is Linux's alone: elsewhere it does nothing and says so.
func Trim() (Result, error) { return Result{}, errors.ErrUnsupported }
