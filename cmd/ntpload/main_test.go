package main

import (
	"context"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve"
)

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:123", true},
		{"127.3.4.5:1", true},
		{"[::1]:123", true},
		{"192.0.2.1:123", false},
		{"[2001:db8::1]:123", false},
		{"localhost:123", false},
	} {
		if _, err := loopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("loopback(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

// TestCPUTime: cpuTime follows the CPU the process burns, as getrusage(2)
// counts it (not wall time: a busy machine may deschedule the test).
func TestCPUTime(t *testing.T) {
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatalf("cpuTime(self): %v", err)
	}
	r0 := rusage()
	for limit := time.Now().Add(10 * time.Second); rusage()-r0 < 50*time.Millisecond && time.Now().Before(limit); {
	}
	burnt := rusage() - r0
	c1, err := cpuTime(os.Getpid())
	if d := c1 - c0; err != nil || d < burnt*8/10 || d > burnt*2 {
		t.Errorf("cpuTime(self) grew by %v (%v) while getrusage counted %v", d, err, burnt)
	}
	if d, err := statTime(os.Getpid()); err != nil || d <= 0 {
		t.Errorf("statTime(self) = %v, %v; want > 0", d, err)
	}
}

// TestLoad runs both modes briefly against an in-process server.
func TestLoad(t *testing.T) {
	ref := &atomic.Pointer[discipline.Reference]{}
	ref.Store(&discipline.Reference{Synchronised: true, Stratum: 1, RefTimeNs: time.Now().UnixNano(), Precision: -20})
	s, err := ntpserve.New(ntpserve.Config{Listen: []string{"127.0.0.1:0"}, Clock: hostClock{}, Ref: ref, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	to := s.Addrs()[0]
	for _, cfg := range []loadConfig{
		{duration: 300 * time.Millisecond, sources: 2, window: 8, pid: os.Getpid()},
		{duration: 300 * time.Millisecond, rate: 1000, sources: 2, window: 8},
	} {
		r, err := load(ctx, to, cfg)
		if err != nil {
			t.Fatalf("load(%+v): %v", cfg, err)
		}
		if r.replies == 0 || r.replies > r.sent || len(r.latencies) == 0 {
			t.Errorf("load(%+v) = %+v: want replies, no more than sent", cfg, r)
		}
		if !strings.Contains(r.String(), "replies") {
			t.Errorf("report lacks replies:\n%s", r)
		}
	}
	// The probe against a server of the host clock: every query answered,
	// each offset small (loopback).
	pr, err := probe(to, 5, time.Millisecond)
	if err != nil || len(pr.offsetsNs) != 5 {
		t.Fatalf("probe = %+v, %v: want 5 offsets", pr, err)
	}
	for _, o := range pr.offsetsNs {
		if math.Abs(o) > 50e6 {
			t.Errorf("probe offset %.0f ns from a server of the host clock, want well under 50 ms", o)
		}
	}
}
