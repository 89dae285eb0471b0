package browser

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// frontendPage calls the API the way the event's existing frontend does
// (seed frontend contract): mode cors, credentials omit, Content-Type and
// Accept JSON, the stray Access-Control-Allow-Origin: * request header, and
// Authorization where a token is used. A call the browser blocks comes back
// as {blocked: true}.
const frontendPage = `<!doctype html><html><head><meta charset="utf-8"><title>frontend</title></head><body>
<script>
window.call = async function (api, method, path, body, token) {
  const headers = {'Content-Type': 'application/json', 'Accept': 'application/json', 'Access-Control-Allow-Origin': '*'};
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const opts = {method: method, mode: 'cors', credentials: 'omit', headers: headers};
  if (body !== undefined && body !== null) opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    const res = await fetch(api + path, opts);
    const json = await res.json();
    return {blocked: false, status: res.status, message: json.message || '', token: (json.result && json.result.temporaryToken) || '',
            retryAfter: res.headers.get('Retry-After') || ''};
  } catch (e) {
    return {blocked: true, error: String(e)};
  }
};
</script></body></html>`

type callResult struct {
	Blocked    bool   `json:"blocked"`
	Error      string `json:"error"`
	Status     int    `json:"status"`
	Message    string `json:"message"`
	Token      string `json:"token"`
	RetryAfter string `json:"retryAfter"`
}

// serveFrontend serves frontendPage on addr (a second loopback origin).
func serveFrontend(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s for the frontend origin: %v", addr, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(frontendPage))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + addr
}

