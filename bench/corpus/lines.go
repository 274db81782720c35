package corpus

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Gen makes the corpus: ordinary traffic of a busy node (nginx access and error
// logs, JSON application logs, logfmt and syslog services, Redis, PostgreSQL and the
// kernel), about 150 bytes a line, with rare incident lines. The same seed gives the
// same bytes on every machine and Go version (math/rand/v2's PCG is specified).
type Gen struct {
	r    *rand.Rand
	now  time.Time
	boot float64 // kernel seconds since boot
	prev string
}

// incidentEvery: about one line in this many is an incident line.
const incidentEvery = 1000

// NewGen returns a generator; the seed picks the corpus.
func NewGen(seed uint64) *Gen {
	return &Gen{
		r:    rand.New(rand.NewPCG(seed, 0x636f7762656c6c)),
		now:  time.Date(2024, 6, 5, 0, 0, 0, 0, time.UTC),
		boot: 86400,
	}
}

// Line returns the next line, never the same text as the one before (the hit checks
// tell lines apart by text and order).
func (g *Gen) Line() string {
	for {
		step := time.Duration(g.r.IntN(10_000)) * time.Microsecond
		g.now = g.now.Add(step)
		g.boot += step.Seconds()
		var s string
		if g.r.IntN(incidentEvery) == 0 {
			s = g.Incident()
		} else {
			s = g.Ordinary()
		}
		if s != g.prev {
			g.prev = s
			return s
		}
	}
}

func (g *Gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }
func (g *Gen) svc() string             { return g.pick(services) }
func (g *Gen) n(lo, hi int) int        { return lo + g.r.IntN(hi-lo+1) }
func (g *Gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}
func (g *Gen) ip() string {
	return fmt.Sprintf("10.%d.%d.%d", g.n(0, 3), g.n(0, 255), g.n(1, 254))
}

// Stamps as each writer prints them.
func (g *Gen) nginxTime() string { return g.now.Format("02/Jan/2006:15:04:05 -0700") }
func (g *Gen) isoTime() string   { return g.now.Format("2006-01-02T15:04:05.000Z") }
func (g *Gen) redisTime() string { return g.now.Format("02 Jan 2006 15:04:05.000") }
func (g *Gen) pgTime() string    { return g.now.Format("2006-01-02 15:04:05.000 MST") }
func (g *Gen) sysTime() string   { return g.now.Format("Jan _2 15:04:05") }
func (g *Gen) kern() string      { return fmt.Sprintf("[%12.6f]", g.boot) }

// Ordinary returns an ordinary line, one that fires none of the rules.
func (g *Gen) Ordinary() string {
	switch x := g.r.IntN(100); {
	case x < 30:
		return g.nginxAccess()
	case x < 48:
		return g.jsonApp()
	case x < 60:
		return g.redis()
	case x < 75:
		return g.postgres()
	case x < 83:
		return g.kernel()
	case x < 93:
		return g.logfmt()
	default:
		return g.syslog()
	}
}

var (
	methods    = []string{"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"}
	agents     = []string{"Go-http-client/1.1", "okhttp/4.12.0", "python-requests/2.31.0", "Mozilla/5.0 (X11; Linux x86_64)", "kube-probe/1.29", "curl/8.5.0"}
	okStatuses = []int{200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 403, 404, 404, 429}
)

func (g *Gen) nginxAccess() string {
	path := fmt.Sprintf("/api/v%d/%s/%d", g.n(1, 3), g.svc(), g.n(1, 999999))
	status := okStatuses[g.r.IntN(len(okStatuses))]
	if g.r.IntN(50) == 0 { // server errors outside the API are not incidents
		path = g.pick([]string{"/healthz", "/metrics", "/static/app.js", "/favicon.ico"})
		status = g.n(500, 504)
	}
	return fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s" rt=%.3f uct=0.000 req=%s`,
		g.ip(), g.nginxTime(), g.pick(methods), path, status, g.n(0, 48000), g.pick(agents), g.r.Float64()/5, g.hex(16))
}

