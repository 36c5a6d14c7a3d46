package main

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
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

func TestCPUTime(t *testing.T) {
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
	}
	d, err := cpuTime(os.Getpid())
	if err != nil || d < 40*time.Millisecond {
		t.Errorf("cpuTime(self) = %v, %v; want ≥ 40ms", d, err)
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
}
