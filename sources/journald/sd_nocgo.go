//go:build !cgo

package journald

import "errors"

// errNoCgo is why the sdjournal reader is not available: libsystemd is reached through cgo.
var errNoCgo = errors.New("cowbell was built without cgo; use reader journalctl")

// newSDFollower reports that this build cannot read through libsystemd.
func newSDFollower(filter) (follower, error) { return nil, errNoCgo }
