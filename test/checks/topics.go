package checks

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

// createLine matches a `create TOPIC PARTITIONS RETENTION_MS` call of
// k8s/base/create-topics.sh; the partitions and retention may be shell
// variables ("$partitions", "$week").
var createLine = regexp.MustCompile(`^create\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)

// retentionVar matches the script's `hour=3600000 week=… month=…` assignments.
var retentionVar = regexp.MustCompile(`\b([a-z]+)=([0-9]+)\b`)

// ScriptTopics reads the topics k8s/base/create-topics.sh creates, as specs.
// The applications topic's partition count is the script's
// APPLICATION_PARTITIONS variable; it is reported as 0 ("from the
// environment") when the script reads it from "$partitions".
func ScriptTopics(path string) ([]kafka.TopicSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]int64{}
	var specs []kafka.TopicSpec
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "create ") {
			for _, m := range retentionVar.FindAllStringSubmatch(line, -1) {
				v, _ := strconv.ParseInt(m[2], 10, 64)
				vars[m[1]] = v
			}
			continue
		}
		m := createLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: want `create TOPIC PARTITIONS RETENTION_MS`", path, n)
		}
		spec := kafka.TopicSpec{Name: m[1]}
		if m[2] != `"$partitions"` {
			p, err := strconv.Atoi(m[2])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: partitions %q", path, n, m[2])
			}
			spec.Partitions = int32(p)
		}
		ms, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			v, ok := vars[strings.Trim(m[3], `"$`)]
			if !ok {
				return nil, fmt.Errorf("%s:%d: retention %q", path, n, m[3])
			}
			ms = v
		}
		spec.Retention = time.Duration(ms) * time.Millisecond
		specs = append(specs, spec)
	}
	return specs, sc.Err()
}

// DiffTopics lists how the script's topics differ from kafka.Topics; empty
// when they agree. The applications topic's partitions come from the
// environment in both, so a script spec with 0 partitions matches any.
func DiffTopics(script []kafka.TopicSpec, want []kafka.TopicSpec) []string {
	got := map[string]kafka.TopicSpec{}
	for _, s := range script {
		got[s.Name] = s
	}
	var diffs []string
	for _, w := range want {
		g, ok := got[w.Name]
		delete(got, w.Name)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing from the script", w.Name))
		case w.Name == kafka.TopicApplications && g.Partitions != 0:
			diffs = append(diffs, fmt.Sprintf("%s: partitions %d, want \"$partitions\" (APPLICATION_PARTITIONS)", w.Name, g.Partitions))
		case w.Name != kafka.TopicApplications && g.Partitions != w.Partitions:
			diffs = append(diffs, fmt.Sprintf("%s: partitions %d, want %d", w.Name, g.Partitions, w.Partitions))
		}
		if ok && g.Retention != w.Retention {
			diffs = append(diffs, fmt.Sprintf("%s: retention %s, want %s", w.Name, g.Retention, w.Retention))
		}
	}
	extra := make([]string, 0, len(got))
	for name := range got {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		diffs = append(diffs, fmt.Sprintf("%s: created by the script but not in pkg/kafka.Topics", name))
	}
	return diffs
}
