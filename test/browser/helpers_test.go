package browser

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// Viewports: a phone for the participant page, a laptop for the console.
const (
	phoneWidth, phoneHeight   = 412, 915
	laptopWidth, laptopHeight = 1280, 1000
)

// skipShort skips browser tests under -short with the reason.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: needs headless Chromium and the running stack; skipped under -short")
	}
}

// chromiumPath finds Debian's chromium, or fails saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make test` (its first step, `.run/bin/stack tools`, installs chromium and fonts-noto-cjk)")
	return ""
}

// newBrowser starts a fresh headless Chromium (its own profile directory)
// with the given window size and returns a tab context bounded by timeout.
// The flags keep Chromium from hanging on a machine without network or as
// root: no sandbox, no GPU, no QUIC, no first-run, no background fetches.
func newBrowser(t *testing.T, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "ko-KR"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// stack is the running local stack, as the tests reach it.
type stack struct {
	base    string
	client  *stackclient.Client
	mailpit *testinfra.Mailpit
	env     map[string]string
}

// newStack fails clearly when the stack is down and holds .run/stack.lock
// for the test (the tests change the event's stock and window).
func newStack(t *testing.T) *stack {
	t.Helper()
	base := testinfra.NginxURL(t)
	path, err := localstack.FindEnvFile(os.Getenv("FAREWELL_TEST_ENV_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := localstack.LoadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := localstack.AcquireLock(context.Background(), localstack.PathsOfEnvFile(path).Lock, 15*time.Minute, "browser test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Release() })
	return &stack{base: base, client: stackclient.NewClient(base, env["FAREWELL_ADMIN_KEY"], 64), mailpit: testinfra.MailpitServer(t), env: env}
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// codeFor waits for the code email to addr and returns its code.
func (s *stack) codeFor(t *testing.T, addr string) string {
	t.Helper()
	msgs := s.mailpit.WaitForMessages(t, `to:"`+addr+`" subject:"인증"`, 1, 30*time.Second)
	body, err := s.mailpit.Message(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	m := sixDigits.FindStringSubmatch(body.Text)
	if m == nil {
		t.Fatalf("no 6-digit code in the email to %s", addr)
	}
	return m[1]
}

// repoRoot is the directory holding go.work.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

// screenshot saves a full-page PNG as .run/screenshots/NAME.png.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(repoRoot(t), ".run", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// waitScreen waits until the participant page shows screen id and returns
// the visible text of that screen.
func waitScreen(t *testing.T, tab context.Context, id string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`body[data-current="`+id+`"] #`+id))); err != nil {
		current, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.getAttribute('data-current') || ''`))
		text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("screen %s never came; the page shows %q:\n%s", id, current, text)
		}
		t.Fatalf("wait for screen %s: %v (page shows %q)", id, err, current)
	}
	text, err := chromedp.Run(tab, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(text)
}

// fill clears the input sel and types v into it.
func fill(t *testing.T, tab context.Context, sel, v string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+strconv.Quote(sel)+`).value = ''`), chromedp.SendKeys(chromedp.CSS(sel), v)); err != nil {
		t.Fatalf("type into %s: %v", sel, err)
	}
	if got, err := chromedp.Run(tab, chromedp.Value(chromedp.CSS(sel))); err != nil || got != v {
		t.Fatalf("%s holds %q after typing %q (%v)", sel, got, v, err)
	}
}

// do runs steps on the tab or fails the test with what.
func do(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
