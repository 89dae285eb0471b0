package config

import (
	"strings"
	"testing"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
)

const salt = "Hn4Tq8Vz1Lc6Xw3Rb9Pk2Mj7Fs5Gd0Ya"

// TestLoadRequiresTheDatabaseCredentials: stock-consumer's secrets are the
// MySQL DSN (it carries the password) and the participant salt of the
// decision log. It holds no JWT, admin or code secret and reads none:
// those variables change nothing here.
func TestLoadRequiresTheDatabaseCredentials(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "   "} {
		_, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn, "FAREWELL_PARTICIPANT_SALT": salt}))
		if err == nil || !strings.Contains(err.Error(), "FAREWELL_MYSQL_DSN is required") {
			t.Fatalf("DSN %q: Load error = %v", dsn, err)
		}
	}
	if _, err := Load(pkgconfig.FromMap(map[string]string{})); err == nil {
		t.Fatal("Load accepted a configuration without FAREWELL_MYSQL_DSN")
	}
	dsn := "farewell:Xk2pQ9wL@tcp(127.0.0.1:3306)/farewell?parseTime=true"
	c, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_MYSQL_DSN": dsn, "FAREWELL_CONSUMER_MAX_BATCH": "0"}))
	if err == nil || strings.Contains(err.Error(), "Xk2pQ9wL") {
		t.Fatalf("Load error = %v: want a refusal that does not echo the DSN's password", err)
	}
	c, err = Load(pkgconfig.FromMap(map[string]string{"FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_MYSQL_DSN": dsn, "FAREWELL_JWT_SECRET": "", "FAREWELL_ADMIN_KEY": ""}))
	if err != nil || c.MySQLDSN != dsn {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

// TestBatchMustFitOneInsert: a batch's decisions go to MySQL in one
// multi-row INSERT of 7 placeholders a row, and MySQL allows 65,535
// placeholders: 9362 rows fit, 9363 do not and are refused at start-up.
func TestBatchMustFitOneInsert(t *testing.T) {
	t.Parallel()
	dsn := "farewell:secret@tcp(127.0.0.1:3306)/farewell?parseTime=true"
	if c, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_MYSQL_DSN": dsn, "FAREWELL_CONSUMER_MAX_BATCH": "9362"})); err != nil || c.MaxBatch != 9362 {
		t.Fatalf("9362 = %+v, %v", c.MaxBatch, err)
	}
	for _, n := range []string{"9363", "10000"} {
		_, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_MYSQL_DSN": dsn, "FAREWELL_CONSUMER_MAX_BATCH": n}))
		if err == nil || !strings.Contains(err.Error(), "FAREWELL_CONSUMER_MAX_BATCH") {
			t.Fatalf("batch %s: Load error = %v, want a refusal", n, err)
		}
	}
	for _, n := range []string{"0", "101"} {
		if _, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_MYSQL_DSN": dsn, "FAREWELL_CONSUMER_MAX_ATTEMPTS": n})); err == nil {
			t.Fatalf("max attempts %s accepted", n)
		}
	}
}

func TestLoadRequiresTheParticipantSaltAndAFreezeAfterTheSweep(t *testing.T) {
	t.Parallel()
	dsn := "farewell:Xk2pQ9wL@tcp(127.0.0.1:3306)/farewell?parseTime=true"
	if _, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn})); err == nil || !strings.Contains(err.Error(), "FAREWELL_PARTICIPANT_SALT is required") {
		t.Fatalf("Load without a salt: %v", err)
	}
	_, err := Load(pkgconfig.FromMap(map[string]string{"FAREWELL_MYSQL_DSN": dsn, "FAREWELL_PARTICIPANT_SALT": salt, "FAREWELL_LOG_FREEZE_AFTER": "10s"}))
	if err == nil || !strings.Contains(err.Error(), "FAREWELL_LOG_FREEZE_AFTER") {
		t.Fatalf("a freeze before the stranded sweep: %v", err)
	}
}
