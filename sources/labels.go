package sources

// Label names a source may put on a line. Rules select on them (`labels:`), incident
// keys and receivers read them; the names are part of the rule and incident schema,
// so they are written here once.
const (
	// Container logs (Docker json-file, CRI), from the record and the log's path.
	LabelStream        = "stream"         // stdout or stderr
	LabelContainerID   = "container_id"   // the runtime's container id
	LabelContainerName = "container_name" // Docker's container name
	LabelNamespace     = "namespace"      // Kubernetes namespace
	LabelPod           = "pod"            // Kubernetes pod name
	LabelPodUID        = "pod_uid"        // Kubernetes pod UID
	LabelContainer     = "container"      // Kubernetes container name

	// Journal entries, from their trusted fields.
	LabelUnit       = "unit"       // _SYSTEMD_UNIT
	LabelIdentifier = "identifier" // SYSLOG_IDENTIFIER
	LabelPID        = "pid"        // _PID
	LabelComm       = "comm"       // _COMM
	LabelTransport  = "transport"  // _TRANSPORT: kernel, journal, syslog, stdout
	LabelHostname   = "hostname"   // _HOSTNAME
	LabelPriority   = "priority"   // PRIORITY
	LabelBootID     = "boot_id"    // _BOOT_ID
)

// WhereLabels are the labels that say where a line came from, most specific first:
// what a person reads as "on which container or unit".
var WhereLabels = []string{LabelContainerName, LabelContainer, LabelPod, LabelUnit}
