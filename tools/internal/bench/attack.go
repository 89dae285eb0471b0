package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Attempt is one request of a herd: who sends it and with which token.
type Attempt struct {
	Email string
	Token string
	// Invalid marks a deliberately broken token (the answer should be 401).
	Invalid bool
}

// Outcome is one answered (or failed) request, kept small: a herd has 10^5.
type Outcome struct {
	Start   time.Duration // since the attack began
	Latency time.Duration
	Status  int    // HTTP status, 0 on a transport error
	Code    string // the envelope's code, or the transport error
	Attempt int32  // index into the attempts
}

// End is when the answer arrived, since the attack began.
func (o Outcome) End() time.Duration { return o.Start + o.Latency }

// countPacer fires n hits as fast as the workers take them, then stops. With
// as many workers as connections, that is a closed-loop herd: every connection
// sends its next request the moment its previous answer arrives.
type countPacer struct{ n uint64 }

func (p countPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= p.n
}

func (p countPacer) Rate(time.Duration) float64 { return 0 }

var _ vegeta.Pacer = countPacer{}

// attackIndexParam carries the attempt's index in the URL's query, so each
// result maps back to its participant (nginx routes and logs the path only).
const attackIndexParam = "bench_i"

// Attack sends every attempt once to baseURL+path over conns keep-alive
// connections, all workers starting at once, and returns the outcomes and the
// moment the attack began.
func Attack(ctx context.Context, baseURL, path string, attempts []Attempt, conns int, timeout time.Duration) ([]Outcome, time.Time, error) {
	targets := make([]vegeta.Target, len(attempts))
	for i, a := range attempts {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+a.Token)
		targets[i] = vegeta.Target{
			Method: http.MethodPost,
			URL:    baseURL + path + "?" + attackIndexParam + "=" + strconv.Itoa(i),
			Header: h,
		}
	}
	var next atomic.Int64
	targeter := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		if i >= int64(len(targets)) {
			return vegeta.ErrNoTargets
		}
		*t = targets[i]
		return nil
	}

	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	attacker := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport, Timeout: timeout}),
		vegeta.Workers(uint64(conns)),
		vegeta.MaxWorkers(uint64(conns)),
		vegeta.MaxBody(1024),
		vegeta.Redirects(vegeta.NoFollow),
	)
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()

	began := time.Now()
	out := make([]Outcome, 0, len(attempts))
	for r := range attacker.Attack(targeter, countPacer{n: uint64(len(attempts))}, 0, "") {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue
		}
		out = append(out, toOutcome(r, began))
	}
	if err := ctx.Err(); err != nil {
		return out, began, fmt.Errorf("attack interrupted after %d of %d requests: %w", len(out), len(attempts), err)
	}
	return out, began, nil
}

func toOutcome(r *vegeta.Result, began time.Time) Outcome {
	o := Outcome{
		Start:   r.Timestamp.Sub(began),
		Latency: r.Latency,
		Status:  int(r.Code),
		Attempt: -1,
	}
	if _, q, ok := strings.Cut(r.URL, attackIndexParam+"="); ok {
		if i, err := strconv.Atoi(q); err == nil {
			o.Attempt = int32(i)
		}
	}
	switch {
	case r.Code == 0:
		o.Code = "transport: " + shortError(r.Error)
	default:
		o.Code = envelopeCode(r.Body)
	}
	return o
}

// envelopeCode pulls "code" out of the JSON envelope without a full decode.
func envelopeCode(body []byte) string {
	key := []byte(`"code":"`)
	i := bytes.Index(body, key)
	if i < 0 {
		return "NON_JSON"
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "NON_JSON"
	}
	return internCode(rest[:j])
}

// internCode avoids one string allocation per result for the few codes there are.
var knownCodes = []string{"OK", "EVENT_CLOSED", "ALREADY_APPLIED", "EVENT_NOT_OPEN", "INVALID_TOKEN",
	"UNAUTHORIZED", "TOO_MANY_REQUESTS", "SERVICE_UNAVAILABLE", "BAD_GATEWAY", "GATEWAY_TIMEOUT"}

func internCode(b []byte) string {
	for _, c := range knownCodes {
		if string(b) == c {
			return c
		}
	}
	return string(b)
}

// shortError keeps the end of a transport error ("connection reset by peer").
func shortError(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
