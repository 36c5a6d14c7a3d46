package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSimulateCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"simulate", "-scenario", "quiet", "-hours", "2"}, &out, &errb); code != 0 {
		t.Fatalf("simulate exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	for _, f := range []string{"RESULT scenario=quiet", "lock_s=", "rms_ns=", "p99_ns=", "max_ns=", "bound_rms_ns=", "holdover_1h_us=", "steps_after_lock=0", "mislabeled_s=0"} {
		if !strings.Contains(last, f) {
			t.Errorf("last line %q lacks %q", last, f)
		}
	}
	if code := run([]string{"simulate", "-scenario", "nope"}, &out, &errb); code != 2 {
		t.Errorf("unknown scenario: exit %d, want 2", code)
	}
}