var jsonMsgs = []string{"request served", "cache refreshed", "job finished", "message published", "token validated", "retrying request"}

func (g *Gen) jsonApp() string {
	w := g.svc()
	level := g.pick([]string{"info", "info", "info", "debug", "warn"})
	status := okStatuses[g.r.IntN(len(okStatuses))]
	return fmt.Sprintf(`{"ts":"%s","level":"%s","service":"%s","msg":"%s","path":"/api/v1/%s/%d","status":%d,"duration_ms":%d,"trace_id":"%s"}`,
		g.isoTime(), level, w, g.pick(jsonMsgs), w, g.n(1, 99999), status, g.n(1, 900), g.hex(16))
}

var redisMsgs = []string{
	"%d changes in 300 seconds. Saving...",
	"Background saving started by pid %d",
	"DB saved on disk",
	"Fork CoW for RDB: current %d MB, peak %d MB, average %d MB",
	"Background saving terminated with success",
	"Accepted %s:%d",
	"Connection with replica %s:%d lost.",
	"Synchronization with replica %s:%d succeeded",
	"Client id=%d addr=%s:%d closed for overcoming of output buffer limits.",
}

func (g *Gen) redis() string {
	m := g.pick(redisMsgs)
	var body string
	switch strings.Count(m, "%") {
	case 0:
		body = m
	case 1:
		body = fmt.Sprintf(m, g.n(1, 99999))
	default:
		if strings.HasPrefix(m, "Fork") {
			body = fmt.Sprintf(m, g.n(1, 900), g.n(1, 900), g.n(1, 900))
		} else if strings.HasPrefix(m, "Client") {
			body = fmt.Sprintf(m, g.n(1, 99999), g.ip(), g.n(1024, 65535))
		} else {
			body = fmt.Sprintf(m, g.ip(), g.n(1024, 65535))
		}
	}
	return fmt.Sprintf("%d:%s %s %s %s", g.n(1, 9), g.pick([]string{"M", "M", "S", "C"}), g.redisTime(),
		g.pick([]string{"*", "*", "#", "-"}), body) + g.pad(60)
}

// pad adds a redis-like client listing so short lines reach the corpus's line length.
func (g *Gen) pad(short int) string {
	if g.r.IntN(4) == 0 {
		return ""
	}
	return fmt.Sprintf(" (keys=%d, expires=%d, avg_ttl=%d, subexpiry=%d, used_memory=%dK)",
		g.n(1, 9999999), g.n(1, 99999), g.n(1, 9999999), short, g.n(1, 9999999))
}

func (g *Gen) postgres() string {
	pid := g.n(1000, 99999)
	w := g.svc()
	var msg string
	switch g.r.IntN(7) {
	case 0:
		msg = fmt.Sprintf("LOG:  checkpoint complete: wrote %d buffers (%.1f%%); 0 WAL file(s) added, 0 removed, %d recycled; write=%.3f s, sync=%.3f s, total=%.3f s",
			g.n(1, 9000), g.r.Float64()*10, g.n(0, 9), g.r.Float64()*200, g.r.Float64(), g.r.Float64()*200)
	case 1:
		msg = fmt.Sprintf("LOG:  duration: %.3f ms  statement: SELECT id, status FROM %s WHERE tenant_id = %d", g.r.Float64()*900, w, g.n(1, 9999))
	case 2:
		msg = fmt.Sprintf(`ERROR:  duplicate key value violates unique constraint "%s_pkey"`, w)
	case 3:
		msg = fmt.Sprintf(`FATAL:  password authentication failed for user "%s"`, w)
	case 4:
		msg = fmt.Sprintf("LOG:  automatic vacuum of table \"%s.public.%s\": index scans: %d", w, w, g.n(0, 3))
	case 5:
		msg = fmt.Sprintf(`LOG:  connection authorized: user=%s_app database=%s application_name=%s-%d`, w, w, w, g.n(1, 9))
	default:
		msg = fmt.Sprintf(`STATEMENT:  UPDATE %s SET updated_at = now() WHERE id = %d`, w, g.n(1, 9999999))
	}
	return fmt.Sprintf("%s [%d] %s", g.pgTime(), pid, msg)
}

