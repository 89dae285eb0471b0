package localstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderNginx(t *testing.T) {
	t.Parallel()
	got, err := RenderNginx("listen ${NGINX_LISTEN}; set $x $host; $NGINX_PID", map[string]string{"NGINX_LISTEN": "80", "NGINX_PID": "p"})
	if err != nil || got != "listen 80; set $x $host; p" {
		t.Errorf("RenderNginx = %q, %v", got, err)
	}
	_, err = RenderNginx("a ${NGINX_NEW} b ${NGINX_OTHER} ${NGINX_NEW}", nil)
	if err == nil || !strings.Contains(err.Error(), "NGINX_NEW, NGINX_OTHER") {
		t.Errorf("missing placeholders: err %v", err)
	}
}

func TestLocalValuesCoverTheTemplate(t *testing.T) {
	t.Parallel()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(root, NginxTemplate))
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderNginx(string(tmpl), NginxValues(NewPaths(root)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server 127.0.0.1:8081 ", "server 127.0.0.1:8082 ", "server 127.0.0.1:8083 ", "server 127.0.0.1:8084 "} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered configuration lacks upstream %q", want)
		}
	}
}
