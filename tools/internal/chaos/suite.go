package chaos

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// RunScenario runs one scenario: herd and faults, the retries a client would
// make, the checks, and finally Restore — also when anything failed. An
// error means the stack could not be restored (the suite must stop).
func RunScenario(ctx context.Context, s *Stack, sc Scenario, z Size, limit time.Duration) (Result, error) {
	start := time.Now()
	s.Logf("=== %s: %s", sc.Name, sc.Summary)
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res := Result{Scenario: sc.Name}
	r, err := sc.Run(sctx, s, z)
	if r != nil && err == nil {
		err = r.RetryUnanswered(sctx)
	}
	if r != nil {
		res = r.Verify(sctx)
		if r.AfterVerify != nil {
			actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			if err := r.AfterVerify(actx); err != nil {
				res.Violations = append(res.Violations, "repair after the checks failed: "+err.Error())
			}
			acancel()
		}
	}
	if err != nil {
		res.Err = err
	}
	// Restore with a context of its own: the scenario's may have ended.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer rcancel()
	restoreErr := s.Restore(rctx)
	res.Duration = time.Since(start)
	if restoreErr != nil {
		res.Violations = append(res.Violations, restoreErr.Error())
		return res, restoreErr
	}
	verdict := "PASS"
	if !res.Passed() {
		verdict = "FAIL"
	}
	s.Logf("=== %s: %s in %s", sc.Name, verdict, res.Duration.Round(time.Second))
	return res, nil
}

// RunSuite runs the scenarios in order under the caller's lock, stopping
// early only if the stack cannot be restored or ctx ends.
func RunSuite(ctx context.Context, s *Stack, scs []Scenario, z Size, limit time.Duration) []Result {
	var out []Result
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		res, err := RunScenario(ctx, s, sc, z, limit)
		out = append(out, res)
		if err != nil {
			s.Logf("stopping: %v", err)
			break
		}
	}
	return out
}

// WriteTable prints the results as a table, then every violation and note.
func WriteTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\t202s\t409s\t503s\tother\twinners\texpected\tdup emails\trecovery\tresult\t")
	for _, r := range results {
		verdict := "PASS"
		if !r.Passed() {
			verdict = "FAIL"
		}
		rec := r.Recovery.Round(100 * time.Millisecond).String()
		if !r.Settled {
			rec = ">" + rec
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Scenario, r.Requests, r.Accepted, r.Conflicts,
			r.Unavailable, r.Other, r.Winners, r.Expected, r.DupEmails, rec, verdict)
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Err == nil && len(r.Violations) == 0 && len(r.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", r.Scenario, r.Duration.Round(time.Second))
		if r.Err != nil {
			fmt.Fprintf(w, "  ERROR     %v\n", indent(r.Err.Error()))
		}
		for _, v := range r.Violations {
			fmt.Fprintf(w, "  VIOLATION %s\n", indent(v))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note      %s\n", indent(n))
		}
	}
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n            ") }
