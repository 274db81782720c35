// Package validate checks the deploy/ examples with the libraries their users'
// tools use: the Kubernetes API types and Pod Security Admission, compose's loader.
// It is a module of its own so these dependencies stay out of cowbell's.
package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// manifest is one decoded document of a file under deploy/kubernetes.
type manifest struct {
	file, kind, name, namespace string
	obj                         any
}

// workload is a pod template with where it came from.
type workload struct {
	manifest
	pod *corev1.PodTemplateSpec
}

// wantLevel is the Pod Security level each workload must pass. The DaemonSet reads
// the node's files through hostPath volumes, which only "privileged" admits; what it
// must still give up is checked by TestDaemonSetGivesUpAllItCan.
var wantLevel = map[string]psaapi.Level{
	"StatefulSet/redis": psaapi.LevelRestricted,
	"DaemonSet/cowbell": psaapi.LevelPrivileged,
}

// loadManifests decodes every document of every file strictly into its API type:
// an unknown or misspelt field, a wrong type or a duplicate key fails.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob("../kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			m, err := decode(doc)
			require.NoError(t, err, "%s: document %d", f, i+1)
			m.file = filepath.Base(f)
			out = append(out, m)
		}
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func decode(doc []byte) (manifest, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return manifest{}, err
	}
	var obj interface{ GetName() string }
	var meta *metav1.ObjectMeta
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		o := &corev1.Namespace{}
		obj, meta = o, &o.ObjectMeta
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		obj, meta = o, &o.ObjectMeta
	case "v1/Service":
		o := &corev1.Service{}
		obj, meta = o, &o.ObjectMeta
	case "apps/v1/DaemonSet":
		o := &appsv1.DaemonSet{}
		obj, meta = o, &o.ObjectMeta
	case "apps/v1/StatefulSet":
		o := &appsv1.StatefulSet{}
		obj, meta = o, &o.ObjectMeta
	case "apps/v1/Deployment":
		o := &appsv1.Deployment{}
		obj, meta = o, &o.ObjectMeta
	default:
		return manifest{}, fmt.Errorf("kind %s/%s: not one this test knows", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return manifest{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if meta.Name == "" {
		return manifest{}, fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	return manifest{kind: tm.Kind, name: meta.Name, namespace: meta.Namespace, obj: obj}, nil
}

func workloads(ms []manifest) []workload {
	var out []workload
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *appsv1.DaemonSet:
			out = append(out, workload{m, &o.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{m, &o.Spec.Template})
		case *appsv1.Deployment:
			out = append(out, workload{m, &o.Spec.Template})
		}
	}
	return out
}

func (w workload) id() string { return w.kind + "/" + w.name }

// checkIDs runs every Pod Security check of the newest policy version up to and
// including level on the pod, and returns the IDs of those that fail, with why.
func checkIDs(pod *corev1.PodTemplateSpec, level psaapi.Level) map[policy.CheckID]string {
	failed := map[policy.CheckID]string{}
	for _, c := range policy.DefaultChecks() {
		if level == psaapi.LevelBaseline && c.Level != psaapi.LevelBaseline {
			continue
		}
		v := c.Versions[len(c.Versions)-1]
		if r := v.CheckPod(&pod.ObjectMeta, &pod.Spec); !r.Allowed {
			failed[c.ID] = r.ForbiddenReason + ": " + r.ForbiddenDetail
		}
	}
	return failed
}

// TestPodSecurity evaluates each workload's pod as the admission controller does
// (the library's evaluator, latest policy version) at the level it must pass, and
// checks that the namespace it is shipped with enforces no less.
func TestPodSecurity(t *testing.T) {
	ms := loadManifests(t)
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	require.NoError(t, err)
	ws := workloads(ms)
	require.Len(t, ws, len(wantLevel), "every workload has a level in wantLevel")
	for _, w := range ws {
		t.Run(w.id(), func(t *testing.T) {
			level, ok := wantLevel[w.id()]
			require.True(t, ok, "no Pod Security level decided for %s", w.id())
			lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
			agg := policy.AggregateCheckResults(eval.EvaluatePod(lv, &w.pod.ObjectMeta, &w.pod.Spec))
			require.True(t, agg.Allowed, "%s fails Pod Security %q: %s", w.id(), level, agg.ForbiddenDetail())
			t.Logf("%s passes Pod Security %q", w.id(), level)
			if level == psaapi.LevelRestricted {
				return
			}
			for _, m := range ms {
				if ns, ok := m.obj.(*corev1.Namespace); ok && ns.Name == w.namespace {
					require.Equal(t, string(level), ns.Labels[psaapi.EnforceLevelLabel],
						"namespace %s must enforce %q: a stricter one rejects the pod", ns.Name, level)
				}
			}
		})
	}
}

// TestDaemonSetGivesUpAllItCan: the DaemonSet's namespace is privileged because of its
// hostPath volumes, but of the restricted checks it may fail only those its job
// needs: hostPath (and so the restricted volume list) and running as root, which
// reads the node's root-owned 0640 logs without any capability. With the hostPath
// volumes replaced, only the root checks remain.
func TestDaemonSetGivesUpAllItCan(t *testing.T) {
	var ds *workload
	for _, w := range workloads(loadManifests(t)) {
		if w.kind == "DaemonSet" {
			ds = &w
		}
	}
	require.NotNil(t, ds)
	root := []policy.CheckID{"runAsNonRoot", "runAsUser"}
	failed := checkIDs(ds.pod, psaapi.LevelRestricted)
	t.Logf("restricted checks the DaemonSet fails: %v", sortedKeys(failed))
	for id, why := range failed {
		require.Contains(t, append([]policy.CheckID{"hostPathVolumes", "restrictedVolumes"}, root...), id,
			"the DaemonSet fails restricted check %s, which it could pass: %s", id, why)
	}
	noHostPath := ds.pod.DeepCopy()
	for i := range noHostPath.Spec.Volumes {
		if noHostPath.Spec.Volumes[i].HostPath != nil {
			noHostPath.Spec.Volumes[i].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}
	}
	failed = checkIDs(noHostPath, psaapi.LevelRestricted)
	require.ElementsMatch(t, root, sortedKeys(failed), "without hostPath, only running as root is left: %v", failed)
}

// TestCowbellContainers checks what every shipped cowbell container needs beyond Pod
// Security: a pinned image, metrics served and scraped, probes, measured requests,
// no service account token, and only the host paths it reads.
func TestCowbellContainers(t *testing.T) {
	ms := loadManifests(t)
	for _, w := range workloads(ms) {
		t.Run(w.id(), func(t *testing.T) {
			spec := w.pod.Spec
			require.NotNil(t, spec.AutomountServiceAccountToken)
			require.False(t, *spec.AutomountServiceAccountToken, "no Kubernetes API access: no token")
			for _, c := range spec.Containers {
				require.Truef(t, pinned(c.Image), "container %s: image %q is not pinned to a version", c.Name, c.Image)
			}
			c := cowbellContainer(t, spec)
			port := containerPort(t, c, "metrics")
			require.Equal(t, int32(9464), port)
			require.Equal(t, "true", w.pod.Annotations["prometheus.io/scrape"])
			require.Equal(t, fmt.Sprint(port), w.pod.Annotations["prometheus.io/port"])
			require.Equal(t, "/metrics", w.pod.Annotations["prometheus.io/path"])
			require.NotNil(t, c.LivenessProbe)
			require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
			require.NotNil(t, c.ReadinessProbe)
			require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
			require.False(t, c.Resources.Requests.Cpu().IsZero(), "cpu request")
			require.False(t, c.Resources.Requests.Memory().IsZero(), "memory request")
			require.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit")
			require.Equal(t, []string{"run", "--config", "/etc/cowbell/cowbell.yaml"}, c.Args)
			listen := metricsListen(t, ms, spec)
			require.True(t, strings.HasSuffix(listen, fmt.Sprintf(":%d", port)),
				"the configuration serves metrics on %q, the port is %d", listen, port)
			require.False(t, strings.HasPrefix(listen, "127."), "metrics on loopback are out of the kubelet's and Prometheus's reach")

			sc := c.SecurityContext
			require.NotNil(t, sc)
			require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem)
			require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
			require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
			require.Empty(t, sc.Capabilities.Add, "cowbell needs no capability")
		})
	}
}

