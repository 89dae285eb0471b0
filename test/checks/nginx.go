package checks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// RenderNginxTemplate substitutes the ${NGINX_*} placeholders of deploy/nginx's template
// like envsubst restricted to those names does (the local stack's renderer,
// localstack.RenderNginx; deploy/compose/render-nginx.sh). A placeholder without a value is
// an error, not an empty string.
func RenderNginxTemplate(template string, values map[string]string) (string, error) {
	return localstack.RenderNginx(template, values)
}

// ParseEnvFile reads NAME=value lines as a POSIX shell would for the simple files this
// repository keeps: comments and blank lines are skipped, and a value may be wrapped in
// single or double quotes (no escapes inside).
func ParseEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want NAME=value", path, n)
		}
		if len(value) >= 2 && (value[0] == '\'' || value[0] == '"') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		values[strings.TrimSpace(name)] = value
	}
	return values, sc.Err()
}

// upstreamHost matches `server host:port` inside upstream blocks, also several on one line
// ("server {" and "server_name" do not match).
var upstreamHost = regexp.MustCompile(`(?m)((?:^|;)\s*server\s+)([A-Za-z][A-Za-z0-9.-]*)(:\d+)`)

// LocalizeUpstreams points every upstream server at 127.0.0.1, keeping its port and
// parameters. nginx resolves upstream host names when it loads a configuration, and names
// such as "auth" exist only on the compose network or in the cluster.
func LocalizeUpstreams(conf string) string {
	return upstreamHost.ReplaceAllString(conf, "${1}127.0.0.1${3}")
}

// NginxTest runs `nginx -t` on the configuration text with a scratch prefix directory and
// returns nginx's output when it rejects it.
func NginxTest(nginx, conf, scratchDir string) error {
	path := filepath.Join(scratchDir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(nginx, "-t", "-q", "-p", scratchDir, "-c", path, "-e", filepath.Join(scratchDir, "error.log"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t: %w\n%s", err, out)
	}
	return nil
}