var kernelMsgs = []string{
	"eth0: renamed from veth%s",
	"IPv6: ADDRCONF(NETDEV_CHANGE): veth%s: link becomes ready",
	"cni0: port %d(veth%s) entered forwarding state",
	"audit: type=1400 audit(%d.%d:%d): apparmor=\"STATUS\" operation=\"profile_load\" name=\"cri-containerd.apparmor.d\"",
	"TCP: request_sock_TCP: Possible SYN flooding on port %d. Sending cookies.",
	"EXT4-fs (dm-%d): mounted filesystem with ordered data mode. Quota mode: none.",
	"nf_conntrack: nf_conntrack: table full, dropping packet",
}

func (g *Gen) kernel() string {
	var msg string
	switch m := g.pick(kernelMsgs); {
	case strings.HasPrefix(m, "eth0"), strings.HasPrefix(m, "IPv6"):
		msg = fmt.Sprintf(m, g.hex(7))
	case strings.HasPrefix(m, "cni0"):
		msg = fmt.Sprintf(m, g.n(1, 64), g.hex(7))
	case strings.HasPrefix(m, "audit"):
		msg = fmt.Sprintf(m, g.now.Unix(), g.n(100, 999), g.n(1, 99999))
	case strings.Contains(m, "%d"):
		msg = fmt.Sprintf(m, g.n(1, 65535))
	default:
		msg = m
	}
	return g.kern() + " " + msg + g.pad(80)
}

var logfmtMsgs = []string{"request completed", "reconciled", "lease renewed", "connection refused, retrying", "circuit breaker closed", "cache hit ratio"}

func (g *Gen) logfmt() string {
	w := g.svc()
	level := g.pick([]string{"info", "info", "debug", "warn", "error"})
	msg := g.pick(logfmtMsgs)
	return fmt.Sprintf(`time=%s level=%s component=%s msg=%q err="%s" took=%dms request_id=%s`,
		g.isoTime(), level, w, msg, g.pick([]string{"", "context canceled", "EOF"}), g.n(1, 900), g.hex(12))
}

func (g *Gen) syslog() string {
	w := g.svc()
	host := fmt.Sprintf("node-%d", g.n(1, 40))
	var msg string
	switch g.r.IntN(8) {
	case 0:
		msg = fmt.Sprintf("ERROR dial tcp %s:%d: connection refused to %s:%d, retrying in %dms", g.ip(), 5432, g.ip(), g.n(1024, 65535), g.n(10, 900))
	case 1:
		msg = fmt.Sprintf("WARN %s cache hit ratio 0.%d over the last %d requests", w, g.n(50, 99), g.n(100, 9999))
	case 2:
		msg = fmt.Sprintf("%s: slow query (%d ms) on replica %s-replica-%d", w, g.n(100, 999), w, g.n(1, 3))
	case 3:
		msg = fmt.Sprintf("INFO %s queue depth %d within limit %d", w, g.n(1, 9999), 10000)
	case 4:
		msg = fmt.Sprintf("INFO %s-primary-%d replication lag %d ms", w, g.n(1, 3), g.n(1, 999))
	case 5:
		msg = fmt.Sprintf("INFO %s consumer group rebalance completed at generation %d with %d members", w, g.n(1, 9999), g.n(1, 12))
	case 6:
		msg = fmt.Sprintf("INFO %s-%d disk usage %d%% on /var/lib/%s", w, g.n(1, 9), g.n(10, 89), w)
	default:
		msg = fmt.Sprintf("INFO %s: TLS handshake completed with %s:%d (TLSv1.3, TLS_AES_128_GCM_SHA256)", w, g.ip(), g.n(1024, 65535))
	}
	return fmt.Sprintf("%s %s %s[%d]: %s", g.sysTime(), host, w, g.n(100, 99999), msg)
}

