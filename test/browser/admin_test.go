package browser

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// TestAdminConsoleDuringHerd enters the key once, sets the stock with the
// console's form, and watches the live figures and the chart move while a
// small herd of minted tokens applies through nginx; then the winners export
// lists every new winner.
func TestAdminConsoleDuringHerd(t *testing.T) {
	skipShort(t)
	s := newStack(t)
	ctx := context.Background()
	const gifts, herd = 10, 40
	before, err := s.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.OpenWindow(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	tab := newBrowser(t, laptopWidth, laptopHeight, 120*time.Second)
	do(t, tab, "open the console", chromedp.Navigate(s.base+"/admin/"), chromedp.WaitVisible(chromedp.ID("admin-key")))
	// A wrong key is refused with the server's answer and asked again.
	fill(t, tab, "#admin-key", "not-the-key-0123456789abcdef")
	do(t, tab, "log in with a wrong key", chromedp.SendKeys(chromedp.ID("admin-key"), "\r"))
	waitText(t, tab, "#key-error", "INVALID_ADMIN_KEY", 10*time.Second)
	fill(t, tab, "#admin-key", s.env["FAREWELL_ADMIN_KEY"])
	do(t, tab, "log in", chromedp.SendKeys(chromedp.ID("admin-key"), "\r"), chromedp.WaitVisible(chromedp.ID("console")))
	waitExact(t, tab, "#f-winners", fmtKO(before.Winners), 10*time.Second)
	// The key stays in this tab's session storage only.
	stored, _ := chromedp.Run(tab, chromedp.Evaluate[bool](`sessionStorage.getItem('farewell.adminKey') !== null && localStorage.length === 0`))
	if !stored {
		t.Fatal("the admin key is not in sessionStorage (or leaked into localStorage)")
	}

	// Validation on the page, then the server's own refusal shown as it is.
	fill(t, tab, "#stock", "-3")
	do(t, tab, "submit a negative stock", chromedp.Click(chromedp.ID("stock-submit")))
	waitText(t, tab, "#stock-msg", "정수", 5*time.Second)
	target := before.Winners + gifts
	fill(t, tab, "#stock", strconv.FormatInt(target, 10))
	do(t, tab, "set the stock", chromedp.Click(chromedp.ID("stock-submit")))
	waitText(t, tab, "#stock-msg", "저장했습니다", 10*time.Second)
	waitExact(t, tab, "#f-remaining", fmtKO(gifts), 10*time.Second)

	// The herd: minted tokens applying at once through nginx.
	minter, err := stackclient.NewMinter(s.env)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := 0; i < herd; i++ {
		tok, err := minter.Mint(fmt.Sprintf("%s-%02d@example.com", testinfra.UniqueName("herd"), i), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.client.Apply(ctx, tok)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[0]++
				return
			}
			statuses[r.HTTPStatus]++
		}()
	}
	wg.Wait()
	if statuses[202] < gifts {
		t.Fatalf("herd answers %v: want at least %d accepted", statuses, gifts)
	}
	// The figures move on the page, without a reload, to exactly the stock.
	waitExact(t, tab, "#f-winners", fmtKO(target), 30*time.Second)
	waitExact(t, tab, "#f-remaining", "0", 10*time.Second)
	waitExact(t, tab, "#f-soldout", "마감", 10*time.Second)
	waitExact(t, tab, "#f-pending", "0", 30*time.Second)
	peak, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('chart').getAttribute('data-peak-applications') || '0'`))
	if p, _ := strconv.ParseFloat(peak, 64); err != nil || p <= 0 {
		t.Fatalf("the chart saw no applications per second (peak %q, %v)", peak, err)
	}
	screenshot(t, tab, "admin-console")

	// The export, as the console fetches it: every winner once, with a time.
	csv, err := chromedp.Run(tab, chromedp.Evaluate[string](`fetch('/api/admin/event/winners', {headers: {'X-ADMIN-KEY': sessionStorage.getItem('farewell.adminKey')}}).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if lines[0] != "rank,email,decidedAt" || int64(len(lines)-1) != target {
		t.Fatalf("export has %d rows (header %q), want %d winners", len(lines)-1, lines[0], target)
	}
	for _, l := range lines[1:] {
		if f := strings.Split(l, ","); len(f) != 3 || f[2] == "" && strings.Contains(f[1], "herd") {
			t.Fatalf("export row %q: a winner of this herd without its decision time", l)
		}
	}
}

// waitExact waits until the element's text is want.
func waitExact(t *testing.T, tab context.Context, sel, want string, timeout time.Duration) {
	t.Helper()
	waitFor(t, tab, sel, want, timeout, func(got string) bool { return strings.TrimSpace(got) == want })
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, tab context.Context, sel, want string, timeout time.Duration) {
	t.Helper()
	waitFor(t, tab, sel, want, timeout, func(got string) bool { return strings.Contains(got, want) })
}

func waitFor(t *testing.T, tab context.Context, sel, want string, timeout time.Duration, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got string
	for time.Now().Before(deadline) {
		got, _ = chromedp.Run(tab, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(sel)+`) || {}).textContent || ''`))
		if ok(got) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s shows %q after %s, want %q", sel, got, timeout, want)
}

// fmtKO formats n as the console does (ko-KR grouping).
func fmtKO(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
