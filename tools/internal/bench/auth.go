package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// The auth herd's two phases: every participant asks for a code at once,
// then, once the codes are in Mailpit, every participant verifies its code.
const (
	AuthCodesPath  = "/api/auth/send-verification-code"
	AuthVerifyPath = "/api/auth/verify-code"
)

// authRound is what auth-codes leaves for auth-verify: who asked, and the
// code each of them found in Mailpit.
type authRound struct {
	run    int
	emails []string
	codes  map[string]string
}

// authSource is the loopback address worker w of run sends from. auth limits
// code requests per client IP, and nginx names the client by its address, so
// a herd of participants from one address would be refused as one abusive
// client; every worker gets its own address on 127.0.0.0/8 instead (each
// run its own /16, so the per-IP windows of earlier runs do not count).
func authSource(run, w int) net.IP {
	return net.IPv4(127, byte(20+run%200), byte(w/200), byte(w%200+1))
}

// PoolAttack sends one POST per body to url over conns connections, worker w
// sending the bodies w, w+conns, w+2·conns, … one after the other (closed
// loop, all workers starting at once), from authSource(run, w) when spread
// (else from 127.0.0.1). It returns the outcomes (Attempt = the body's
// index) and when the attack began.
func PoolAttack(ctx context.Context, url string, bodies [][]byte, conns, run int, spread bool, timeout time.Duration) ([]Outcome, time.Time, error) {
	out := make([]Outcome, len(bodies))
	start := make(chan struct{})
	var wg sync.WaitGroup
	var began time.Time
	for w := 0; w < conns && w < len(bodies); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			if spread {
				dialer.LocalAddr = &net.TCPAddr{IP: authSource(run, w)}
			}
			tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: timeout}
			<-start
			for i := w; i < len(bodies); i += conns {
				if ctx.Err() != nil {
					return
				}
				out[i] = post(ctx, client, url, bodies[i], began, i)
			}
		}()
	}
	began = time.Now()
	close(start)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, began, fmt.Errorf("attack interrupted: %w", err)
	}
	return out, began, nil
}

func post(ctx context.Context, client *http.Client, url string, body []byte, began time.Time, i int) Outcome {
	t0 := time.Now()
	o := Outcome{Start: t0.Sub(began), Attempt: int32(i)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		o.Code = "transport: " + shortError(err.Error())
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		o.Latency = time.Since(t0)
		o.Code = "transport: " + shortError(err.Error())
		return o
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o.Latency = time.Since(t0)
	o.Status = resp.StatusCode
	o.Code = envelopeCode(raw)
	if resp.StatusCode == http.StatusOK && strings.Contains(string(raw), `"temporaryToken":"`) {
		o.Code = "TOKEN"
	}
	return o
}

// runAuth runs one phase of the auth herd (or its ceiling, against the bare
// handler with the same bodies and source addresses) and fills res.
func runAuth(ctx context.Context, st *Stack, s Scenario, run int, prefix string, res *Result) (time.Time, error) {
	var bodies [][]byte
	var attempts []Attempt
	round := st.codes
	switch {
	case s.Path == AuthVerifyPath && !s.Bare():
		if round == nil || round.run != run || len(round.codes) == 0 {
			return time.Time{}, fmt.Errorf("%s needs auth-codes earlier in the same run (and its codes in Mailpit)", s.Name)
		}
		for _, e := range round.emails {
			if code, ok := round.codes[e]; ok {
				b, _ := json.Marshal(map[string]string{"email": e, "code": code})
				bodies = append(bodies, b)
				attempts = append(attempts, Attempt{Email: e})
			}
		}
		if n := len(round.emails) - len(bodies); n > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%d participants had no code in Mailpit and were left out", n))
		}
	default:
		for i := 0; i < s.Participants; i++ {
			e := fmt.Sprintf("%s-%06d@bench.farewell.local", prefix, i)
			b, _ := json.Marshal(map[string]string{"email": e})
			bodies = append(bodies, b)
			attempts = append(attempts, Attempt{Email: e})
		}
	}
	res.Requests = len(bodies)
	target := s.Base(st) + s.Path
	fmt.Fprintf(st.Log, "  %-5s %d requests over %d connections (one loopback address each) -> %s\n", s.Name, len(bodies), s.Conns, target)
	// nginx lets only the admin allow-list (127.0.0.1) reach the bare
	// handler, so the ceiling's connections all come from there: the same
	// connections and bodies, one address.
	outcomes, began, err := PoolAttack(ctx, target, bodies, s.Conns, run, !s.Bare(), st.RequestTimeout)
	if err != nil {
		return began, err
	}
	summarizeOutcomes(res, s, attempts, outcomes)
	fmt.Fprintf(st.Log, "        answered in %s: %.0f req/s, p99 %s, %v\n",
		res.Elapsed.Round(time.Millisecond), res.Throughput, res.P99.Round(100*time.Microsecond), res.ByStatus)
	for _, o := range outcomes {
		if o.Code == "TOKEN" {
			res.AuthTokens++
		}
	}
	if s.Path != AuthCodesPath || s.Bare() {
		return began, nil
	}

	// The codes' emails: wait for one per participant, then read the
	// arrival times and the codes.
	sent := map[string]time.Time{}
	for _, o := range outcomes {
		if o.Status == http.StatusOK {
			sent[attempts[o.Attempt].Email] = began.Add(o.Start)
		}
	}
	st.codes = &authRound{run: run, codes: map[string]string{}}
	for _, a := range attempts {
		if _, ok := sent[a.Email]; ok {
			st.codes.emails = append(st.codes.emails, a.Email)
		}
	}
	mail := MailpitSearch{URL: st.Mailpit.URL, HTTP: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(st.EmailWait)
	query := "to:" + prefix
	for {
		n, _, err := mail.Newest(ctx, query)
		if err == nil && n >= len(sent) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("only %d of %d code emails in Mailpit %s after the last answer", n, len(sent), st.EmailWait))
			break
		}
		sleep(ctx, sampleEvery)
	}
	msgs, err := mail.Codes(ctx, query)
	if err != nil {
		res.Notes = append(res.Notes, "read code emails: "+err.Error())
		return began, nil
	}
	var lat []time.Duration
	var last time.Time
	// Pages are newest first: a message that arrives while they are read
	// shifts the next page, so one message can be listed twice.
	seen := map[string]bool{}
	var twice []string
	for _, m := range msgs {
		t0, ok := sent[m.To]
		if !ok || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		if _, dup := st.codes.codes[m.To]; dup {
			twice = append(twice, m.To)
			continue
		}
		st.codes.codes[m.To] = m.Code
		lat = append(lat, m.Created.Sub(t0))
		if m.Created.After(last) {
			last = m.Created
		}
	}
	if note := twiceNote(twice); note != "" {
		res.Notes = append(res.Notes, note)
	}
	res.AuthEmails = len(lat)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.AuthEmailP50, res.AuthEmailP95 = quantile(lat, 0.5), quantile(lat, 0.95)
	if len(lat) > 0 {
		res.AuthEmailMax = lat[len(lat)-1]
		if span := last.Sub(began); span > 0 {
			res.AuthEmailRate = float64(len(lat)) / span.Seconds()
		}
	}
	fmt.Fprintf(st.Log, "        %d code emails in Mailpit, %.0f/s, request → arrival p95 %s\n",
		res.AuthEmails, res.AuthEmailRate, res.AuthEmailP95.Round(time.Millisecond))
	return began, nil
}

