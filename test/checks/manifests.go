package checks

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one manifest after kustomize: its typed form (or *unstructured.Unstructured for
// custom resources) and its kind/name for messages.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Typed      any
}

func (o Object) String() string { return o.Kind + "/" + o.Name }

// newTyped returns an empty value of the API type apiVersion/kind must decode into.
func newTyped(key string) (any, bool) {
	switch key {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Secret":
		return &corev1.Secret{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "batch/v1/Job":
		return &batchv1.Job{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}, true
	}
	return nil, false
}

// requiredCustomFields lists, for the custom resources Farewell uses, the fields they cannot
// work without; they are checked as unstructured objects.
func requiredCustomFields(key string) ([][]string, bool) {
	switch key {
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return [][]string{{"spec", "selector"}, {"spec", "endpoints"}}, true
	case "monitoring.coreos.com/v1/PrometheusRule":
		return [][]string{{"spec", "groups"}}, true
	case "keda.sh/v1alpha1/ScaledObject":
		return [][]string{{"spec", "scaleTargetRef", "name"}, {"spec", "triggers"}}, true
	}
	return nil, false
}

// BuildKustomization runs kustomize (the same library kubectl -k uses, with its default
// load restrictions) on dir and decodes every resulting object.
func BuildKustomization(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	var errs []error
	for _, res := range resMap.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.CurId(), err))
			continue
		}
		obj, err := DecodeStrict(y)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}

// DecodeStrict decodes one YAML manifest into its Kubernetes API type, refusing unknown or
// duplicated fields (case-sensitively, as the API server does) and kinds this project does
// not expect. Custom resources decode into unstructured objects and must carry their
// required fields.
func DecodeStrict(manifest []byte) (Object, error) {
	data, err := yaml.YAMLToJSONStrict(manifest)
	if err != nil {
		return Object{}, fmt.Errorf("yaml: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(data, &head); err != nil {
		return Object{}, fmt.Errorf("manifest header: %w", err)
	}
	obj := Object{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name}
	if obj.Name == "" {
		return obj, fmt.Errorf("%s without metadata.name", obj)
	}
	key := head.APIVersion + "/" + head.Kind
	if typed, ok := newTyped(key); ok {
		strictErrs, err := k8sjson.UnmarshalStrict(data, typed)
		if err != nil {
			return obj, fmt.Errorf("%s: %w", obj, err)
		}
		if len(strictErrs) > 0 {
			return obj, fmt.Errorf("%s: %w", obj, errors.Join(strictErrs...))
		}
		obj.Typed = typed
		return obj, nil
	}
	required, ok := requiredCustomFields(key)
	if !ok {
		return obj, fmt.Errorf("%s: unexpected kind %s (add it to the checks' kind tables)", obj, key)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return obj, fmt.Errorf("%s: %w", obj, err)
	}
	for _, path := range required {
		v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
		if err != nil || !found || isEmpty(v) {
			return obj, fmt.Errorf("%s: required field %s is missing or empty", obj, strings.Join(path, "."))
		}
	}
	obj.Typed = u
	return obj, nil
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return rv.Len() == 0
	}
	return false
}

// CheckDeployment reports what a Farewell Deployment lacks to run safely: readiness and
// liveness probes, CPU and memory requests and limits, a non-root, read-only, unprivileged
// container, the runtime's seccomp profile, and enough grace for the services' 20s drain.
func CheckDeployment(d *appsv1.Deployment) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment/%s: "+format, append([]any{d.Name}, args...)...))
	}
	pod := d.Spec.Template.Spec
	if d.Spec.Selector == nil || !labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(d.Spec.Template.Labels)) {
		fail("selector does not match the pod template's labels")
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		fail("terminationGracePeriodSeconds must be at least 30 (FAREWELL_DRAIN_DELAY 5s + FAREWELL_SHUTDOWN_TIMEOUT 20s + 5s)")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod securityContext.seccompProfile must be RuntimeDefault")
	}
	if len(pod.Containers) == 0 {
		fail("no containers")
	}
	for _, c := range pod.Containers {
		where := "container " + c.Name
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			fail("%s: readinessProbe must GET /readyz", where)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			fail("%s: livenessProbe must GET /healthz", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Limits[r]; !ok {
				fail("%s: resources.limits.%s missing", where, r)
			}
			if _, ok := c.Resources.Requests[r]; !ok {
				fail("%s: resources.requests.%s missing", where, r)
			}
		}
		csc := c.SecurityContext
		nonRoot := (csc != nil && csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) ||
			(psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			fail("%s: runAsNonRoot must be true", where)
		}
		if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			fail("%s: readOnlyRootFilesystem must be true", where)
		}
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			fail("%s: allowPrivilegeEscalation must be false", where)
		}
		if csc == nil || csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
			fail("%s: capabilities must drop ALL", where)
		}
	}
	return errors.Join(errs...)
}

