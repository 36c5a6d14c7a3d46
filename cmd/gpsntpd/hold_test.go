package main

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

// Issue 5: the simulated appliance holds served time within 10 µs RMS of
// the simulated truth (PPS jitter σ 1 µs), sampled for minutes by a real
// client. Each sample is the lowest-delay reply of a short burst, as
// chrony's and ntpd's clock filters do, so loopback scheduling noise does
// not count against the daemon; a burst whose best reply still took
// visibly longer than the window's fastest (the load on a busy machine) is
// logged and not counted, and the window runs on until enough are.
func TestEndToEndHoldsTenMicrosecondsRMS(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: minutes")
	}
	t.Parallel()
	const (
		offNs, ppm = 500_000_000, 20.0
		// A burst every 2 s for at least 150 s (72 bursts), of which at
		// least 60 judged, within 300 s.
		bursts, minJudged = 72, 60
		// No reply may prove an error of 3× the RMS bound (|offset error|
		// less half its delay holds whatever the load did).
		maxProvenNs = 30e3
	)
	d := startDaemon(t, "-sim-offset", "500ms", "-sim-freq-ppm", "20", "-sim-jitter", "1us", "-control", "none")
	waitSynced(t, d, "PPS", 60*time.Second)
	time.Sleep(30 * time.Second) // settle
	expect := func(host int64) float64 { return offNs + ppm*1e-6*float64(host-d.startNs) }
	start := time.Now()
	judged, worst, notes := offsetWindow(t, d, minJudged, bursts, 2*time.Second, 300*time.Second, expect)
	took := time.Since(start)
	if len(judged) < minJudged {
		t.Fatalf("only %d bursts of %d over %v were left alone by the load, want %d:\n%s",
			len(judged), len(notes), took.Round(time.Second), minJudged, strings.Join(notes, "\n"))
	}
	var s2 float64
	errs := make([]float64, len(judged))
	for i, s := range judged {
		s2 += s.errNs * s.errNs
		errs[i] = s.errNs
	}
	rms := math.Sqrt(s2 / float64(len(judged)))
	sort.Float64s(errs)
	t.Logf("%d judged bursts of %d over %v: RMS %.2f µs, median %.2f µs, min %.2f µs, max %.2f µs; largest error a reply proves %.2f µs:\n%s",
		len(judged), len(notes), took.Round(time.Second), rms/1e3, errs[len(errs)/2]/1e3, errs[0]/1e3, errs[len(errs)-1]/1e3, worst/1e3, strings.Join(notes, "\n"))
	if rms > 10e3 {
		t.Errorf("served time − simulated truth: RMS %.2f µs over %d bursts, want ≤ 10 µs", rms/1e3, len(judged))
	}
	if worst > maxProvenNs {
		t.Errorf("a reply proves served time − simulated truth ≥ %.2f µs (|offset error| less half its delay), want ≤ %.0f µs", worst/1e3, maxProvenNs/1e3)
	}
}
