package browser

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// TestParticipantJourneyOnOurPage walks the whole journey on the page nginx
// serves at /: email, the code from the real email, verify, apply, and the
// live result without a reload, ending on SUCCESS.
func TestParticipantJourneyOnOurPage(t *testing.T) {
	skipShort(t)
	s := newStack(t)
	ctx := context.Background()
	before, err := s.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One gift left for this participant, and the window open.
	if err := s.client.SetStock(ctx, before.Winners+1); err != nil {
		t.Fatal(err)
	}
	if err := s.client.OpenWindow(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	tab := newBrowser(t, phoneWidth, phoneHeight, 90*time.Second)
	me := testinfra.UniqueName("browser-") + "@example.com"

	do(t, tab, "open the page", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.ID("email")))
	// A malformed address is refused on the page, before any request.
	fill(t, tab, "#email", "not-an-email")
	do(t, tab, "submit a bad email", chromedp.Click(chromedp.ID("send-code")))
	if msg, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("email-error"))); !strings.Contains(msg, "올바른 이메일") {
		t.Fatalf("bad email: the page says %q", msg)
	}
	fill(t, tab, "#email", me)
	screenshot(t, tab, "participant-email")
	// Keyboard only: Enter submits the form.
	do(t, tab, "send the code", chromedp.SendKeys(chromedp.ID("email"), "\r"))
	waitScreen(t, tab, "s-code", 15*time.Second)
	// The resend cooldown that auth enforces is shown, and the button waits.
	note, _ := chromedp.Run(tab, chromedp.Text(chromedp.ID("resend-note")))
	disabled, _ := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById('resend').disabled`))
	if !strings.Contains(note, "초 후에") || !disabled {
		t.Fatalf("resend cooldown: note %q, button disabled %v", note, disabled)
	}

	code := s.codeFor(t, me)
	fill(t, tab, "#code", code)
	do(t, tab, "verify", chromedp.Click(chromedp.ID("verify")))
	waitScreen(t, tab, "s-apply", 15*time.Second)
	focused, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.activeElement.closest('section') ? document.activeElement.closest('section').id : ''`))
	if focused != "s-apply" {
		t.Fatalf("focus after verify is in %q, want the apply screen", focused)
	}

	do(t, tab, "apply", chromedp.Click(chromedp.ID("apply")))
	// PENDING may be too short to see; the result must come without a reload.
	text := waitScreen(t, tab, "s-success", 45*time.Second)
	if !strings.Contains(text, "당첨되었습니다") {
		t.Fatalf("success screen says %q", text)
	}
	screenshot(t, tab, "participant-success")
	after, err := s.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Winners != before.Winners+1 {
		t.Fatalf("winners %d → %d, want one more", before.Winners, after.Winners)
	}
	// The signed receipt of the 202 is shown with the winner's rank, offered
	// as a file, and the verifier's instructions are linked.
	type receiptBlock struct {
		Hidden bool   `json:"hidden"`
		Place  string `json:"place"`
		Rank   string `json:"rank"`
		Saved  string `json:"saved"`
		Guide  bool   `json:"guide"`
	}
	shown, err := chromedp.Run(tab, chromedp.Evaluate[receiptBlock](`({hidden: document.getElementById('receipt').hidden,
		place: document.getElementById('receipt-place').textContent,
		rank: document.getElementById('receipt-rank').textContent,
		saved: decodeURIComponent(document.getElementById('receipt-save').href),
		guide: !!document.querySelector('#receipt a[href="/fairness.html"]')})`))
	if err != nil {
		t.Fatal(err)
	}
	if shown.Hidden || !strings.Contains(shown.Place, "offset") || shown.Rank != fmt.Sprintf("%d위", after.Winners) ||
		!strings.Contains(shown.Saved, `"sig":`) || !shown.Guide {
		t.Fatalf("receipt block = %+v; want it shown with the place, rank %d, the saved receipt and the guide link", shown, after.Winners)
	}
}