func frontendCall(t *testing.T, tab context.Context, api, method, path, bodyJS, token string) callResult {
	t.Helper()
	if bodyJS == "" {
		bodyJS = "null"
	}
	expr := `call(` + jsString(api) + `, ` + jsString(method) + `, ` + jsString(path) + `, ` + bodyJS + `, ` + jsString(token) + `)`
	r, err := chromedp.Run(tab, chromedp.Evaluate[callResult](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s %s from the frontend page: %v", method, path, err)
	}
	return r
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestExistingFrontendFromItsOrigin completes send-code → verify → apply from
// http://127.0.0.1:5173 exactly as the existing frontend calls the API, and
// reads the JSON message of errors (the services' 409 and nginx's own 413).
func TestExistingFrontendFromItsOrigin(t *testing.T) {
	skipShort(t)
	s := newStack(t)
	ctx := context.Background()
	before, err := s.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Room for two winners: after sell-out the gateway answers EVENT_CLOSED
	// before it looks for an earlier application (design rule 7), so with
	// room for only this participant the second apply below could race the
	// decision of the first and read "sold out" instead of "already applied".
	if err := s.client.SetStock(ctx, before.Winners+2); err != nil {
		t.Fatal(err)
	}
	if err := s.client.OpenWindow(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	origin := serveFrontend(t, "127.0.0.1:5173")
	tab := newBrowser(t, laptopWidth, laptopHeight, 60*time.Second)
	do(t, tab, "open the frontend page", chromedp.Navigate(origin+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	me := testinfra.UniqueName("frontend-") + "@example.com"

	r := frontendCall(t, tab, s.base, "POST", "/api/auth/send-verification-code", `{email: '`+me+`'}`, "")
	if r.Blocked || r.Status != 200 {
		t.Fatalf("send-code from %s: %+v", origin, r)
	}
	code := s.codeFor(t, me)
	r = frontendCall(t, tab, s.base, "POST", "/api/auth/verify-code", `{email: '`+me+`', code: '`+code+`'}`, "")
	if r.Blocked || r.Status != 200 || r.Token == "" {
		t.Fatalf("verify from %s: %+v", origin, r)
	}
	tok := r.Token
	r = frontendCall(t, tab, s.base, "POST", "/api/event/apply", "", tok)
	if r.Blocked || r.Status != 202 {
		t.Fatalf("apply from %s: %+v", origin, r)
	}
	// The page must be able to read an error's message: that is how it tells
	// "already applied" from "sold out".
	r = frontendCall(t, tab, s.base, "POST", "/api/event/apply", "", tok)
	if r.Blocked || r.Status != 409 || !strings.Contains(r.Message, "already applied") {
		t.Fatalf("second apply from %s: %+v", origin, r)
	}
	// nginx's own error page carries the headers too.
	r = frontendCall(t, tab, s.base, "POST", "/api/auth/send-verification-code", `'x'.repeat(20000)`, "")
	if r.Blocked || r.Status != 413 || r.Message == "" {
		t.Fatalf("oversized body from %s: %+v", origin, r)
	}
	// The status call the frontend declares works too.
	r = frontendCall(t, tab, s.base, "GET", "/api/event/status", "", tok)
	if r.Blocked || r.Status != 200 {
		t.Fatalf("status from %s: %+v", origin, r)
	}
}

// TestDisallowedOriginIsBlocked calls from http://127.0.0.1:5174, not in the
// list: the browser must refuse the call, and no code may be sent.
func TestDisallowedOriginIsBlocked(t *testing.T) {
	skipShort(t)
	s := newStack(t)
	origin := serveFrontend(t, "127.0.0.1:5174")
	tab := newBrowser(t, laptopWidth, laptopHeight, 60*time.Second)
	do(t, tab, "open the frontend page", chromedp.Navigate(origin+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	me := testinfra.UniqueName("stranger-") + "@example.com"
	r := frontendCall(t, tab, s.base, "POST", "/api/auth/send-verification-code", `{email: '`+me+`'}`, "")
	if !r.Blocked {
		t.Fatalf("a call from %s was allowed: %+v", origin, r)
	}
	// The preflight failed, so the request itself never left the browser.
	time.Sleep(2 * time.Second)
	if got, err := s.mailpit.Search(context.Background(), `to:"`+me+`"`); err != nil || len(got) != 0 {
		t.Fatalf("a blocked origin still got a code sent (%d emails, %v)", len(got), err)
	}
}

// TestCORSHeadersAreExact checks, below the browser, what nginx answers a
// listed and an unlisted origin: the listed origin echoed (never *), Vary:
// Origin on every answer, errors and nginx's own pages included, and no
// Access-Control-* header at all for an unlisted origin.
func TestCORSHeadersAreExact(t *testing.T) {
	skipShort(t)
	s := newStack(t)
	big := strings.Repeat("x", 20000)
	requests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}{
		{name: "preflight apply", method: "OPTIONS", path: "/api/event/apply", status: 204, header: map[string]string{
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "access-control-allow-origin,authorization,content-type"}},
		{name: "preflight admin", method: "OPTIONS", path: "/api/admin/event/stock", status: 204, header: map[string]string{
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-admin-key"}},
		{name: "401 from the gateway", method: "POST", path: "/api/event/apply", status: 401},
		{name: "403 from the admin API", method: "GET", path: "/api/admin/event", status: 403, header: map[string]string{"X-ADMIN-KEY": "wrong"}},
		{name: "413 from nginx", method: "POST", path: "/api/auth/send-verification-code", body: big, status: 413},
		{name: "502 from nginx", method: "GET", path: "/bench/bare", status: 502},
	}
	for _, origin := range []string{"http://127.0.0.1:5173", "http://localhost:5173", "http://127.0.0.1:5174"} {
		allowed := !strings.HasSuffix(origin, ":5174")
		for _, rq := range requests {
			t.Run(origin+" "+rq.name, func(t *testing.T) {
				req, _ := http.NewRequest(rq.method, s.base+rq.path, strings.NewReader(rq.body))
				req.Header.Set("Origin", origin)
				req.Header.Set("Content-Type", "application/json")
				for k, v := range rq.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != rq.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, rq.status)
				}
				if v := resp.Header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
					t.Fatalf("Vary = %q, want Origin", v)
				}
				acao := resp.Header.Values("Access-Control-Allow-Origin")
				if !allowed {
					for k := range resp.Header {
						if strings.HasPrefix(k, "Access-Control-") {
							t.Fatalf("unlisted origin got %s: %q", k, resp.Header.Get(k))
						}
					}
					return
				}
				if len(acao) != 1 || acao[0] != origin {
					t.Fatalf("Access-Control-Allow-Origin = %q, want exactly %q", acao, origin)
				}
				if rq.method == "OPTIONS" {
					h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
					for _, want := range []string{"content-type", "accept", "authorization", "access-control-allow-origin"} {
						if !strings.Contains(h, want) {
							t.Fatalf("Access-Control-Allow-Headers = %q, missing %s", h, want)
						}
					}
					if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") || !strings.Contains(m, "GET") {
						t.Fatalf("Access-Control-Allow-Methods = %q", m)
					}
				} else if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
					t.Fatalf("Access-Control-Expose-Headers = %q, want Retry-After", resp.Header.Get("Access-Control-Expose-Headers"))
				}
			})
		}
	}
}
