package checks

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/terning-farewell/farewell/pkg/config"
)

var services = []string{"auth", "apply-gateway", "stock-consumer", "notifier"}

// secretTemplateKeys reads the keys of k8s/base/secret.template.yaml, which must be a valid
// Secret with empty values only.
func secretTemplateKeys(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "k8s/base/secret.template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := DecodeStrict(data)
	if err != nil {
		t.Fatalf("secret template: %v", err)
	}
	secret, ok := obj.Typed.(*corev1.Secret)
	if !ok || secret.Name != "farewell-secrets" {
		t.Fatalf("secret template is %s, want Secret/farewell-secrets", obj)
	}
	var keys []string
	for k, v := range secret.StringData {
		if v != "" {
			t.Errorf("secret template: %s has a value; the template must hold empty placeholders only", k)
		}
		keys = append(keys, k)
	}
	if len(secret.Data) > 0 {
		t.Errorf("secret template: use stringData with empty values, not data")
	}
	slices.Sort(keys)
	return keys
}

func TestOverlaysBuildAndDecodeStrictly(t *testing.T) {
	root := repoRoot(t)
	secretKeys := secretTemplateKeys(t, root)
	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			t.Parallel()
			objs, err := BuildKustomization(filepath.Join(root, "k8s/overlays", overlay))
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string][]string{}
			for _, o := range objs {
				kinds[o.Kind] = append(kinds[o.Kind], o.Name)
				if ns := objectNamespace(o); o.Kind != "Namespace" && ns != "farewell" {
					t.Errorf("%s is in namespace %q, want farewell", o, ns)
				}
			}
			for _, kind := range []string{"Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget"} {
				if got := kinds[kind]; !sameSet(got, services) {
					t.Errorf("%s objects = %v, want one per service %v", kind, got, services)
				}
			}
			if got := kinds["HorizontalPodAutoscaler"]; !sameSet(got, []string{"auth", "apply-gateway"}) {
				t.Errorf("HPAs = %v, want auth and apply-gateway", got)
			}
			if !slices.Contains(kinds["NetworkPolicy"], "default-deny") {
				t.Errorf("no default-deny NetworkPolicy")
			}
			if len(kinds["Job"]) != 1 || len(kinds["Ingress"]) == 0 || len(kinds["PrometheusRule"]) != 1 {
				t.Errorf("want the topics Job, Ingresses and one PrometheusRule, got %v", kinds)
			}
			if slices.Contains(kinds["Secret"], "farewell-secrets") {
				t.Errorf("farewell-secrets must not be part of an overlay (apply would overwrite the real one)")
			}
			for _, d := range Typed[*appsv1.Deployment](objs) {
				if err := CheckDeployment(d); err != nil {
					t.Error(err)
				}
			}
			if err := CheckReferences(objs, secretKeys); err != nil {
				t.Error(err)
			}
			checkOverlaySpecifics(t, overlay, objs)
		})
	}
}

func checkOverlaySpecifics(t *testing.T, overlay string, objs []Object) {
	t.Helper()
	scaled := map[string]bool{}
	for _, o := range objs {
		if o.Kind == "ScaledObject" {
			scaled[o.Name] = true
		}
	}
	for _, d := range Typed[*appsv1.Deployment](objs) {
		image := d.Spec.Template.Spec.Containers[0].Image
		switch overlay {
		case "dev":
			if image != "farewell/"+d.Name+":dev" {
				t.Errorf("dev %s image = %q, want farewell/%s:dev", d.Name, image, d.Name)
			}
		case "prod":
			if strings.HasSuffix(image, ":dev") || !strings.Contains(image, ":") {
				t.Errorf("prod %s image %q must carry a release tag", d.Name, image)
			}
			if lim := d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory(); lim.Cmp(mustQuantity("512Mi")) < 0 {
				t.Errorf("prod %s memory limit %s, want at least 512Mi", d.Name, lim)
			}
		}
		// The HPA or KEDA owns the count of these; a replicas field would fight it on apply.
		owned := d.Name == "auth" || d.Name == "apply-gateway" || scaled[d.Name]
		if owned && d.Spec.Replicas != nil {
			t.Errorf("%s %s: replicas is set although an autoscaler owns it", overlay, d.Name)
		}
	}
	if overlay == "prod" && !(scaled["stock-consumer"] && scaled["notifier"]) {
		t.Errorf("prod must include the keda component (ScaledObjects for stock-consumer and notifier), got %v", scaled)
	}
	if overlay == "dev" && len(scaled) > 0 {
		t.Errorf("dev must not include KEDA, got %v", scaled)
	}
}