// Incident returns a line that fires one rule of the largest set: a built-in pack
// incident, or a service incident for a random template and word.
func (g *Gen) Incident() string {
	if g.r.IntN(10) < 4 {
		return g.packIncident()
	}
	return g.serviceIncident(g.r.IntN(len(serviceTemplates)), g.svc())
}

func (g *Gen) packIncident() string {
	task := g.pick([]string{"postgres", "redis-server", "java", "node"})
	pid := g.n(100, 99999)
	switch g.r.IntN(8) {
	case 0:
		return fmt.Sprintf("%s %s CRON[%d]: (root) error: fork failed: Cannot allocate memory", g.sysTime(), "node-1", pid)
	case 1:
		return fmt.Sprintf("runtime: failed to create new OS thread (have %d already; errno=12)", g.n(2, 9999))
	case 2:
		return fmt.Sprintf("%s node-2 sshd[%d]: fatal: fork of unprivileged child failed: Resource temporarily unavailable", g.sysTime(), pid)
	case 3:
		return fmt.Sprintf("runtime: failed to create new OS thread (have %d already; errno=11)", g.n(2, 9999))
	case 4:
		return g.kern() + " cgroup: fork rejected by pids controller in /kubepods/burstable/pod" + g.hex(8)
	case 5:
		return fmt.Sprintf("%s oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/pod%s,task_memcg=/kubepods/pod%s/%s,task=%s,pid=%d,uid=999",
			g.kern(), g.hex(8), g.hex(8), g.hex(12), task, pid)
	case 6:
		return fmt.Sprintf("%s Memory cgroup out of memory: Killed process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:0kB, shmem-rss:0kB, UID:999",
			g.kern(), pid, task, g.n(100000, 9999999), g.n(10000, 999999))
	default:
		return fmt.Sprintf("%s %s invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=%d",
			g.kern(), task, g.n(-1000, 1000))
	}
}

