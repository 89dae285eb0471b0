package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// productionValues are the typical production values listed in the template's header, with
// the file paths moved into a scratch directory so nginx -t can run unprivileged.
func productionValues(scratch string) map[string]string {
	return map[string]string{
		"NGINX_WORKER_CONNECTIONS": "8192",
		"NGINX_PID":                filepath.Join(scratch, "nginx.pid"),
		"NGINX_ERROR_LOG":          filepath.Join(scratch, "error.log"),
		"NGINX_ACCESS_LOG":         filepath.Join(scratch, "access.log"),
		"NGINX_TEMP_DIR":           scratch,
		"NGINX_LISTEN":             "80",
		"NGINX_REAL_IP_FROM":       "set_real_ip_from 10.0.0.0/8;",
		"NGINX_AUTH_SERVERS":       "server auth:8081 max_fails=3 fail_timeout=5s; server auth-2:8081 max_fails=3 fail_timeout=5s;",
		"NGINX_GATEWAY_SERVERS":    "server apply-gateway:8083 max_fails=3 fail_timeout=5s;",
		"NGINX_BARE_SERVERS":       "server 127.0.0.1:8090 max_fails=2 fail_timeout=2s;",
		"NGINX_AUTH_RATE":          "5r/s",
		"NGINX_AUTH_BURST":         "10",
		"NGINX_APPLY_RATE":         "2r/s",
		"NGINX_APPLY_BURST":        "5",
		"NGINX_API_RATE":           "20r/s",
		"NGINX_API_BURST":          "40",
		"NGINX_ADMIN_ACCESS":       "allow 10.0.0.0/8; deny all;",
		"NGINX_DOCS_DIR":           scratch,
		"NGINX_WEB_DIR":            scratch,
		"NGINX_CORS_ORIGINS":       `"https://event.example.com" 1;`,
	}
}

func readTemplate(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/nginx/farewell.conf.template"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestNginxProductionConfig(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx")
	scratch := t.TempDir()
	conf, err := RenderNginxTemplate(readTemplate(t), productionValues(scratch))
	if err != nil {
		t.Fatal(err)
	}
	if err := NginxTest(nginx, LocalizeUpstreams(conf), scratch); err != nil {
		t.Fatal(err)
	}
}

// TestNginxComposeConfig checks the file docker-compose.yml mounts, verbatim except for the
// upstream host names (see LocalizeUpstreams) and its /tmp paths, moved into a scratch
// directory so the check leaves nothing behind on the host.
func TestNginxComposeConfig(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx")
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/nginx/compose.conf"))
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	conf := strings.ReplaceAll(string(data), " /tmp/", " "+scratch+"/")
	conf = strings.ReplaceAll(conf, " /tmp;", " "+scratch+";")
	if err := NginxTest(nginx, LocalizeUpstreams(conf), scratch); err != nil {
		t.Fatal(err)
	}
}

// TestComposeNginxConfigIsCurrent fails when deploy/nginx/compose.conf no longer matches the
// template and deploy/compose/nginx.env (run deploy/compose/render-nginx.sh).
func TestComposeNginxConfigIsCurrent(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	values, err := ParseEnvFile(filepath.Join(root, "deploy/compose/nginx.env"))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := RenderNginxTemplate(readTemplate(t), values)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "deploy/nginx/compose.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// render-nginx.sh puts a two-line "GENERATED" header first.
	lines := strings.SplitAfterN(string(committed), "\n", 3)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "# GENERATED") || lines[2] != rendered {
		t.Fatal("deploy/nginx/compose.conf is stale: run deploy/compose/render-nginx.sh")
	}
}

func TestNginxTestRejectsBrokenConfig(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx")
	scratch := t.TempDir()
	conf, err := RenderNginxTemplate(readTemplate(t), productionValues(scratch))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, conf string }{
		{"unknown zone", strings.Replace(conf, "zone=auth_per_client", "zone=no_such_zone", 1)},
		{"unknown directive", strings.Replace(conf, "server_tokens off;", "server_tokens off;\n    proxy_teleport on;", 1)},
		{"unbalanced braces", strings.Replace(conf, "location = /nginx-health {", "location = /nginx-health {{", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.conf == conf {
				t.Fatal("the mutation did not apply; the template changed")
			}
			if err := NginxTest(nginx, LocalizeUpstreams(tt.conf), t.TempDir()); err == nil {
				t.Fatal("nginx -t accepted a broken configuration")
			}
		})
	}
}

func TestRenderNginxTemplate(t *testing.T) {
	t.Parallel()
	got, err := RenderNginxTemplate("listen ${NGINX_LISTEN}; set $x $host; $NGINX_PID", map[string]string{"NGINX_LISTEN": "80", "NGINX_PID": "p"})
	if err != nil || got != "listen 80; set $x $host; p" {
		t.Fatalf("RenderNginxTemplate = %q, %v", got, err)
	}
	if _, err := RenderNginxTemplate("listen ${NGINX_LISTEN};", nil); err == nil {
		t.Fatal("a placeholder without a value rendered without error")
	}
	if got := LocalizeUpstreams("    server auth:8081 max_fails=3; server auth-2:8081;\n    server_name _;\n    server {"); got != "    server 127.0.0.1:8081 max_fails=3; server 127.0.0.1:8081;\n    server_name _;\n    server {" {
		t.Fatalf("LocalizeUpstreams = %q", got)
	}
}