// CheckReferences reports references between objects that point nowhere: Services,
// PodDisruptionBudgets and NetworkPolicies selecting no pods, Service target ports no
// container has, Ingress backends, autoscaler targets and ConfigMaps that do not exist, and
// secret keys missing from the farewell-secrets template.
func CheckReferences(objs []Object, secretKeys []string) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	type podOwner struct {
		kind, name string
		labels     labels.Set
		spec       corev1.PodSpec
	}
	var owners []podOwner
	services := map[string]*corev1.Service{}
	configMaps := map[string]*corev1.ConfigMap{}
	deployments := map[string]bool{}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			owners = append(owners, podOwner{"Deployment", t.Name, t.Spec.Template.Labels, t.Spec.Template.Spec})
			deployments[t.Name] = true
		case *batchv1.Job:
			owners = append(owners, podOwner{"Job", t.Name, t.Spec.Template.Labels, t.Spec.Template.Spec})
		case *corev1.Service:
			services[t.Name] = t
		case *corev1.ConfigMap:
			configMaps[t.Name] = t
		}
	}
	selects := func(sel map[string]string) []podOwner {
		var out []podOwner
		for _, p := range owners {
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(p.labels) {
				out = append(out, p)
			}
		}
		return out
	}
	hasPort := func(spec corev1.PodSpec, port intstr.IntOrString) bool {
		for _, c := range spec.Containers {
			for _, p := range c.Ports {
				if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
					return true
				}
			}
		}
		return false
	}
	servicePort := func(where, name string, port networkingv1.ServiceBackendPort) {
		svc, ok := services[name]
		if !ok {
			fail("%s: backend Service %q does not exist", where, name)
			return
		}
		for _, p := range svc.Spec.Ports {
			if (port.Name != "" && p.Name == port.Name) || (port.Number != 0 && p.Port == port.Number) {
				return
			}
		}
		fail("%s: Service %q has no port %v", where, name, port)
	}

	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			matched := selects(t.Spec.Selector)
			if len(matched) == 0 {
				fail("%s: selector %v matches no pod template", o, t.Spec.Selector)
			}
			for _, p := range t.Spec.Ports {
				for _, m := range matched {
					if !hasPort(m.spec, p.TargetPort) {
						fail("%s: targetPort %s is not a port of %s/%s", o, p.TargetPort.String(), m.kind, m.name)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			if t.Spec.Selector == nil || len(selects(t.Spec.Selector.MatchLabels)) == 0 {
				fail("%s: selector matches no pod template", o)
			}
		case *networkingv1.NetworkPolicy:
			if len(t.Spec.PodSelector.MatchLabels) > 0 && len(selects(t.Spec.PodSelector.MatchLabels)) == 0 {
				fail("%s: podSelector matches no pod template", o)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			if t.Spec.ScaleTargetRef.Kind != "Deployment" || !deployments[t.Spec.ScaleTargetRef.Name] {
				fail("%s: scaleTargetRef %s/%s does not exist", o, t.Spec.ScaleTargetRef.Kind, t.Spec.ScaleTargetRef.Name)
			}
		case *networkingv1.Ingress:
			for _, rule := range t.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					if p.Backend.Service == nil {
						fail("%s: path %s has no Service backend", o, p.Path)
						continue
					}
					servicePort(o.String(), p.Backend.Service.Name, p.Backend.Service.Port)
				}
			}
		case *unstructured.Unstructured:
			if o.Kind == "ScaledObject" {
				name, _, _ := unstructured.NestedString(t.Object, "spec", "scaleTargetRef", "name")
				if !deployments[name] {
					fail("%s: scaleTargetRef %q is not a Deployment", o, name)
				}
			}
			if o.Kind == "ServiceMonitor" {
				sel, _, _ := unstructured.NestedStringMap(t.Object, "spec", "selector", "matchLabels")
				found := false
				for _, svc := range services {
					if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
						found = true
					}
				}
				if !found {
					fail("%s: selector %v matches no Service", o, sel)
				}
			}
		}
	}

	// Environment references of every pod.
	for _, p := range owners {
		for _, c := range p.spec.Containers {
			where := fmt.Sprintf("%s/%s container %s", p.kind, p.name, c.Name)
			for _, from := range c.EnvFrom {
				if from.ConfigMapRef != nil && configMaps[from.ConfigMapRef.Name] == nil {
					fail("%s: envFrom ConfigMap %q does not exist", where, from.ConfigMapRef.Name)
				}
				if from.SecretRef != nil && from.SecretRef.Name != "farewell-secrets" {
					fail("%s: envFrom Secret %q is not farewell-secrets", where, from.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
					cm := configMaps[ref.Name]
					if cm == nil {
						fail("%s: env %s: ConfigMap %q does not exist", where, e.Name, ref.Name)
					} else if _, ok := cm.Data[ref.Key]; !ok {
						fail("%s: env %s: ConfigMap %q has no key %q", where, e.Name, ref.Name, ref.Key)
					}
				}
				if ref := e.ValueFrom.SecretKeyRef; ref != nil {
					if ref.Name != "farewell-secrets" || !slices.Contains(secretKeys, ref.Key) {
						fail("%s: env %s: secret %s/%s is not in k8s/base/secret.template.yaml", where, e.Name, ref.Name, ref.Key)
					}
				}
			}
			for _, v := range p.spec.Volumes {
				if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
					fail("%s: volume %s: ConfigMap %q does not exist", where, v.Name, v.ConfigMap.Name)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Typed returns the objects of type T.
func Typed[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.Typed.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
