package mysqlx

import (
	"strings"
	"testing"
)

// The driver always interpolates parameters, and keeps the DSN's other
// settings; a DSN that does not parse is refused without repeating it.
func TestOpenInterpolatesParameters(t *testing.T) {
	t.Parallel()
	c, err := withInterpolation("farewell:s3cret@tcp(db:3306)/farewell?parseTime=true&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	if !c.InterpolateParams || !c.ParseTime || !c.MultiStatements || c.Passwd != "s3cret" || c.Addr != "db:3306" || c.DBName != "farewell" {
		t.Fatalf("config = %+v", c)
	}
	if c, err := withInterpolation("u:p@tcp(db:3306)/x?interpolateParams=false"); err != nil || !c.InterpolateParams {
		t.Fatalf("interpolateParams=false in the DSN: %+v, %v; want it on anyway", c, err)
	}
	_, err = withInterpolation("farewell:s3cret@tcp(db:3306)farewell")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a DSN without its slash: %v; want an error that does not repeat the password", err)
	}
}
