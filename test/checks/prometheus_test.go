package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrometheusRulesAndConfig(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy/prometheus")
	tests := []struct {
		name string
		args []string
	}{
		{"check rules", []string{"check", "rules", "alerts.yml"}},
		{"rule unit tests", []string{"test", "rules", "alerts_test.yml"}},
		{"check config", []string{"check", "config", "prometheus.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Promtool(promtool, dir, tt.args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAlertsCoverTheDesign names the alerts operators rely on (docs/operate.md).
func TestAlertsCoverTheDesign(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, alert := range []string{"FarewellServiceDown", "FarewellHigh5xxRatio", "FarewellKafkaPublishErrors",
		"FarewellConsumerLagGrowing", "FarewellMessagesDeadLettered", "FarewellSMTPFailures", "FarewellStockExhausted"} {
		if !strings.Contains(string(data), "alert: "+alert+"\n") {
			t.Errorf("alerts.yml has no alert %s", alert)
		}
	}
}

func TestPromtoolRejectsBrokenRules(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	dir := t.TempDir()
	tests := []struct{ name, rules string }{
		{"bad PromQL", `groups:
  - name: broken
    rules:
      - alert: Broken
        expr: sum by (job (rate(farewell_http_requests_total[5m]))
`},
		{"unknown field", `groups:
  - name: broken
    rules:
      - alert: Broken
        expr: up == 0
        severity: critical
`},
		{"bad duration", `groups:
  - name: broken
    rules:
      - alert: Broken
        expr: up == 0
        for: soon
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yml")
			writeFile(t, path, tt.rules)
			if err := Promtool(promtool, dir, "check", "rules", path); err == nil {
				t.Fatal("promtool accepted a broken rule file")
			}
		})
	}
	// A rule unit test whose expectation the rules do not meet fails too.
	root := repoRoot(t)
	alerts, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "alerts.yml"), string(alerts))
	writeFile(t, filepath.Join(dir, "wrong_test.yml"), `rule_files: [alerts.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="auth", instance="a"}'
        values: "1 1 1 1"
    alert_rule_test:
      - eval_time: 3m
        alertname: FarewellServiceDown
        exp_alerts:
          - exp_labels: {severity: critical, job: auth, instance: a}
`)
	if err := Promtool(promtool, dir, "test", "rules", "wrong_test.yml"); err == nil {
		t.Fatal("promtool test rules passed an expectation that the rules cannot meet")
	}
}