// TestSidecarVolumes: the sidecar writes its state on a PVC owned by root: fsGroup
// 65532 makes it writable by cowbell's uid without an init container.
func TestSidecarVolumes(t *testing.T) {
	for _, w := range workloads(loadManifests(t)) {
		if wantLevel[w.id()] != psaapi.LevelRestricted {
			continue
		}
		spec := w.pod.Spec
		require.NotNil(t, spec.SecurityContext.FSGroup, "%s: fsGroup", w.id())
		c := cowbellContainer(t, spec)
		require.Equal(t, *spec.SecurityContext.FSGroup, *c.SecurityContext.RunAsUser, "fsGroup is cowbell's uid's group")
		require.Nil(t, spec.ShareProcessNamespace, "INFO gives Redis's memory; see the manifest's comment")
		for _, c := range spec.Containers {
			if strings.Contains(c.Image, "/redis:") {
				// The image's entrypoint sets umask 0077: the log would be 0600, unreadable to cowbell.
				require.Equal(t, []string{"redis-server"}, c.Command, "%s: Redis must not run the image's entrypoint", w.id())
			}
		}
	}
}

// TestDaemonSetMounts: only the paths it reads, read-only, and its own state.
func TestDaemonSetMounts(t *testing.T) {
	allowed := map[string]bool{ // host path: writable
		"/var/log/pods": false, "/var/log/containers": false, "/var/lib/docker/containers": false,
		"/var/log/journal": false, "/run/log/journal": false,
		"/proc": false, "/sys": false, "/etc/machine-id": false,
		"/var/lib/cowbell": true,
	}
	for _, w := range workloads(loadManifests(t)) {
		if w.kind != "DaemonSet" {
			continue
		}
		spec := w.pod.Spec
		require.False(t, spec.HostPID || spec.HostNetwork || spec.HostIPC, "no host namespaces")
		hostPaths := map[string]string{}
		for _, v := range spec.Volumes {
			if v.HostPath != nil {
				_, ok := allowed[v.HostPath.Path]
				require.True(t, ok, "hostPath %s is not one cowbell reads", v.HostPath.Path)
				hostPaths[v.Name] = v.HostPath.Path
			}
		}
		var mounted []string
		for _, m := range cowbellContainer(t, spec).VolumeMounts {
			p, ok := hostPaths[m.Name]
			if !ok {
				continue
			}
			mounted = append(mounted, p)
			require.Equal(t, !allowed[p], m.ReadOnly, "hostPath %s readOnly", p)
			if p == "/var/log/pods" || p == "/var/log/containers" || p == "/var/lib/docker/containers" {
				// /var/log/containers links hold absolute paths into these.
				require.Equal(t, p, m.MountPath, "log directories are mounted at their own path")
			}
		}
		require.ElementsMatch(t, sortedKeysOf(allowed), mounted)
	}
}

func cowbellContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == "cowbell" {
			return c
		}
	}
	t.Fatal("no container named cowbell")
	return corev1.Container{}
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

// metricsListen returns metrics.listen of the cowbell.yaml in the ConfigMap the pod
// mounts at /etc/cowbell.
func metricsListen(t *testing.T, ms []manifest, spec corev1.PodSpec) string {
	t.Helper()
	var cmName string
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	for _, m := range ms {
		if cm, ok := m.obj.(*corev1.ConfigMap); ok && cm.Name == cmName {
			var c struct {
				Metrics struct {
					Listen string `json:"listen"`
				} `json:"metrics"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(cm.Data["cowbell.yaml"]), &c))
			require.NotEmpty(t, c.Metrics.Listen, "ConfigMap %s: metrics are off", cmName)
			return c.Metrics.Listen
		}
	}
	t.Fatalf("no ConfigMap %q", cmName)
	return ""
}

// pinned: a digest, or a tag that names a release (not latest, not a bare major).
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "latest" && strings.Count(strings.SplitN(tag, "-", 2)[0], ".") >= 2
}

func sortedKeys(m map[policy.CheckID]string) []policy.CheckID {
	out := make([]policy.CheckID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedKeysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
