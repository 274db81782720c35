//go:build !cgo

package main

// journalReader says how this build reads the journal.
const journalReader = "journalctl child process (built without cgo)"
