package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	// 100 edges stamped 11 µs after the middle of a 2 µs write, one slow
	// interrupt (60 µs), a lost edge (stamp before the write) and a wild
	// one (2 s late): a Pi 5's figures with a jumper.
	var s []latencySample
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		before := int64(i) * 20e6
		lat := int64(10_500 + rng.IntN(1001)) // 10.5–11.5 µs
		if i == 50 {
			lat = 60_000
		}
		s = append(s, latencySample{before, before + 2000, before + 1000 + lat})
	}
	s = append(s, latencySample{5e9, 5e9 + 2000, 5e9 - 1}, latencySample{6e9, 6e9 + 2000, 8e9})
	got, err := summarize(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 100 || got.Rejected != 2 || got.MaxNs != 60_000 || got.WriteMedianNs != 2000 {
		t.Errorf("summarize = %+v, want 100 edges, 2 rejected, max 60 µs, write 2 µs", got)
	}
	if got.MedianNs < 10_900 || got.MedianNs > 11_100 || got.MinNs < 10_500 || got.P99Ns < 11_400 || got.P99Ns > 11_500 {
		t.Errorf("summarize = %+v, want median ≈ 11 µs, min ≥ 10.5, p99 11.4–11.5 µs (the 60 µs one is the 1 %% beyond)", got)
	}
	if got.SuggestedPPSOffsetNs%100 != 0 || got.SuggestedPPSOffsetNs < 10_900 || got.SuggestedPPSOffsetNs > 11_100 {
		t.Errorf("SuggestedPPSOffsetNs = %d, want the median to 100 ns", got.SuggestedPPSOffsetNs)
	}
	var b bytes.Buffer
	got.write(&b)
	for _, w := range []string{"edges      100 (2 rejected)", "max 60.0 µs", "suggested  ppsoffset 1"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("report %q lacks %q", b.String(), w)
		}
	}
}

func TestSummarizeExact(t *testing.T) {
	// Latencies 1…20 µs (write 0): median rank 10, p99 rank 20.
	var s []latencySample
	for i := range 20 {
		b := int64(i) * 1e9
		s = append(s, latencySample{b, b, b + int64(20-i)*1000})
	}
	got, err := summarize(s)
	if err != nil || got.MedianNs != 10_000 || got.P99Ns != 20_000 || got.MinNs != 1000 || got.SuggestedPPSOffsetNs != 10_000 {
		t.Errorf("summarize(1…20 µs) = %+v, %v; want median 10 µs, p99 20 µs, min 1 µs, suggestion 10000", got, err)
	}
}

func TestSummarizeNoJumper(t *testing.T) {
	var s []latencySample
	for i := range 50 {
		b := int64(i) * 1e9
		s = append(s, latencySample{b, b + 1000, b - 1})
	}
	if _, err := summarize(s); err == nil || !strings.Contains(err.Error(), "only 0 good edges of 50 (50 rejected): is the jumper on") {
		t.Errorf("summarize(no edges) = %v, want it to ask about the jumper", err)
	}
}

func TestParseGPIOTest(t *testing.T) {
	o, err := parseGPIOTest([]string{"-n", "50", "P1_11", "GPIO18"}, &bytes.Buffer{})
	if err != nil || o.out != 17 || o.in != 18 || o.n != 50 {
		t.Errorf("parseGPIOTest(P1_11 GPIO18) = %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"17"}, "want two pins"},
		{[]string{"P1_6", "18"}, "OUT: header pin P1_6 is ground"},
		{[]string{"17", "P1_11"}, "both GPIO 17"},
		{[]string{"-n", "3", "17", "18"}, "-n ≥ 10"},
	} {
		if _, err := parseGPIOTest(tc.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseGPIOTest(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
