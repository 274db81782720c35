// Package memtrim gives back memory a long-running process holds only because it
// started: the heap's start-up peak, and the pages of its own program file that
// start-up touched (package initialisation, parsing and compiling the configuration
// and the rules, the first probes) and the idle loop will not touch again.
//
// A process's resident set counts every page of its program file it has mapped since
// it began, and the kernel maps them 64 KiB at a time around each first touch
// (fault-around, mm/memory.c). A Go program of 20 MB thus stays at most of its size
// resident all its life, although what it runs when idle is a few megabytes. Trim
// unmaps the program file's read-only pages from this process: they stay in the page
// cache, clean and reclaimable, and what runs next maps its pages back from there with
// a minor fault (or reads them from disk if the kernel has reclaimed them meanwhile).
package memtrim

// Usage is the process's resident set, from /proc/self/status, in bytes.
type Usage struct {
	RSS  uint64 // VmRSS
	Anon uint64 // RssAnon: heap, stacks, the runtime's own
	File uint64 // RssFile: the program file and libraries mapped
}

// Result is what one Trim did.
type Result struct {
	Before, After Usage
	// Unmapped is how many bytes of the program file were resident in the mappings
	// trimmed, Mappings how many mappings that was.
	Unmapped uint64
	Mappings int
}
