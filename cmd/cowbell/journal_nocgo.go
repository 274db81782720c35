//go:build !cgo

package main

// journalReader says how this build reads the journal.
const journalReader = "journalctl child process (built without cgo)"

// journalReaderName is journalReader as a metric label.
const journalReaderName = "journalctl"
