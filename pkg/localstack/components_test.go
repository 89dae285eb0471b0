package localstack

import "testing"

func TestTopology(t *testing.T) {
	t.Parallel()
	var names []string
	ports := map[int]string{}
	for _, c := range Components() {
		names = append(names, c.Name)
		if other, dup := ports[c.Port]; dup {
			t.Errorf("port %d used by %s and %s", c.Port, other, c.Name)
		}
		ports[c.Port] = c.Name
		if c.Infra == (c.Service != "") {
			t.Errorf("%s: exactly one of Infra and Service must be set", c.Name)
		}
		if c.Comm == "" {
			t.Errorf("%s: no comm", c.Name)
		}
	}
	want := []string{"redis", "mariadb", "kafka", "mailpit", "nginx",
		"auth-1", "auth-2", "apply-gateway-1", "apply-gateway-2", "stock-consumer-1", "stock-consumer-2",
		"notifier-1", "notifier-2"}
	if len(names) != len(want) {
		t.Fatalf("components %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("components %v, want %v", names, want)
		}
	}
}

func TestServiceOf(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"auth-1", "auth"},
		{"apply-gateway-2", "apply-gateway"},
		{"stock-consumer-1", "stock-consumer"},
		{"nginx", ""},
		{"auth", ""},
		{"auth-x", ""},
	}
	for _, tt := range tests {
		if got := ServiceOf(tt.name); got != tt.want {
			t.Errorf("ServiceOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
