package fuzzapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// figures is what the test restores after the run: the fuzzer sets random
// stock and windows on the stack's event.
type figures struct {
	Total   int64 `json:"total"`
	Winners int64 `json:"winners"`
	Window  struct {
		OpensAt  *string `json:"opensAt"`
		ClosesAt *string `json:"closesAt"`
	} `json:"window"`
}

func examples(t *testing.T) int {
	t.Helper()
	v := os.Getenv("FAREWELL_FUZZ_EXAMPLES")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("FAREWELL_FUZZ_EXAMPLES=%q is not a positive integer", v)
	}
	return n
}

func TestSchemathesisFindsNothing(t *testing.T) {
	testinfra.NeedsStack(t)
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("FAREWELL_REQUIRE_TOOLS") == "1" {
			t.Fatal("python3 is needed for schemathesis: apt-get install python3 python3-venv")
		}
		t.Skip("python3 not installed; schemathesis cannot run")
	}
	base := testinfra.NginxURL(t)
	envFile, err := localstack.FindEnvFile(os.Getenv("FAREWELL_TEST_ENV_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := localstack.LoadEnv(envFile)
	if err != nil {
		t.Fatal(err)
	}
	root := localstack.PathsOfEnvFile(envFile).Root
	script := filepath.Join(root, "scripts", "run-schemathesis.sh")

	// Install (or check) the pinned venv before taking the lock: the others
	// waiting for the stack need not wait for PyPI.
	install := exec.Command(script, "install")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("install schemathesis: %v\n%s", err, out)
	}

	lock, err := localstack.AcquireLock(context.Background(), localstack.PathsOfEnvFile(envFile).Lock, 30*time.Minute, "fuzz-api test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Release() })

	minter, err := stackclient.NewMinter(env)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := minter.Mint(testinfra.UniqueName("fuzzapi-")+"@example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	adminKey := env["FAREWELL_ADMIN_KEY"]
	client := stackclient.NewClient(base, adminKey, 2)
	ctx := context.Background()
	before := readFigures(ctx, t, client)
	t.Cleanup(func() { restore(ctx, t, client, before) })

	n := examples(t)
	report := filepath.Join(root, ".run", "fuzz-api")
	cmd := exec.CommandContext(ctx, script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"FAREWELL_FUZZ_TOKEN="+tok,
		"FAREWELL_ADMIN_KEY="+adminKey,
		"FUZZ_MAX_EXAMPLES="+strconv.Itoa(n),
		"FUZZ_BASE_URL="+base,
		"FUZZ_REPORT_DIR="+report,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	text := out.String()
	if strings.Contains(text, tok) || strings.Contains(text, adminKey) {
		t.Error("schemathesis printed a credential (sanitization is off?)")
	}
	if m := regexp.MustCompile(`(?m)^\s*(\d+ generated.*)$`).FindStringSubmatch(text); m != nil {
		t.Logf("schemathesis (%d examples per operation and phase, %s): %s", n, time.Since(start).Round(time.Second), m[1])
	}
	var exit *exec.ExitError
	switch {
	case errors.As(runErr, &exit):
		t.Fatalf("schemathesis found problems (exit %d); report in %s:\n%s", exit.ExitCode(), report, text)
	case runErr != nil:
		t.Fatalf("run schemathesis: %v\n%s", runErr, text)
	}

	// The admin key still works for this client: the fuzzer's wrong-key
	// probes stayed under the failure limit.
	restore(ctx, t, client, before)

	scanLogs(t, filepath.Join(root, ".run", "logs"), map[string]string{
		"admin key":             adminKey,
		"JWT secret":            env["FAREWELL_JWT_SECRET"],
		"code secret":           env["FAREWELL_CODE_SECRET"],
		"minted token":          tok,
		"minted token's MAC":    tok[strings.LastIndexByte(tok, '.')+1:],
		"minted token's claims": strings.Split(tok, ".")[1],
	})
}

func readFigures(ctx context.Context, t *testing.T, c *stackclient.Client) figures {
	t.Helper()
	r, err := c.Do(ctx, http.MethodGet, "/api/admin/event", nil, map[string]string{"X-ADMIN-KEY": c.AdminKey})
	if err != nil || r.HTTPStatus != http.StatusOK {
		t.Fatalf("read the event's figures: %d %s %v", r.HTTPStatus, r.Envelope.Code, err)
	}
	var f figures
	if err := json.Unmarshal(r.Envelope.Result, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// restore puts back the stock and window the fuzzer changed at random. The
// fuzzer's own applies may have won meanwhile, and a total below the winners
// is refused (STOCK_BELOW_WINNERS): the stock goes back to the larger of the
// two.
func restore(ctx context.Context, t *testing.T, c *stackclient.Client, f figures) {
	t.Helper()
	total := max(f.Total, readFigures(ctx, t, c).Winners)
	if err := c.SetStock(ctx, total); err != nil {
		t.Errorf("restore the stock: %v", err)
	}
	if f.Window.OpensAt == nil || f.Window.ClosesAt == nil {
		return
	}
	body := map[string]string{"opensAt": *f.Window.OpensAt, "closesAt": *f.Window.ClosesAt}
	r, err := c.Do(ctx, http.MethodPut, "/api/admin/event/window", body, map[string]string{"X-ADMIN-KEY": c.AdminKey})
	if err != nil || r.HTTPStatus != http.StatusOK {
		t.Errorf("restore the window: %d %s %v", r.HTTPStatus, r.Envelope.Code, err)
	}
}

// scanLogs reads every log of the stack in chunks and fails when one holds
// any of the secrets.
func scanLogs(t *testing.T, dir string, secrets map[string]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no logs in %s: %v", dir, err)
	}
	longest := 0
	for what, s := range secrets {
		if len(s) < 16 {
			t.Fatalf("%s is missing or too short to scan for", what)
		}
		longest = max(longest, len(s))
	}
	var scanned int64
	for _, path := range files {
		n, err := scanFile(path, longest, func(chunk []byte) {
			for what, s := range secrets {
				if bytes.Contains(chunk, []byte(s)) {
					t.Errorf("%s contains the %s", filepath.Base(path), what)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		scanned += n
	}
	t.Logf("scanned %d log files (%d bytes) for %d secrets", len(files), scanned, len(secrets))
}

// scanFile hands f to check in 1 MiB chunks that overlap by overlap bytes,
// so a secret split across two reads is still seen whole.
func scanFile(path string, overlap int, check func([]byte)) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20+overlap)
	keep, total := 0, int64(0)
	for {
		n, err := io.ReadFull(f, buf[keep:])
		total += int64(n)
		if n > 0 {
			check(buf[:keep+n])
			if keep+n >= overlap {
				copy(buf, buf[keep+n-overlap:keep+n])
				keep = overlap
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", path, err)
		}
	}
}
