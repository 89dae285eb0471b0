package browser

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeAPI serves the real page files (deploy/web/) and answers apply with a fixed
// status, code and Retry-After, so each honest screen can be checked.
func fakeAPI(t *testing.T, status int, code, retryAfter string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(filepath.Join(repoRoot(t), "deploy", "web"))))
	ok := func(result string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":200,"code":"OK","message":"ok","result":` + result + `}`))
		}
	}
	mux.HandleFunc("POST /api/auth/send-verification-code", ok(`{}`))
	mux.HandleFunc("POST /api/auth/verify-code", ok(`{"temporaryToken":"t"}`))
	mux.HandleFunc("POST /api/event/apply", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":` + strconv.Itoa(status) + `,"code":"` + code + `","message":"server message"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEveryAnswerHasItsOwnScreen applies on the real page against answers
// the live stack cannot be forced into on demand, and checks each screen says
// what happened: a 503 is "try again in N s", never "sold out".
func TestEveryAnswerHasItsOwnScreen(t *testing.T) {
	skipShort(t)
	chromiumPath(t)
	tests := []struct {
		name       string
		status     int
		code       string
		retryAfter string
		screen     string
		want       []string
		never      []string
		shot       string
	}{
		{name: "503 service busy", status: 503, code: "SERVICE_UNAVAILABLE", retryAfter: "7", screen: "s-busy",
			want: []string{"7초 후에"}, never: []string{"마감", "소진"}, shot: "participant-busy"},
		{name: "502 from nginx", status: 502, code: "BAD_GATEWAY", screen: "s-busy", never: []string{"마감", "소진"}},
		{name: "429 too many requests", status: 429, code: "TOO_MANY_REQUESTS", retryAfter: "3", screen: "s-toomany",
			want: []string{"3초 후에"}, never: []string{"마감"}},
		{name: "409 sold out", status: 409, code: "EVENT_CLOSED", screen: "s-soldout", want: []string{"선착순 마감"}},
		{name: "409 already applied", status: 409, code: "ALREADY_APPLIED", screen: "s-already", want: []string{"이미 응모"}, never: []string{"마감"}},
		{name: "403 not open yet counts down", status: 403, code: "EVENT_NOT_OPEN", retryAfter: "3725", screen: "s-notopen",
			want: []string{"01:02:0"}, never: []string{"마감"}, shot: "participant-countdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := fakeAPI(t, tt.status, tt.code, tt.retryAfter)
			tab := newBrowser(t, phoneWidth, phoneHeight, 40*time.Second)
			do(t, tab, "open the page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("email")))
			fill(t, tab, "#email", "someone@example.com")
			do(t, tab, "send the code", chromedp.Click(chromedp.ID("send-code")))
			waitScreen(t, tab, "s-code", 10*time.Second)
			fill(t, tab, "#code", "123456")
			do(t, tab, "verify", chromedp.Click(chromedp.ID("verify")))
			waitScreen(t, tab, "s-apply", 10*time.Second)
			do(t, tab, "apply", chromedp.Click(chromedp.ID("apply")))
			text := waitScreen(t, tab, tt.screen, 10*time.Second)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("screen %s says %q, want it to contain %q", tt.screen, text, w)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(text, n) {
					t.Errorf("screen %s says %q: it must not contain %q", tt.screen, text, n)
				}
			}
			if tt.shot != "" {
				screenshot(t, tab, tt.shot)
			}
		})
	}
}
