package redisx_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

func TestScriptRoundTripSurvivesScriptFlush(t *testing.T) {
	rdb := testinfra.Redis(t)
	ctx := context.Background()
	key := testinfra.UniqueName("farewell:test:")
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	fsys := fstest.MapFS{"incr.lua": {Data: []byte("return redis.call('INCRBY', KEYS[1], ARGV[1])")}}
	s, err := redisx.LoadScript(ctx, rdb, fsys, "incr.lua")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := rdb.ScriptExists(ctx, s.Hash()).Result(); len(ok) != 1 || !ok[0] {
		t.Fatal("script not loaded into Redis")
	}
	if n, err := s.Run(ctx, rdb, []string{key}, 5).Int(); err != nil || n != 5 {
		t.Fatalf("run = %d, %v", n, err)
	}
	// After a restart Redis forgets scripts; Run must still work.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Run(ctx, rdb, []string{key}, 2).Int(); err != nil || n != 7 {
		t.Fatalf("run after flush = %d, %v", n, err)
	}
	if _, err := redisx.LoadScript(ctx, rdb, fsys, "missing.lua"); err == nil {
		t.Fatal("missing script file accepted")
	}
}

func TestKeysShareOneHashSlot(t *testing.T) {
	t.Parallel()
	k := redisx.KeysFor("ev1")
	for _, key := range []string{k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.Applied, k.SoldOut, k.Window, k.State, k.Unsettled, k.Epoch, k.Rebuild} {
		if want := "farewell:{ev1}:"; len(key) <= len(want) || key[:len(want)] != want {
			t.Fatalf("key %q lacks the {event} hash tag", key)
		}
	}
}
