package testinfra

import (
	"maps"
	"strings"
	"testing"
)

// Field is one expected value of a loaded configuration.
type Field struct {
	Name      string
	Got, Want any
}

// CheckFields fails t for every field whose value is not the wanted one.
func CheckFields(t testing.TB, fields []Field) {
	t.Helper()
	for _, f := range fields {
		if f.Got != f.Want {
			t.Errorf("%s = %v, want %v", f.Name, f.Got, f.Want)
		}
	}
}

// EnvCase is an environment a configuration loader must refuse.
type EnvCase struct {
	Name string
	// Set overlays the base environment; Unset removes variables from it.
	Set   map[string]string
	Unset []string
	// WantErr must appear in the error.
	WantErr string
}

// CheckRefused runs every case as a parallel subtest: load over base (a
// fresh copy per case; nil means empty) with the case applied must fail
// with an error that mentions WantErr and echoes the value of none of the
// secrets (variable names) that is set and not blank.
func CheckRefused(t *testing.T, base func() map[string]string, load func(env map[string]string) error, cases []EnvCase, secrets ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if base != nil {
				env = base()
			}
			maps.Copy(env, tc.Set)
			for _, k := range tc.Unset {
				delete(env, k)
			}
			err := load(env)
			if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tc.WantErr)
			}
			for _, k := range secrets {
				if v := env[k]; strings.TrimSpace(v) != "" && strings.Contains(err.Error(), v) {
					t.Fatalf("the error echoes %s", k)
				}
			}
		})
	}
}
