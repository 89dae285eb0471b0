// Command demo runs a small event against the running local stack: it sets a
// stock, mints test tokens for synthetic participants with the local secret,
// fires their applications at nginx all at once (with some duplicates),
// waits until every application is decided and every winner's email is in
// Mailpit, checks the published decision log and every receipt with the
// verifier, and prints a report.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/tools/internal/verify"
)

type options struct {
	participants int
	stock        int64
	duplicates   float64
	concurrency  int
	baseURL      string
	mailpitURL   string
	envFile      string
	timeout      time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.participants, "participants", 3000, "synthetic participants")
	flag.Int64Var(&o.stock, "stock", 100, "gifts to win in this run")
	flag.Float64Var(&o.duplicates, "duplicates", 0.2, "share of participants that apply a second time")
	flag.IntVar(&o.concurrency, "concurrency", 256, "concurrent connections to nginx")
	flag.StringVar(&o.baseURL, "url", localstack.NginxURL, "public entry (nginx)")
	flag.StringVar(&o.mailpitURL, "mailpit", localstack.MailpitURL, "Mailpit HTTP API")
	flag.StringVar(&o.envFile, "env", "", "stack environment file (default: .run/farewell.env)")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	path, err := localstack.FindEnvFile(o.envFile)
	if err != nil {
		return err
	}
	env, err := localstack.LoadEnv(path)
	if err != nil {
		return err
	}
	minter, err := stackclient.NewMinter(env)
	if err != nil {
		return fmt.Errorf("local token settings: %w", err)
	}
	client := stackclient.NewClient(o.baseURL, env["FAREWELL_ADMIN_KEY"], o.concurrency)
	mail := &stackclient.Mailpit{URL: o.mailpitURL, HTTP: client.HTTP}

	before, err := client.Stats(ctx)
	if err != nil {
		return fmt.Errorf("is the stack up (`make run`)? %w", err)
	}
	// The local event keeps earlier runs' winners; stock counts them, so this
	// run can win exactly o.stock more.
	if err := client.SetStock(ctx, before.Winners+o.stock); err != nil {
		return err
	}
	if err := client.OpenWindow(ctx, 24*time.Hour); err != nil {
		return err
	}
	run := fmt.Sprintf("demo%d", time.Now().Unix())
	fmt.Printf("demo %s: %d participants, stock %d, %.0f%% send a duplicate, %d connections to %s\n",
		run, o.participants, o.stock, o.duplicates*100, o.concurrency, o.baseURL)

	now := time.Now()
	type attempt struct{ email, token string }
	var attempts []attempt
	for i := 0; i < o.participants; i++ {
		email := fmt.Sprintf("%s-%05d@demo.farewell.local", run, i)
		tok, err := minter.Mint(email, now)
		if err != nil {
			return err
		}
		attempts = append(attempts, attempt{email, tok})
		if rand.Float64() < o.duplicates {
			attempts = append(attempts, attempt{email, tok})
		}
	}
	rand.Shuffle(len(attempts), func(i, j int) { attempts[i], attempts[j] = attempts[j], attempts[i] })

	// Fire: every worker waits at the gate so the herd starts at once.
	var (
		mu       sync.Mutex
		byCode   = map[string]int{}
		accepted = map[string]bool{}
		receipts []fairlog.Receipt
		done     atomic.Int64
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	gate := make(chan struct{})
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for {
				i := int(next.Add(1)) - 1
				if i >= len(attempts) || ctx.Err() != nil {
					return
				}
				a := attempts[i]
				r, err := client.Apply(ctx, a.token)
				key := fmt.Sprintf("%d %s", r.HTTPStatus, r.Envelope.Code)
				if err != nil {
					key = "transport error"
				}
				mu.Lock()
				byCode[key]++
				if r.HTTPStatus == 202 {
					accepted[a.email] = true
					var res struct {
						Receipt *fairlog.Receipt `json:"receipt"`
					}
					if json.Unmarshal(r.Envelope.Result, &res) == nil && res.Receipt != nil {
						receipts = append(receipts, *res.Receipt)
					}
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	close(gate)
	stopBar := progress("applying", func() (int64, int64) { return done.Load(), int64(len(attempts)) })
	wg.Wait()
	stopBar()
	fireTime := time.Since(start)

	// Wait until every accepted application is decided.
	stopBar = progress("deciding", func() (int64, int64) {
		s, err := client.Stats(ctx)
		if err != nil {
			return 0, int64(len(accepted))
		}
		return (s.Winners + s.Losers) - (before.Winners + before.Losers), int64(len(accepted))
	})
	after, err := waitFor(ctx, func() (stackclient.Stats, bool) {
		s, err := client.Stats(ctx)
		return s, err == nil && (s.Winners+s.Losers)-(before.Winners+before.Losers) >= int64(len(accepted))
	})
	stopBar()
	if err != nil {
		return fmt.Errorf("decisions did not complete: %w", err)
	}
	decidedTime := time.Since(start)
	winners := after.Winners - before.Winners
	losers := after.Losers - before.Losers

	query := "to:" + run
	stopBar = progress("emails", func() (int64, int64) {
		n, _ := mail.Count(ctx, query)
		return int64(n), winners
	})
	_, waitErr := waitFor(ctx, func() (int, bool) {
		n, err := mail.Count(ctx, query)
		return n, err == nil && int64(n) >= winners
	})
	stopBar()
	if waitErr != nil {
		fmt.Fprintln(os.Stderr, "demo: not every winner's email arrived in time")
	}
	// Give duplicates a moment to show up, if there were any.
	time.Sleep(500 * time.Millisecond)
	emails, _ := mail.Count(ctx, query)

	fmt.Println()
	fmt.Printf("participants        %d (attempts %d)\n", o.participants, len(attempts))
	fmt.Printf("accepted (202)      %d\n", len(accepted))
	var keys []string
	for k := range byCode {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-26s %d\n", k, byCode[k])
	}
	fmt.Printf("winners             %d (stock %d)\n", winners, o.stock)
	fmt.Printf("losers              %d\n", losers)
	fmt.Printf("emails delivered    %d\n", emails)
	fmt.Printf("applying took       %s (%.0f req/s)\n", fireTime.Round(time.Millisecond), float64(len(attempts))/fireTime.Seconds())
	fmt.Printf("all decided after   %s\n", decidedTime.Round(time.Millisecond))
	fmt.Printf("elapsed             %s\n", time.Since(start).Round(time.Millisecond))
	want := min(o.stock, int64(len(accepted)))
	if winners != want {
		return fmt.Errorf("winners = %d, want exactly %d", winners, want)
	}
	if int64(emails) != winners {
		return fmt.Errorf("emails = %d, want %d (one per winner)", emails, winners)
	}
	fmt.Println("OK: winners = stock exactly, one email per winner")
	if len(receipts) != len(accepted) {
		return fmt.Errorf("%d receipts for %d accepted applications", len(receipts), len(accepted))
	}
	return verifyLog(ctx, client, o.baseURL, receipts)
}

// verifyLog runs the verifier on the published decision log with every
// receipt of this run, waiting (briefly) for the last batch's entries to
// reach the copy the gateways serve.
func verifyLog(ctx context.Context, client *stackclient.Client, baseURL string, receipts []fairlog.Receipt) error {
	fmt.Println()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev, err := verify.Fetch(ctx, client.HTTP, baseURL)
		if err != nil {
			return fmt.Errorf("fetch the decision log: %w", err)
		}
		rep, err := verify.Check(verify.Input{Log: bytes.NewReader(ev.Log), Keys: ev.Keys, Head: &ev.Head, Receipts: receipts})
		if err != nil {
			return err
		}
		found := 0
		for _, r := range rep.Receipts {
			if r.Found {
				found++
			}
		}
		if (found == len(receipts) && rep.OK()) || !rep.OK() || time.Now().After(deadline) {
			verify.Print(os.Stdout, rep)
			if !rep.OK() {
				return errors.New("the verifier rejected the decision log")
			}
			if found != len(receipts) {
				return fmt.Errorf("%d of %d receipts are not in the decision log", len(receipts)-found, len(receipts))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitFor[T any](ctx context.Context, check func() (T, bool)) (T, error) {
	for {
		v, ok := check()
		if ok {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// progress draws a one-line progress bar on stderr until the returned stop
// function is called.
func progress(label string, read func() (done, total int64)) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	draw := func() {
		d, t := read()
		frac := 0.0
		if t > 0 {
			frac = min(float64(d)/float64(t), 1)
		}
		n := int(frac * 30)
		fmt.Fprintf(os.Stderr, "\r%-9s [%s%s] %d/%d", label, strings.Repeat("#", n), strings.Repeat(".", 30-n), d, t)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				draw()
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(stop); <-finished }
}
