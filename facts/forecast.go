package facts

// Forecast is what the snapshot says of failures still to come: the next fork of each
// Redis, the copy-on-write of its next or running save, a full PostgreSQL pool under
// strict overcommit, and when Committed_AS reaches CommitLimit at its present climb.
// enrich fills it from the rest of the snapshot (enrich.Forecast); each figure says
// how it was reached in its Text, which the forecast probes quote.
type Forecast struct {
	// Redis holds one entry per Redis: every redis-server process found, joined with
	// the INFO of the configured address whose process_id it is, and the configured
	// address alone when its process is not visible (another PID namespace).
	Redis []RedisForecast `json:"redis,omitempty" expr:"redis"`
	// ForkRefused says the next fork of at least one Redis would be refused by the
	// overcommit policy; SaveOOM that the copy-on-write of at least one Redis's next
	// or running save is forecast to outgrow the memory it can use.
	ForkRefused bool             `json:"fork_refused,omitempty" expr:"fork_refused"`
	SaveOOM     bool             `json:"save_oom,omitempty" expr:"save_oom"`
	Postgres    PostgresForecast `json:"postgres,omitzero" expr:"postgres"`
	Commit      CommitForecast   `json:"commit,omitzero" expr:"commit"`
}

// RedisForecast is one Redis's next fork and save. Sizes in kB.
type RedisForecast struct {
	// Instance names it in advice: "127.0.0.1:6379 (redis-server pid 812)",
	// "redis-server pid 812" or the address alone.
	Instance string `json:"instance" expr:"instance"`
	PID      int    `json:"pid,omitempty" expr:"pid"`
	Addr     string `json:"addr,omitempty" expr:"addr"`

	// ForkChargeKB is what the next fork adds to Committed_AS: the parent's private
	// writable memory (VmData + VmStk), or INFO's used_memory_rss (a lower bound)
	// when the process is not visible, or, when those forecast a refusal, what the
	// kernel accounts of it (smaps); ChargeFrom says which ("proc", "info",
	// "smaps"). UnaccountedKB is the rest of VmData + VmStk under "smaps": mapped
	// MAP_NORESERVE before the host went to mode 2, not charged until Redis restarts.
	ForkChargeKB  int64  `json:"fork_charge_kb" expr:"fork_charge_kb"`
	ChargeFrom    string `json:"charge_from" expr:"charge_from"`
	UnaccountedKB int64  `json:"unaccounted_kb,omitempty" expr:"unaccounted_kb"`
	// LargestMappingKB is the largest single private writable mapping: mode 0 checks
	// each mapping on its own.
	LargestMappingKB int64 `json:"largest_mapping_kb,omitempty" expr:"largest_mapping_kb"`
	// ForkRoomKB is what the kernel's rule lets the fork charge now: under mode 2
	// CommitLimit less the reserves less Committed_AS, for the whole charge; under
	// mode 0 the per-mapping bound; -1 under mode 1 (nothing is refused).
	ForkRoomKB int64 `json:"fork_room_kb" expr:"fork_room_kb"`
	PerMapping bool  `json:"per_mapping,omitempty" expr:"per_mapping"`
	// ForkRefused says the next fork (BGSAVE, an AOF rewrite, a full resync) would
	// fail with ENOMEM; ForkText says why, with the numbers.
	ForkRefused bool   `json:"fork_refused" expr:"fork_refused"`
	ForkText    string `json:"fork_text" expr:"fork_text"`

	// Saving says a save or AOF rewrite runs now (INFO rdb_bgsave_in_progress,
	// aof_rewrite_in_progress); SaveKind names it ("BGSAVE", "AOF rewrite").
	Saving   bool   `json:"saving,omitempty" expr:"saving"`
	SaveKind string `json:"save_kind,omitempty" expr:"save_kind"`
	// CowKB is the copy-on-write the forecast expects: of the next save when none
	// runs (the last save's measured rdb_last_cow_size or aof_last_cow_size, else the
	// write rate over the last save's duration), of the running save until its end
	// when one runs (current_cow_size extrapolated over current_fork_perc). CowNowKB
	// is the running save's current_cow_size; CowWorstKB the parent's anonymous
	// memory, every page of which a save may have to copy.
	CowKB      int64  `json:"cow_kb,omitempty" expr:"cow_kb"`
	CowNowKB   int64  `json:"cow_now_kb,omitempty" expr:"cow_now_kb"`
	CowWorstKB int64  `json:"cow_worst_kb,omitempty" expr:"cow_worst_kb"`
	CowFrom    string `json:"cow_from,omitempty" expr:"cow_from"`
	// RoomKB is the memory the save can grow into: the Redis process's memory
	// cgroup limit less its usage (less reclaimable page cache), else MemAvailable;
	// RoomFrom says which.
	RoomKB   int64  `json:"room_kb" expr:"room_kb"`
	RoomFrom string `json:"room_from,omitempty" expr:"room_from"`
	// SaveOOM says the copy-on-write is forecast to outgrow RoomKB: the kernel would
	// OOM-kill the save child or Redis itself before the save ends; CowText says why.
	SaveOOM bool   `json:"save_oom" expr:"save_oom"`
	CowText string `json:"cow_text,omitempty" expr:"cow_text"`
}

