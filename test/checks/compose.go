package checks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads a Compose file the way `docker compose` does (schema validation,
// interpolation, env_file resolution), with an empty process environment so the result
// does not depend on the caller's shell.
func LoadCompose(ctx context.Context, path string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: types.Mapping{},
	}
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("farewell", true)
	})
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", path, err)
	}
	return project, nil
}

// CheckComposeFiles reports every file or directory the project refers to that does not
// exist: env files, bind-mount sources, build contexts and Dockerfiles.
func CheckComposeFiles(project *types.Project) error {
	var errs []error
	exists := func(what, path string) {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s does not exist", what, path))
		}
	}
	for _, name := range project.ServiceNames() {
		svc := project.Services[name]
		for _, f := range svc.EnvFiles {
			exists("service "+name+" env_file", f.Path)
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				exists("service "+name+" bind mount", v.Source)
			}
		}
		if svc.Build != nil {
			exists("service "+name+" build context", svc.Build.Context)
			dockerfile := svc.Build.Dockerfile
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(svc.Build.Context, dockerfile)
			}
			exists("service "+name+" dockerfile", dockerfile)
		}
	}
	return errors.Join(errs...)
}

// CheckComposeDependencies reports depends_on conditions that cannot be met: waiting for a
// healthy service that has no healthcheck, or for a successful exit of a service that keeps
// running.
func CheckComposeDependencies(project *types.Project) error {
	var errs []error
	for _, name := range project.ServiceNames() {
		for dep, cond := range project.Services[name].DependsOn {
			target, ok := project.Services[dep]
			if !ok {
				errs = append(errs, fmt.Errorf("service %s depends on unknown service %s", name, dep))
				continue
			}
			switch cond.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					errs = append(errs, fmt.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != types.RestartPolicyNo {
					errs = append(errs, fmt.Errorf("service %s waits for %s to complete, but %s restarts (%s)", name, dep, dep, target.Restart))
				}
			}
		}
	}
	return errors.Join(errs...)
}
