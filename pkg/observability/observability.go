// Package observability builds the structured logger and the Prometheus
// registry every service passes around explicitly.
package observability

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewLogger returns a JSON logger at level (debug, info, warn, error) that
// tags every record with the service and instance names.
func NewLogger(w io.Writer, level, service, instance string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})
	return slog.New(h).With("service", service, "instance", instance), nil
}

// NewRegistry returns a registry with the Go runtime and process collectors.
// Besides the usual go_* series the Go collector exports the runtime's CPU
// estimates: available, idle and the garbage collector's
// (go_cpu_classes_{total,idle_total,gc_total}_cpu_seconds_total), so the
// GC's share of the CPU a service used can be watched (docs/benchmarks.md).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(
			collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{
				Matcher: regexp.MustCompile(`^/cpu/classes/(total|idle|gc/total):cpu-seconds$`),
			}),
		),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
