package localstack

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// NginxTemplate is the production nginx configuration with ${NGINX_*}
// placeholders, relative to the repository root.
const NginxTemplate = "deploy/nginx/farewell.conf.template"

// NginxValues are the values of the loopback stack for every placeholder of
// NginxTemplate — the one table to extend when the template gains one. The
// rate limits are far above anything a load test from 127.0.0.1 sends, so
// the services' own limits are what tests see; production renders small
// per-client rates.
func NginxValues(p Paths) map[string]string {
	dir := p.NginxDir()
	return map[string]string{
		"NGINX_WORKER_CONNECTIONS": "8192",
		"NGINX_PID":                filepath.Join(dir, "nginx.pid"),
		"NGINX_ERROR_LOG":          p.LogFile("nginx-error"),
		"NGINX_ACCESS_LOG":         p.LogFile("nginx-access"),
		"NGINX_TEMP_DIR":           filepath.Join(dir, "tmp"),
		"NGINX_LISTEN":             hostPort(NginxPort),
		"NGINX_REAL_IP_FROM":       "set_real_ip_from 127.0.0.1;",
		"NGINX_AUTH_SERVERS":       upstreamServers("auth"),
		"NGINX_GATEWAY_SERVERS":    upstreamServers("apply-gateway"),
		"NGINX_BARE_SERVERS":       bareServers(),
		"NGINX_AUTH_RATE":          "50000r/s",
		"NGINX_AUTH_BURST":         "50000",
		"NGINX_APPLY_RATE":         "50000r/s",
		"NGINX_APPLY_BURST":        "50000",
		"NGINX_API_RATE":           "50000r/s",
		"NGINX_API_BURST":          "50000",
		"NGINX_ADMIN_ACCESS":       "allow 127.0.0.1; deny all;",
		"NGINX_DOCS_DIR":           filepath.Join(p.Root, "docs"),
		"NGINX_WEB_DIR":            filepath.Join(p.Root, "deploy", "web"),
		// The existing participant frontend's development origin (Vite), both spellings.
		"NGINX_CORS_ORIGINS": `"http://localhost:5173" 1; "http://127.0.0.1:5173" 1;`,
	}
}

// NginxDir holds the rendered configuration and nginx's temp directories.
func (p Paths) NginxDir() string { return filepath.Join(p.Run, "nginx") }

// upstreamServers lists the instances of service as nginx upstream servers.
func upstreamServers(service string) string {
	var b strings.Builder
	for _, c := range InstancesOf(service) {
		fmt.Fprintf(&b, "server %s max_fails=2 fail_timeout=2s; ", c.Addr())
	}
	return b.String()
}

// BareAddrs are where the load test's bare handler listens while make bench
// runs: one process per apply-gateway instance, so nginx's bench_bare
// upstream spreads its requests the way apply_gateway does.
func BareAddrs() []string {
	out := make([]string, len(InstancesOf("apply-gateway")))
	for i := range out {
		out[i] = hostPort(BarePort + i)
	}
	return out
}

func bareServers() string {
	var b strings.Builder
	for _, addr := range BareAddrs() {
		fmt.Fprintf(&b, "server %s max_fails=2 fail_timeout=2s; ", addr)
	}
	return b.String()
}

// placeholder matches ${NGINX_*} and bare $NGINX_*; nginx's own $variables
// are lower case and never match.
var placeholder = regexp.MustCompile(`\$\{(NGINX_[A-Z0-9_]+)\}|\$(NGINX_[A-Z0-9_]+)`)

// RenderNginx substitutes the ${NGINX_*} placeholders of template the way
// envsubst restricted to those names does. A placeholder without a value is
// an error naming every such placeholder, never an empty string.
func RenderNginx(template string, values map[string]string) (string, error) {
	missing := map[string]bool{}
	out := placeholder.ReplaceAllStringFunc(template, func(m string) string {
		name := strings.Trim(m, "${}")
		v, ok := values[name]
		if !ok {
			missing[name] = true
		}
		return v
	})
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("nginx template: no value for %s (add it to localstack.NginxValues)", strings.Join(names, ", "))
	}
	return out, nil
}
