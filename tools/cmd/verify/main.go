// Command verify (farewell-verify) checks an event's fairness evidence:
// the decision log's hash chain and signed head, first-come-first-served
// replayed over the logged decisions and stock changes, and optionally a
// participant's receipt. Give it the files (-log, -keys, -head, -receipt)
// or a gateway to fetch them from (-url). It exits 0 when every check
// passed, 1 when one failed, 2 when it could not run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/tools/internal/verify"
)

type options struct {
	url, logFile, keysFile, headFile, receiptFile, saveDir string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "fetch log, head and keys from this gateway or nginx (e.g. http://localhost:8080)")
	flag.StringVar(&o.logFile, "log", "", "the exported log (newline-delimited JSON)")
	flag.StringVar(&o.keysFile, "keys", "", "the public keys (JSON from GET /api/event/keys)")
	flag.StringVar(&o.headFile, "head", "", "the signed head (JSON from GET /api/event/log/head; optional)")
	flag.StringVar(&o.receiptFile, "receipt", "", "a participant's receipt, or the 202 answer holding it (optional)")
	flag.StringVar(&o.saveDir, "save", "", "with -url: also write log.ndjson, head.json and keys.json here")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		os.Exit(2)
	}
	verify.Print(os.Stdout, rep)
	if !rep.OK() {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (verify.Report, error) {
	var in verify.Input
	switch {
	case o.url != "":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		ev, err := verify.Fetch(ctx, &http.Client{}, o.url)
		if err != nil {
			return verify.Report{}, err
		}
		if o.saveDir != "" {
			if err := verify.Save(o.saveDir, ev); err != nil {
				return verify.Report{}, err
			}
		}
		in = verify.Input{Log: bytes.NewReader(ev.Log), Keys: ev.Keys, Head: &ev.Head}
	case o.logFile != "" && o.keysFile != "":
		logFile, err := os.Open(o.logFile)
		if err != nil {
			return verify.Report{}, err
		}
		defer logFile.Close()
		kb, err := os.ReadFile(o.keysFile)
		if err != nil {
			return verify.Report{}, err
		}
		keys, err := verify.ParseKeys(kb)
		if err != nil {
			return verify.Report{}, err
		}
		in = verify.Input{Log: logFile, Keys: keys}
		if o.headFile != "" {
			h, err := verify.ReadHead(o.headFile)
			if err != nil {
				return verify.Report{}, err
			}
			in.Head = &h
		}
	default:
		return verify.Report{}, fmt.Errorf("give -url, or -log and -keys")
	}
	if o.receiptFile != "" {
		b, err := os.ReadFile(o.receiptFile)
		if err != nil {
			return verify.Report{}, err
		}
		r, err := verify.ParseReceipt(b)
		if err != nil {
			return verify.Report{}, err
		}
		in.Receipts = []fairlog.Receipt{r}
	}
	return verify.Check(in)
}
