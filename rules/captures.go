package rules

// Capture names with a meaning beyond the rule that captures them: incidents about
// the same process are joined on CapturePID, and summaries name the process. A rule's
// pattern uses them as named groups: `Killed process (?P<pid>\d+) \((?P<task>[^)]+)\)`.
const (
	CapturePID     = "pid"     // the process the line is about
	CaptureTask    = "task"    // its command name, as the kernel logs it
	CaptureComm    = "comm"    // its command name, as a source names it
	CaptureProcess = "process" // its name, as a database logs it
)
