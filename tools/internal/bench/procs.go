package bench

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; Linux
// reports it as 100 on every architecture Go supports.
const clockTicks = 100

// Proc is one component of the stack, by the pid file the stack supervisor
// wrote (pkg/localstack); its children (nginx workers) count with it.
type Proc struct {
	Name string
	PID  int
	// Service is true for the four Farewell services (the RSS targets).
	Service bool
	// Alone counts this process without its descendants: the load
	// generator, whose children (the bare handler processes) have rows of
	// their own.
	Alone bool
}

// pids are the processes p's figures add up: p and its descendants, or p
// alone.
func (p Proc) pids() []int {
	if p.Alone {
		return []int{p.PID}
	}
	return tree(p.PID)
}

// self is the load generator's own process.
func self() Proc { return Proc{PID: os.Getpid(), Alone: true} }

// processOrder lists components in the order reports show them.
var processOrder = []string{"apply-gateway", "stock-consumer", "notifier", "auth", "nginx", "redis", "mariadb", "kafka", "mailpit"}

// StackProcs returns every component of the local stack whose recorded
// process is alive and ours.
func StackProcs(p localstack.Paths) ([]Proc, error) {
	var out []Proc
	for _, c := range localstack.Components() {
		if pid := p.RunningPid(c); pid != 0 {
			out = append(out, Proc{Name: c.Name, PID: pid, Service: c.Service != ""})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no live process in %s: start the stack with `make run`", p.Pids)
	}
	sort.SliceStable(out, func(i, j int) bool { return orderOf(out[i].Name) < orderOf(out[j].Name) })
	return out, nil
}

func orderOf(name string) int {
	for i, p := range processOrder {
		if name == p || strings.HasPrefix(name, p+"-") {
			return i
		}
	}
	return len(processOrder)
}

// Running reports whether a process named like prefix (e.g. "notifier") is in procs.
func Running(procs []Proc, prefix string) bool {
	for _, p := range procs {
		if p.Name == prefix || strings.HasPrefix(p.Name, prefix+"-") {
			return true
		}
	}
	return false
}

// Usage is a process tree's CPU time and memory at one moment.
type Usage struct {
	CPUTicks uint64 // utime + stime, in clockTicks
	RSSKiB   uint64 // VmRSS now
	HWMKiB   uint64 // VmHWM: peak RSS since start or since ResetPeak
}

// CPUSeconds converts the ticks.
func (u Usage) CPUSeconds() float64 { return float64(u.CPUTicks) / clockTicks }

// ReadUsage sums the usage of p and its descendants.
func ReadUsage(p Proc) Usage {
	var u Usage
	for _, pid := range p.pids() {
		u.CPUTicks += cpuTicks(pid)
		rss, hwm := memory(pid)
		u.RSSKiB += rss
		u.HWMKiB += hwm
	}
	return u
}

// ResetPeak resets VmHWM of p's tree to the current RSS (writing 5 to
// /proc/<pid>/clear_refs, Linux 4.0+), so the next VmHWM is this scenario's peak.
func ResetPeak(p Proc) error {
	for _, pid := range tree(p.PID) {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			return err
		}
	}
	return nil
}

// tree returns pid and all its descendants.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, localstack.Children(out[i])...)
	}
	return out
}

func cpuTicks(pid int) uint64 {
	fields := localstack.StatFields(pid)
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(fields[11], 10, 64)
	st, _ := strconv.ParseUint(fields[12], 10, 64)
	return ut + st
}

func memory(pid int) (rssKiB, hwmKiB uint64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rssKiB = n
		case "VmHWM":
			hwmKiB = n
		}
	}
	return rssKiB, hwmKiB
}

// MachineBusyTicks reads the first line of /proc/stat: CPU time spent by all
// CPUs outside idle and iowait, in clockTicks.
func MachineBusyTicks() uint64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, f := range fields[1:] {
		n, _ := strconv.ParseUint(f, 10, 64)
		// user nice system idle iowait irq softirq steal [guest guest_nice]:
		// idle and iowait are not work; guest time is already in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy
}
