package checks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestComposeFileLoadsAndItsFilesExist(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	project, err := LoadCompose(context.Background(), filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckComposeFiles(project); err != nil {
		t.Error(err)
	}
	if err := CheckComposeDependencies(project); err != nil {
		t.Error(err)
	}
	for _, infra := range []string{"kafka", "kafka-topics", "mysql", "redis", "mailpit", "nginx", "prometheus", "grafana"} {
		if _, ok := project.Services[infra]; !ok {
			t.Errorf("no %s service", infra)
		}
	}
	ports := map[string]string{"auth": ":8081", "apply-gateway": ":8083", "stock-consumer": ":8085", "notifier": ":8086"}
	for name, addr := range ports {
		svc, ok := project.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if svc.Build == nil || filepath.Base(svc.Build.Dockerfile) != "Dockerfile" || svc.Build.Args["SERVICE"] == nil || *svc.Build.Args["SERVICE"] != name {
			t.Errorf("%s must build from deploy/docker/Dockerfile with SERVICE=%s", name, name)
		}
		if got := svc.Environment["FAREWELL_HTTP_ADDR"]; got == nil || *got != addr {
			t.Errorf("%s FAREWELL_HTTP_ADDR = %v, want %s", name, got, addr)
		}
		// env_file is resolved into the environment: the secrets must be there.
		if name == "auth" && (svc.Environment["FAREWELL_JWT_SECRET"] == nil || len(*svc.Environment["FAREWELL_JWT_SECRET"]) < 32) {
			t.Errorf("auth has no FAREWELL_JWT_SECRET of at least 32 bytes from deploy/compose/farewell.env")
		}
		want := 1
		if name == "auth" || name == "apply-gateway" {
			want = 2
		}
		if got := svc.GetScale(); got != want {
			t.Errorf("%s replicas = %d, want %d", name, got, want)
		}
		if svc.DependsOn["kafka-topics"].Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s must wait for kafka-topics to complete successfully", name)
		}
	}
}

func TestComposeLoaderRejectsBrokenFiles(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, compose, want string }{
		{"unknown key", `
services:
  web:
    image: nginx:1.28-alpine
    healthcheck_please: true
`, "healthcheck_please"},
		{"wrong type", `
services:
  web:
    image: nginx:1.28-alpine
    ports: 8080
`, "ports"},
		{"unknown dependency", `
services:
  web:
    image: nginx:1.28-alpine
    depends_on:
      db:
        condition: service_healthy
`, "db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "compose.yml")
			writeFile(t, path, tt.compose)
			_, err := LoadCompose(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadCompose = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestComposeChecksRejectMissingFilesAndUnmetConditions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "compose.yml")
	writeFile(t, filepath.Join(dir, "app.env"), "A=1\n")
	writeFile(t, path, `
services:
  db:
    image: mysql:8.4
  setup:
    image: busybox
    restart: always
  app:
    build:
      context: .
      dockerfile: no/such/Dockerfile
    env_file: [app.env]
    volumes:
      - ./missing.conf:/etc/app.conf:ro
    depends_on:
      db:
        condition: service_healthy
      setup:
        condition: service_completed_successfully
`)
	project, err := LoadCompose(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckComposeFiles(project)
	if err == nil || !strings.Contains(err.Error(), "missing.conf") || !strings.Contains(err.Error(), "no/such/Dockerfile") {
		t.Errorf("CheckComposeFiles = %v, want errors about missing.conf and the Dockerfile", err)
	}
	err = CheckComposeDependencies(project)
	if err == nil || !strings.Contains(err.Error(), "db has no healthcheck") || !strings.Contains(err.Error(), "setup restarts") {
		t.Errorf("CheckComposeDependencies = %v, want errors about db and setup", err)
	}
}
