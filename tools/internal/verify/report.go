package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// Print writes the report for a person.
func Print(w io.Writer, r Report) {
	fmt.Fprintf(w, "event        %s\n", r.Event)
	fmt.Fprintf(w, "entries      %d (head %s, frozen %v)\n", r.Entries, r.Head, r.Frozen)
	fmt.Fprintf(w, "decisions    %d: %d won, %d lost; last stock %d (%d stock-seen entries, %d late decisions)\n",
		r.Decisions, r.Winners, r.Losers, r.Stock, r.StockSeen, r.Late)
	mode := "strict first-come-first-served replay (one partition: the log order is the arrival order)"
	if !r.Strict {
		mode = fmt.Sprintf("per-partition order and counts only (%d partitions: order between partitions is not checked)", len(r.Partitions))
	}
	fmt.Fprintf(w, "checked      hash chain, signatures, %s\n", mode)
	found := 0
	for _, rr := range r.Receipts {
		if rr.Found {
			found++
		}
	}
	if len(r.Receipts) > 1 {
		fmt.Fprintf(w, "receipts     %d checked, %d in the log\n", len(r.Receipts), found)
	}
	if len(r.Receipts) == 1 {
		rr := r.Receipts[0]
		switch {
		case rr.Found:
			fmt.Fprintf(w, "receipt      in the log at entry %d: %s", rr.Seq, rr.Status)
			if rr.Status == "SUCCESS" {
				fmt.Fprintf(w, ", rank %d", rr.Rank)
			}
			fmt.Fprintf(w, "; place in line %d\n", rr.Place)
		default:
			fmt.Fprintln(w, "receipt      not decided yet (not in the log)")
		}
	}
	if r.OK() {
		fmt.Fprintln(w, "OK: every check passed")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem(s)\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  "+p.String())
	}
}

// Save writes the evidence into dir as log.ndjson, head.json and keys.json,
// the files the verifier reads back with -log, -head and -keys.
func Save(dir string, ev Evidence) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	head, err := json.MarshalIndent(ev.Head, "", "  ")
	if err != nil {
		return err
	}
	keys, err := json.MarshalIndent(ev.JWKS, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"log.ndjson": ev.Log, "head.json": head, "keys.json": keys} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReadHead reads a saved head.
func ReadHead(path string) (fairlog.Head, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fairlog.Head{}, err
	}
	var h fairlog.Head
	if err := json.Unmarshal(b, &h); err != nil {
		return fairlog.Head{}, fmt.Errorf("read head: %w", err)
	}
	return h, nil
}
