package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

func TestOutageFlag(t *testing.T) {
	var o outage
	if err := o.Set("60s:10m"); err != nil || o.after != time.Minute || o.length != 10*time.Minute {
		t.Errorf("Set(60s:10m) = %v, %+v", err, o)
	}
	for _, bad := range []string{"60s", "x:10m", "60s:0s", "-1s:10s", "60s:10"} {
		if err := new(outage).Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

// -sim-outage silences the simulated receiver and PPS: the daemon goes
// from PPS to holdover, to unsynchronised once holdover runs out, and back
// to PPS when the receiver returns.
func TestEndToEndSimOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	_, sock := launchWithConfig(t, "holdover 5s\n", "-sim-outage", "25s:20s")
	start := time.Now()
	var seen []string
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := ctl.Fetch(sock, 2*time.Second); err == nil && (len(seen) == 0 || seen[len(seen)-1] != s.State) {
			seen = append(seen, s.State)
			t.Logf("%4.0fs: state %s", time.Since(start).Seconds(), s.State)
		}
		if states := strings.Join(seen, " "); strings.Contains(states, "pps holdover unsync") && strings.HasSuffix(states, "pps") {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("states %v, want pps, holdover, unsync, then pps again", seen)
}

func TestJumpFlag(t *testing.T) {
	var j jump
	if err := j.Set("60s:-2"); err != nil || j.after != time.Minute || j.seconds != -2 {
		t.Errorf("Set(60s:-2) = %v, %+v", err, j)
	}
	for _, bad := range []string{"60s", "60s:0", "x:1", "-1s:1", "60s:1.5"} {
		if err := new(jump).Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
