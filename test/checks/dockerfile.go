package checks

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// goBuildLine finds the `go build` command of the Dockerfile's build stage.
var goBuildLine = regexp.MustCompile(`(?m)\bgo build [^\n\\]*`)

// DockerfileGoBuild returns the arguments of the Dockerfile's `go build` command for one
// service, with ${SERVICE} substituted and the output (-o) redirected to out. Single and
// double quotes group words as in the shell; nothing else is interpreted.
func DockerfileGoBuild(dockerfile []byte, service, out string) ([]string, error) {
	matches := goBuildLine.FindAll(dockerfile, -1)
	if len(matches) != 1 {
		return nil, fmt.Errorf("dockerfile: want exactly one `go build` command, found %d", len(matches))
	}
	line := strings.NewReplacer("${SERVICE}", service, "$SERVICE", service).Replace(string(matches[0]))
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			words[i+1] = out
			return words[1:], nil // drop "go"
		}
	}
	return nil, errors.New("dockerfile: the go build command has no -o")
}

func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// GoBuild runs `go args...` in dir with the Dockerfile's build environment (linux and
// pkg/localstack.BuildEnv, which TestDockerfileShape checks against the Dockerfile)
// and the given GOWORK ("" uses the go.work found from dir, as the image build does).
func GoBuild(dir, gowork string, args []string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") && !strings.HasPrefix(kv, "CGO_ENABLED=") && !strings.HasPrefix(kv, "GOOS=") && !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GOOS=linux", "GOWORK="+gowork)
	for k, v := range localstack.BuildEnv() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
