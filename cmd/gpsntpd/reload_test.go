package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// SIGHUP swaps the access rules in the running server: a client that is
// answered is ignored after `restrict default ignore` is reloaded, and
// answered again after the rule is taken back, with no restart.
func TestEndToEndReloadRestrict(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "gpsntp.conf")
	open := "control none\nrestrict default nomodify notrap nopeer noquery\n"
	closed := "control none\nrestrict default ignore\n"
	os.WriteFile(conf, []byte(open), 0o644)
	d := startDaemon(t, "-config", conf)
	answered := func() bool {
		_, err := ntp.QueryWithOptions(d.addr, ntp.QueryOptions{Timeout: 500 * time.Millisecond})
		return err == nil
	}
	// hup rewrites the file, signals, and waits (bounded) until the server
	// behaves as the file says. (The reload's log line is throttled when it
	// repeats, so behaviour, not the log, is the check.)
	await := func(want bool) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if answered() == want {
				return true
			}
		}
		return false
	}
	hup := func(text string, want bool) {
		t.Helper()
		os.WriteFile(conf, []byte(text), 0o644)
		d.cmd.Process.Signal(syscall.SIGHUP)
		if !await(want) {
			t.Fatalf("10 s after reloading %q: answered = %v, want %v", text, !want, want)
		}
	}
	if !await(true) {
		t.Fatal("not answered before the reload")
	}
	hup(closed, false)
	d.mu.Lock()
	logged := strings.Contains(d.log.String(), "applied=restrict")
	d.mu.Unlock()
	if !logged {
		t.Error("the reload was not logged as applied=restrict")
	}
	hup(open, true)
}
