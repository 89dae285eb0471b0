package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// pprofEnabled reports whether the service serves /debug/pprof (it does when
// started with FAREWELL_PPROF=true).
func pprofEnabled(ctx context.Context, baseURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/debug/pprof/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// captureProfile saves /debug/pprof/<what> (e.g. "profile?seconds=8",
// "heap") into file; seconds is how long the service takes to answer.
func captureProfile(ctx context.Context, baseURL, what, file string, seconds int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+15)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PprofTop runs `go tool pprof -top` on a profile and returns its first
// lines (heap profiles: in-use bytes).
func PprofTop(ctx context.Context, file string, lines int) (string, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=40"}
	if strings.HasSuffix(file, ".heap.pprof") {
		args = append(args, "-sample_index=inuse_space")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, file)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w: %s", err, out)
	}
	all := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(all[:min(lines, len(all))], "\n"), nil
}

// PprofTopCum is PprofTop sorted by cumulative time: which call paths cost most.
func PprofTopCum(ctx context.Context, file string, lines int) (string, error) {
	args := []string{"tool", "pprof", "-top", "-cum", "-nodecount=60"}
	if strings.HasSuffix(file, ".heap.pprof") {
		args = append(args, "-sample_index=inuse_space")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, file)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w: %s", err, out)
	}
	all := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(all[:min(lines, len(all))], "\n"), nil
}
