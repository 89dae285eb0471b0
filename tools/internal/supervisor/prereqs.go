package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// prerequisite is a binary the stack runs (or, for an absolute path, a file
// such as a font) and the Debian package that has it.
type prerequisite struct{ binary, pkg string }

// present reports whether the binary is on PATH (or in sbin), or the file exists.
func (p prerequisite) present() bool {
	if filepath.IsAbs(p.binary) {
		_, err := os.Stat(p.binary)
		return err == nil
	}
	return lookPath(p.binary) != p.binary
}

// stackPrerequisites are what `make run` needs.
var stackPrerequisites = []prerequisite{
	{"redis-server", "redis-server"}, {"redis-cli", "redis-tools"}, {"redis-sentinel", "redis-sentinel"},
	{"mariadbd", "mariadb-server"}, {"mariadb-install-db", "mariadb-server"}, {"mariadb", "mariadb-client"},
	{"nginx", "nginx"}, {"curl", "curl"}, {"envsubst", "gettext-base"}, {"protoc", "protobuf-compiler"},
	{"mvn", "maven"}, {"java", "openjdk-17-jre-headless"}, {"ss", "iproute2"},
}

// testPrerequisites are the tools only the test suite needs: promtool checks
// the alert rules; headless Chromium and CJK fonts run the browser tests
// (test/browser; Korean text in the screenshots).
var testPrerequisites = []prerequisite{
	{"promtool", "prometheus"}, {"chromium", "chromium"},
	{"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "fonts-noto-cjk"},
}

// installScript installs Debian packages (the only step left to a shell
// script, relative to the repository root).
const installScript = "scripts/install-packages.sh"

// ensurePrerequisites installs the packages of missing binaries with
// scripts/install-packages.sh when we are root and have apt-get, and
// otherwise says which apt-get line to run.
func (s *Supervisor) ensurePrerequisites(ctx context.Context, prereqs []prerequisite) error {
	start := time.Now()
	var missing []string
	for _, p := range prereqs {
		if p.present() {
			continue
		}
		if !contains(missing, p.pkg) {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	line := "sudo apt-get update && sudo apt-get install -y --no-install-recommends " + strings.Join(missing, " ")
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return fmt.Errorf("missing packages. Install them, then run again:\n      %s", line)
	}
	s.infof("  installing: %s (apt-get)", strings.Join(missing, " "))
	log := s.p.LogFile("apt")
	argv := append([]string{filepath.Join(s.p.Root, installScript)}, missing...)
	if err := s.runLogged(ctx, log, s.p.Root, s.environ(nil), argv...); err != nil {
		return s.errWithLog(log, fmt.Errorf("apt-get install %s failed (see %s)", strings.Join(missing, " "), log))
	}
	s.readyLine("packages", start, "installed: "+strings.Join(missing, " "))
	return nil
}

var javaVersion = regexp.MustCompile(`version "([^"]+)"`)

// checkGoAndJava fails clearly without Go (the services are built here) or
// with a Java older than 17 (Kafka 4).
func (s *Supervisor) checkGoAndJava(ctx context.Context) error {
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("go is missing: install Go 1.26+ from https://go.dev/dl and put it on PATH")
	}
	out, _ := exec.CommandContext(ctx, lookPath("java"), "-version").CombinedOutput()
	version := ""
	if m := javaVersion.FindSubmatch(out); m != nil {
		version = string(m[1])
	}
	major, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	if err != nil || major < 17 {
		if version == "" {
			version = "none"
		}
		return fmt.Errorf("kafka 4 needs Java 17+, found '%s': apt-get install openjdk-17-jre-headless (or put a newer java first on PATH)", version)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
