package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A front panel that is not there (no GPIO chip, no I²C bus on this
// machine) is an alarm, never a failure: the daemon serves, and
// gpsntpctl status names what is missing.
func TestEndToEndMissingPanel(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	d, sock := launchWithConfig(t, "led gpio P1_11 chip gpsntp-test-nochip\ndisplay ssd1306 bus 97\n")
	took := waitSynced(t, d, "PPS", 90*time.Second)
	var out []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ = exec.Command(gpsntpctlBinary(t), "status", "-json", "-socket", sock).CombinedOutput()
		s := string(out)
		if strings.Contains(s, "status LED (led gpio 17)") && strings.Contains(s, "/dev/i2c-97") || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	// P1_11 is header pin 11, BCM GPIO 17.
	for _, want := range []string{"status LED (led gpio 17)", "/dev/i2c-97"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gpsntpctl status -json has no alarm naming %s:\n%s", want, out)
		}
	}
	t.Logf("refid PPS after %v with the panel missing", took)
}