// PostgresForecast is PostgreSQL's commit budget under strict overcommit: what a full
// pool of connections commits against what CommitLimit leaves it. Sizes in kB.
type PostgresForecast struct {
	// Known says the settings and processes needed were read.
	Known bool `json:"known" expr:"known"`
	// SharedKB is the main shared memory (shared_memory_size, else shared_buffers),
	// committed once when the postmaster maps it; 0 when it lives in huge pages,
	// which commit accounting leaves out.
	SharedKB          int64   `json:"shared_kb" expr:"shared_kb"`
	MaxConnections    int64   `json:"max_connections" expr:"max_connections"`
	AutovacuumWorkers int64   `json:"autovacuum_workers" expr:"autovacuum_workers"`
	WorkMemKB         int64   `json:"work_mem_kb" expr:"work_mem_kb"`
	HashMemMultiplier float64 `json:"hash_mem_multiplier" expr:"hash_mem_multiplier"`
	MaintenanceKB     int64   `json:"maintenance_kb" expr:"maintenance_kb"`
	// Processes is how many postgres processes run now, PrivateKB what they commit
	// privately (VmData + VmStk summed), BackendKB the private commit of one
	// process measured on them (the mean over the postmaster's children).
	Processes int64 `json:"processes" expr:"processes"`
	PrivateKB int64 `json:"private_kb" expr:"private_kb"`
	BackendKB int64 `json:"backend_kb" expr:"backend_kb"`
	// PoolKB is what a full pool commits: SharedKB + max_connections × (BackendKB +
	// work_mem × hash_mem_multiplier) + autovacuum workers × (BackendKB +
	// MaintenanceKB).
	PoolKB int64 `json:"pool_kb" expr:"pool_kb"`
	// OthersKB is what everything else on the host commits (Committed_AS less
	// PostgreSQL's own); AvailableKB what CommitLimit leaves PostgreSQL after them.
	OthersKB    int64 `json:"others_kb" expr:"others_kb"`
	AvailableKB int64 `json:"available_kb" expr:"available_kb"`
	// Refused says the host runs strict mode 2 and a full pool does not fit: the
	// connections past AvailableKB fail with "out of memory" or "could not fork".
	Refused bool   `json:"refused" expr:"refused"`
	Text    string `json:"text,omitempty" expr:"text"`
}

// CommitForecast is when Committed_AS reaches CommitLimit at its present climb: a
// least-squares line over the trend's window, refitted without the samples that
// stand out from it (one-off spikes), extrapolated as Prometheus's predict_linear
// does.
type CommitForecast struct {
	// GrowthKBPerHour is the fitted slope; FittedKB the line's value now.
	GrowthKBPerHour float64 `json:"growth_kb_per_hour" expr:"growth_kb_per_hour"`
	FittedKB        int64   `json:"fitted_kb" expr:"fitted_kb"`
	Samples         int     `json:"samples" expr:"samples"`
	Outliers        int     `json:"outliers,omitempty" expr:"outliers"`
	SpanSeconds     float64 `json:"span_seconds" expr:"span_seconds"`
	// SecondsToLimit is how long until the line reaches CommitLimit: 0 when it is
	// there already, -1 when Committed_AS is not climbing or the samples span less
	// than enrich.MinTrendSpan.
	SecondsToLimit float64 `json:"seconds_to_limit" expr:"seconds_to_limit"`
	// LeadSeconds is the configured lead time (snapshot.lead_time); WithinLead says
	// the host runs strict mode 2 and the limit is reached within it.
	LeadSeconds float64 `json:"lead_seconds" expr:"lead_seconds"`
	WithinLead  bool    `json:"within_lead" expr:"within_lead"`
	Text        string  `json:"text,omitempty" expr:"text"`
}
