package config

import (
	"strings"
	"testing"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
)

// TestLoadRequiresTheDatabaseCredentials: stock-consumer's one secret is
// the MySQL DSN (it carries the password). It holds no JWT, admin or code
// secret and reads none: those variables change nothing here.
func TestLoadRequiresTheDatabaseCredentials(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "   "} {
		_, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn}))
		if err == nil || !strings.Contains(err.Error(), "FAREWELL_MYSQL_DSN is required") {
			t.Fatalf("DSN %q: Load error = %v", dsn, err)
		}
	}
	if _, err := Load(pkgconfig.FromMap(map[string]string{})); err == nil {
		t.Fatal("Load accepted a configuration without FAREWELL_MYSQL_DSN")
	}
	dsn := "farewell:Xk2pQ9wL@tcp(127.0.0.1:3306)/farewell?parseTime=true"
	c, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn, "FAREWELL_CONSUMER_MAX_BATCH": "0"}))
	if err == nil || strings.Contains(err.Error(), "Xk2pQ9wL") {
		t.Fatalf("Load error = %v: want a refusal that does not echo the DSN's password", err)
	}
	c, err = Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn, "FAREWELL_JWT_SECRET": "", "FAREWELL_ADMIN_KEY": ""}))
	if err != nil || c.MySQLDSN != dsn {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}
