package consumer

import (
	"errors"
	"testing"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

func TestBatchErrorPrefersAServerBeingDown(t *testing.T) {
	bad := errors.New("template broken")
	down := kafka.Unavailable(errors.New("smtp: connection refused"))
	cases := []struct {
		name string
		errs []error
		want error
	}{
		{"none", []error{nil, nil}, nil},
		{"first in log order", []error{nil, bad, errors.New("later")}, bad},
		{"down after a bad one", []error{bad, nil, down}, down},
	}
	for _, c := range cases {
		if got := batchError(c.errs); !errors.Is(got, c.want) {
			t.Errorf("%s: batchError = %v, want %v", c.name, got, c.want)
		}
	}
}
