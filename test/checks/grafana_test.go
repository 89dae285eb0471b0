package checks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestGrafanaDashboardCoversTheEvent checks the provisioned dashboard parses and charts what
// an operator watches during the event.
func TestGrafanaDashboardCoversTheEvent(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/grafana/dashboards/farewell.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("farewell.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Fatal("dashboard needs a uid and a title")
	}
	exprs := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			exprs[target.Expr] = true
		}
	}
	all := ""
	for e := range exprs {
		all += e + "\n"
	}
	for _, metric := range []string{
		"farewell_applications_total", "farewell_decisions_total", "farewell_stock_remaining",
		"farewell_notifier_emails_sent_total", "farewell_kafka_consumer_lag", "farewell_http_request_duration_seconds_bucket",
		"histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,",
	} {
		if !strings.Contains(all, metric) {
			t.Errorf("no panel queries %s", metric)
		}
	}
}