// TestPrometheusRuleMatchesAlerts keeps the Kubernetes copy of the alert rules in step with
// deploy/prometheus/alerts.yml, the file promtool checks.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	root := repoRoot(t)
	var alerts map[string]any
	readYAML(t, filepath.Join(root, "deploy/prometheus/alerts.yml"), &alerts)
	var rule map[string]any
	readYAML(t, filepath.Join(root, "k8s/base/prometheusrule.yaml"), &rule)
	spec, _ := rule["spec"].(map[string]any)
	if !reflect.DeepEqual(alerts["groups"], spec["groups"]) {
		t.Fatal("k8s/base/prometheusrule.yaml spec.groups differs from deploy/prometheus/alerts.yml groups: copy alerts.yml's groups into it")
	}
}

func TestCheckDeploymentRejectsUnsafeDeployments(t *testing.T) {
	t.Parallel()
	good := func() *appsv1.Deployment {
		objs, err := BuildKustomization(filepath.Join(repoRoot(t), "k8s/overlays/dev"))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range Typed[*appsv1.Deployment](objs) {
			if d.Name == "auth" {
				return d
			}
		}
		t.Fatal("no auth Deployment in the dev overlay")
		return nil
	}
	if err := CheckDeployment(good()); err != nil {
		t.Fatalf("the real auth Deployment fails: %v", err)
	}
	falseVal := false
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   string
	}{
		{"no probes", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
			d.Spec.Template.Spec.Containers[0].LivenessProbe = nil
		}, "readinessProbe"},
		{"no limits", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Resources.Limits = nil }, "limits"},
		{"may run as root", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = &falseVal
		}, "runAsNonRoot"},
		{"writable root filesystem", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &falseVal
		}, "readOnlyRootFilesystem"},
		{"short grace period", func(d *appsv1.Deployment) {
			five := int64(5)
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = &five
		}, "terminationGracePeriodSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.mutate(d)
			err := CheckDeployment(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckDeployment = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestDecodeStrictRejectsBadManifests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, manifest, want string
	}{
		{"unknown field", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replicas: 1
  replica: 2
`, "unknown field"},
		{"wrong case", `
apiVersion: v1
kind: Service
metadata: {name: x}
spec: {Type: ClusterIP}
`, "unknown field"},
		{"duplicate key", `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {a: "1", a: "2"}
`, "already set"},
		{"wrong type", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec: {replicas: two}
`, "replicas"},
		{"unexpected kind", `
apiVersion: v1
kind: Pod
metadata: {name: x}
`, "unexpected kind"},
		{"ScaledObject without triggers", `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: x}
spec: {scaleTargetRef: {name: x}}
`, "spec.triggers"},
		{"ServiceMonitor without endpoints", `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec: {selector: {matchLabels: {a: b}}}
`, "spec.endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStrict([]byte(tt.manifest))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeStrict = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckReferencesRejectsDanglingReferences(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	objs, err := BuildKustomization(filepath.Join(root, "k8s/overlays/prod"))
	if err != nil {
		t.Fatal(err)
	}
	keys := secretTemplateKeys(t, root)
	if err := CheckReferences(objs, keys); err != nil {
		t.Fatalf("the real prod overlay fails: %v", err)
	}
	// Without FAREWELL_JWT_SECRET in the template, auth and apply-gateway point nowhere.
	fewer := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "FAREWELL_JWT_SECRET" })
	if err := CheckReferences(objs, fewer); err == nil || !strings.Contains(err.Error(), "FAREWELL_JWT_SECRET") {
		t.Fatalf("CheckReferences with a missing secret key = %v, want an error about it", err)
	}
	// A Service whose selector matches nothing.
	for _, o := range objs {
		if svc, ok := o.Typed.(*corev1.Service); ok && svc.Name == "notifier" {
			svc.Spec.Selector = map[string]string{"app.kubernetes.io/name": "nobody"}
		}
	}
	if err := CheckReferences(objs, keys); err == nil || !strings.Contains(err.Error(), "Service/notifier") {
		t.Fatalf("CheckReferences with a dangling Service = %v, want an error about Service/notifier", err)
	}
}

func TestBrokenKustomizationFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "kustomization.yaml"), "resources:\n  - missing.yaml\n")
	if _, err := BuildKustomization(dir); err == nil {
		t.Fatal("a kustomization naming a missing file built without error")
	}
	writeFile(t, filepath.Join(dir, "kustomization.yaml"), "resources:\n  - cm.yaml\n")
	writeFile(t, filepath.Join(dir, "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\nbogus: 1\n")
	if _, err := BuildKustomization(dir); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("a ConfigMap with an unknown field: %v, want an error naming the field", err)
	}
}

func objectNamespace(o Object) string {
	switch t := o.Typed.(type) {
	case *unstructured.Unstructured:
		return t.GetNamespace()
	case interface{ GetNamespace() string }:
		return t.GetNamespace()
	}
	return ""
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestOverlayDataTopology checks the settings that say which Kafka and Redis the services
// talk to: prod lists three brokers, the Sentinels and their primary's name, and replicates
// the topics 3 times with min.insync.replicas 2; dev talks to one of each. Both are settings
// pkg/config accepts.
func TestOverlayDataTopology(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		overlay          string
		brokers          int
		sentinels        int
		replication, isr string
	}{
		{"dev", 1, 0, "1", "1"},
		{"prod", 3, 3, "3", "2"},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			objs, err := BuildKustomization(filepath.Join(root, "k8s/overlays", tc.overlay))
			if err != nil {
				t.Fatal(err)
			}
			data := farewellConfig(t, objs)
			if got := listLen(data["FAREWELL_KAFKA_BROKERS"]); got != tc.brokers {
				t.Errorf("FAREWELL_KAFKA_BROKERS lists %d brokers, want %d: %q", got, tc.brokers, data["FAREWELL_KAFKA_BROKERS"])
			}
			if got := listLen(data["FAREWELL_REDIS_SENTINELS"]); got != tc.sentinels {
				t.Errorf("FAREWELL_REDIS_SENTINELS lists %d Sentinels, want %d", got, tc.sentinels)
			}
			if tc.sentinels > 0 && data["FAREWELL_REDIS_MASTER"] == "" {
				t.Errorf("FAREWELL_REDIS_SENTINELS without FAREWELL_REDIS_MASTER")
			}
			// Behind Sentinel the notifier's sent markers must reach a replica (K10).
			if tc.sentinels > 0 && data["FAREWELL_NOTIFIER_MARKER_REPLICAS"] != "1" {
				t.Errorf("FAREWELL_NOTIFIER_MARKER_REPLICAS = %q with Sentinels, want 1", data["FAREWELL_NOTIFIER_MARKER_REPLICAS"])
			}
			if data["KAFKA_REPLICATION_FACTOR"] != tc.replication || data["KAFKA_MIN_INSYNC_REPLICAS"] != tc.isr {
				t.Errorf("topics replication %q, min.insync.replicas %q; want %s and %s",
					data["KAFKA_REPLICATION_FACTOR"], data["KAFKA_MIN_INSYNC_REPLICAS"], tc.replication, tc.isr)
			}
			env := config.FromMap(data)
			if err := config.LoadCommon(env, "auth", ":8081").Validate(); err != nil {
				t.Errorf("pkg/config rejects the %s settings: %v", tc.overlay, err)
			}
		})
	}
}

// farewellConfig returns the data of the farewell-config ConfigMap.
func farewellConfig(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	for _, cm := range Typed[*corev1.ConfigMap](objs) {
		if strings.HasPrefix(cm.Name, "farewell-config") {
			return cm.Data
		}
	}
	t.Fatal("no farewell-config ConfigMap")
	return nil
}

func listLen(v string) int {
	n := 0
	for _, p := range strings.Split(v, ",") {
		if strings.TrimSpace(p) != "" {
			n++
		}
	}
	return n
}
