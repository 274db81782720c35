// Package soak runs the built cowbell against a world that misbehaves: log files
// written and rotated in every way a node rotates them (logrotate create and
// copytruncate, delaycompress, kubelet's renames and gzip, Docker json-file's numbered
// shift and compression), rotated twice and compressed while cowbell is down, cowbell
// killed with -9 at random, and a webhook that fails at random. Every numbered line is
// an incident of its own; at the end each must have been notified once.
//
//	go test ./test/soak                               # a short run (make test runs it)
//	go test ./test/soak -run TestSoak -v -soak.duration=10m  # a long one, by hand
package soak

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

var (
	duration = flag.Duration("soak.duration", 0, "how long the world misbehaves (default: a short run)")
	seed     = flag.Uint64("soak.seed", 0, "random seed (0: from the clock; the seed is printed)")
	race     = flag.Bool("soak.race", false, "build cowbell with the race detector")
	keepDir  = flag.String("soak.keep", "", "after a failure, copy the world, the events and cowbell's logs here")
)

// binary is cowbell, built once.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cowbell-soak")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cowbell")
	args := []string{"build", "-o", binary}
	if *race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/cowbell-sidecar/cowbell/cmd/cowbell")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cowbell:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