func (g *Gen) serviceIncident(t int, w string) string {
	switch t {
	case 0:
		return fmt.Sprintf(`%s - - [%s] "%s /api/v%d/%s/%d HTTP/1.1" %d %d "-" "%s" rt=%.3f uct=0.000`,
			g.ip(), g.nginxTime(), g.pick(methods), g.n(1, 3), w, g.n(1, 999999), g.n(500, 504), g.n(0, 999), g.pick(agents), g.r.Float64()*30)
	case 1:
		return fmt.Sprintf("%s node-3 %s-client[%d]: ERROR dial tcp: connection refused to %s-%d:%d after %d attempts", g.sysTime(), w, g.n(100, 99999), w, g.n(0, 9), g.n(1024, 65535), g.n(1, 9))
	case 2:
		return fmt.Sprintf(`%s [error] %d#%d: *%d upstream timed out (110: Connection timed out) while reading response header from upstream, client: %s, upstream: "http://%s-%d:8080/"`,
			g.now.Format("2006/01/02 15:04:05"), g.n(1, 99), 0, g.n(1, 999999), g.ip(), w, g.n(0, 9))
	case 3:
		return fmt.Sprintf(`{"ts":"%s","level":"error","service":"%s","msg":"call to upstream failed: context deadline exceeded","trace_id":"%s"}`, g.isoTime(), w, g.hex(16))
	case 4:
		return fmt.Sprintf("%s node-4 %s[%d]: panic: runtime error: invalid memory address or nil pointer dereference", g.sysTime(), w, g.n(100, 99999))
	case 5:
		return fmt.Sprintf(`time=%s level=error component=%s msg="call failed" err="upstream %s: circuit breaker open" request_id=%s`, g.isoTime(), w, w, g.hex(12))
	case 6:
		return fmt.Sprintf("%s node-5 supervisord[%d]: FATAL: %s worker %d exited with status %d", g.sysTime(), g.n(100, 9999), w, g.n(1, 64), g.n(1, 139))
	case 7:
		return fmt.Sprintf("%s node-6 %s[%d]: %s: retry budget exhausted after %d attempts", g.sysTime(), w, g.n(100, 99999), w, g.n(3, 20))
	case 8:
		return fmt.Sprintf(`{"ts":"%s","level":"warn","service":"%s","msg":"request failed","path":"/api/v1/%s/%d","status":%d,"trace_id":"%s"}`, g.isoTime(), w, w, g.n(1, 99999), g.n(500, 504), g.hex(16))
	case 9:
		return fmt.Sprintf("%s node-7 %s/%d.%d.%d [main] Exception in thread \"worker-%d\" java.lang.OutOfMemoryError: Java heap space", g.sysTime(), w, g.n(1, 9), g.n(0, 20), g.n(0, 9), g.n(1, 64))
	case 10:
		return fmt.Sprintf(`%s [%d] FATAL:  password authentication failed for user "%s_%s"`, g.pgTime(), g.n(1000, 99999), w, g.pick([]string{"app", "ro", "batch"}))
	case 11:
		return fmt.Sprintf("%s node-8 pgwatch[%d]: WARN %s-%s-%d replication lag %d ms", g.sysTime(), g.n(100, 9999), w, g.pick([]string{"primary", "replica"}), g.n(1, 3), g.n(1000, 99999))
	case 12:
		return fmt.Sprintf(`%s - - [%s] "POST /api/v%d/%s/batch HTTP/1.1" 413 %d "-" "%s"`, g.ip(), g.nginxTime(), g.n(1, 3), w, g.n(100, 999), g.pick(agents))
	case 13:
		return fmt.Sprintf("%s node-9 %s[%d]: ERROR %s queue depth %d exceeds limit 10000", g.sysTime(), w, g.n(100, 99999), w, g.n(10000, 999999))
	case 14:
		return fmt.Sprintf(`%s [%d] ERROR:  duplicate key value violates unique constraint "%s_%s_key"`, g.pgTime(), g.n(1000, 99999), w, g.pick([]string{"email", "external_id", "order_ref"}))
	case 15:
		return fmt.Sprintf("%s node-10 %s[%d]: WARN %s cache hit ratio 0.%02d over the last %d requests", g.sysTime(), w, g.n(100, 99999), w, g.n(0, 49), g.n(100, 9999))
	case 16:
		return fmt.Sprintf("%s node-11 %s[%d]: %s: TLS handshake %s with %s:%d", g.sysTime(), w, g.n(100, 99999), w, g.pick([]string{"failed", "timed out"}), g.ip(), g.n(1024, 65535))
	case 17:
		return fmt.Sprintf("%s node-12 %s[%d]: WARN %s-%d disk usage %d%% on /var/lib/%s", g.sysTime(), w, g.n(100, 99999), w, g.n(1, 9), g.n(90, 100), w)
	case 18:
		return fmt.Sprintf("%s node-13 %s[%d]: ERROR %s consumer group rebalance at generation %d failed: member timed out", g.sysTime(), w, g.n(100, 99999), w, g.n(1, 9999))
	case 19:
		return fmt.Sprintf(`%s node-14 kubelet[%d]: E0605 pod_workers.go:1298] "Error syncing pod" err="Back-off restarting failed container %s in pod %s-%s-%s"`, g.sysTime(), g.n(100, 9999), w, w, g.hex(9), g.hex(5))
	case 20:
		return fmt.Sprintf("%s node-15 consul[%d]: agent: %s health check failed: HTTP 50%d from http://%s:8080/health", g.sysTime(), g.n(100, 9999), w, g.n(0, 9), g.ip())
	default:
		return fmt.Sprintf("%s node-16 %s[%d]: %s: slow query (%d ms) on replica %s-replica-%d", g.sysTime(), w, g.n(100, 99999), w, g.n(1000, 99999), w, g.n(1, 3))
	}
}
