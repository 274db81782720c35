//go:build cgo

package main

// journalReader says how this build reads the journal.
const journalReader = "sdjournal (libsystemd.so.0 loaded at run time; journalctl when it is missing)"

// journalReaderName is journalReader as a metric label.
const journalReaderName = "sdjournal"