// CodeEmail is one verification-code email in Mailpit.
type CodeEmail struct {
	ID      string
	To      string
	Code    string
	Created time.Time
}

// Codes returns every message matching query with its recipient, receive
// time and the code it carries (from the snippet, or the text if the snippet
// is cut before the code).
func (m MailpitSearch) Codes(ctx context.Context, query string) ([]CodeEmail, error) {
	var out []CodeEmail
	const page = 1000
	for start := 0; ; start += page {
		u := fmt.Sprintf("%s/api/v1/search?limit=%d&start=%d&query=%s", m.URL, page, start, url.QueryEscape(query))
		var body struct {
			Total    int `json:"messages_count"`
			Messages []struct {
				ID      string    `json:"ID"`
				Created time.Time `json:"Created"`
				To      []struct {
					Address string `json:"Address"`
				} `json:"To"`
				Snippet string `json:"Snippet"`
			} `json:"messages"`
		}
		if err := m.getJSON(ctx, u, &body); err != nil {
			return nil, err
		}
		for _, msg := range body.Messages {
			if len(msg.To) == 0 {
				continue
			}
			code := codeIn(msg.Snippet)
			if code == "" {
				var full struct {
					Text string `json:"Text"`
				}
				if err := m.getJSON(ctx, m.URL+"/api/v1/message/"+msg.ID, &full); err != nil {
					return nil, err
				}
				code = codeIn(full.Text)
			}
			out = append(out, CodeEmail{ID: msg.ID, To: msg.To[0].Address, Code: code, Created: msg.Created})
		}
		if len(body.Messages) < page || start+page >= body.Total {
			return out, nil
		}
	}
}

func (m MailpitSearch) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	return nil
}

// codeIn finds the code in a code email: the digits after "인증 코드:"
// (the text's own line), or, in Mailpit's snippet, which runs the lines
// together and leaves that label out ("… 알려 드립니다. 435456 이 코드는 …"),
// the first word of exactly six digits. Reading the code from the snippet
// spares one request per email, which on a loaded machine took long enough
// for codes to expire before the verify phase.
func codeIn(text string) string {
	const label = "인증 코드:"
	if i := strings.Index(text, label); i >= 0 {
		rest := strings.TrimLeft(text[i+len(label):], " ")
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n < 4 {
			return ""
		}
		return rest[:n]
	}
	for _, w := range strings.Fields(text) {
		if len(w) == 6 && strings.Trim(w, "0123456789") == "" {
			return w
		}
	}
	return ""
}

// twiceNote says how many participants got a second code email, naming the
// first few (a results table has no room for thousands of addresses).
func twiceNote(addrs []string) string {
	const named = 3
	switch {
	case len(addrs) == 0:
		return ""
	case len(addrs) <= named:
		return fmt.Sprintf("%d participants got two code emails: %s", len(addrs), strings.Join(addrs, ", "))
	default:
		return fmt.Sprintf("%d participants got two code emails (first: %s, …)", len(addrs), strings.Join(addrs[:named], ", "))
	}
}
