package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Steered from upstreams alone, the clock slews to their time and stays
// there, and never serves an error beyond what it claims: two gpsntpd
// -sim serve host time + 20 ms, the daemon under test has no receiver
// (-sim-outage from the start), starts at host time, and must slew the
// 20 ms (under the step threshold) away with its upstream servo. Its
// clock filters keep samples measured before and during the slew, and the
// least delayed one is chosen, however old. Taken as measured against the
// clock as it is now, a sample from before the slew still says 20 ms: the
// servo, fed it every second, slewed on at 5000 ppm, past 800 ms in 200 s
// while claiming 246 ms (before the slew ledger, discipline/slew.go).
func TestEndToEndUpstreamSlew(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	const theirsNs = 20e6 // the upstreams' time minus the host's
	lines := upstreams(t, 20*time.Millisecond, 20*time.Millisecond)
	dir := t.TempDir()
	conf := filepath.Join(dir, "gpsntp.conf")
	os.WriteFile(conf, []byte(lines+"control none\n"), 0o644)
	d := launch(t, []string{"-sim", "-sim-outage", "0s:1h", "-config", conf, "-status-interval", "0", "-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	start := time.Now()
	var worst float64
	var settled, synced int
	for time.Since(start) < 120*time.Second {
		time.Sleep(2 * time.Second)
		r, err := queryReply(d.addr)
		if err != nil || !r.synced {
			continue
		}
		synced++
		// Their time is the truth the daemon claims to serve.
		dev := r.errNs - theirsNs
		if math.Abs(dev) > r.boundNs {
			t.Errorf("%5.1fs: stratum %d, served − upstream %+.3f ms, beyond the ±%.3f ms claimed", time.Since(start).Seconds(), r.stratum, dev/1e6, r.boundNs/1e6)
		}
		if time.Since(start) > 90*time.Second {
			worst = math.Max(worst, math.Abs(dev))
			settled++
		}
	}
	t.Logf("%d synchronised replies; after 90 s: worst |served − upstream| %.3f ms over %d", synced, worst/1e6, settled)
	if settled < 5 || worst > 1e6 {
		t.Errorf("after 90 s: worst |served − upstream| %.3f ms over %d replies; want ≤ 1 ms over ≥ 5", worst/1e6, settled)
	}
}
