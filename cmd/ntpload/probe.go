package main

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"time"

	"github.com/gpsntp/gpsntp/internal/ntpprobe"
)

// Served-time error under load (BENCHMARKS.md): while ntpload loads a
// server from other sockets, a probe sends n single queries every interval
// and computes each reply's offset, ((T2−T1)+(T3−T4))/2 (RFC 5905 §8). Both
// test servers serve the host clock itself (ntpload -serve's hostClock,
// chronyd's `local stratum 1` with -x), so the offset is the error of the
// time served. T1 and T4 are the kernel's timestamps of the probe's
// request leaving and its reply arriving (see probe), so neither the
// probe's own system calls nor its scheduling under load count against
// the server.

// probeResult is the offsets measured, ns, and the queries lost.
type probeResult struct {
	offsetsNs []float64
	lost      int
}

func (p probeResult) String() string {
	if len(p.offsetsNs) == 0 {
		return fmt.Sprintf("probe       no replies (%d lost)\n", p.lost)
	}
	abs := make([]float64, len(p.offsetsNs))
	for i, o := range p.offsetsNs {
		abs[i] = math.Abs(o)
	}
	sort.Float64s(abs)
	q := func(f float64) float64 { return abs[min(len(abs)-1, int(f*float64(len(abs))))] / 1e3 }
	signed := append([]float64(nil), p.offsetsNs...)
	sort.Float64s(signed)
	sq := func(f float64) float64 { return signed[min(len(signed)-1, int(f*float64(len(signed))))] / 1e3 }
	return fmt.Sprintf("probe error p50 %.1f µs  p99 %.1f µs  max %.1f µs  (%d replies, %d lost)  median offset %+.1f µs  (signed p1 %+.1f p99 %+.1f)\n",
		q(0.50), q(0.99), abs[len(abs)-1]/1e3, len(abs), p.lost, sq(0.5), sq(0.01), sq(0.99))
}

// probe sends n queries to to, every interval, one at a time, from
// 127.0.0.200, with kernel timestamps for T1 and T4 (internal/ntpprobe):
// a T1 read in user space before the send is early by the send path's few
// µs, which would make a server whose transmit timestamps are early by as
// much look exact, and an exact one look wrong by half of that.
func probe(to netip.AddrPort, n int, interval time.Duration) (probeResult, error) {
	var res probeResult
	c, err := ntpprobe.New(netip.AddrFrom4([4]byte{127, 0, 0, 200}))
	if err != nil {
		return res, fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		time.Sleep(interval)
		s, err := c.Query(to, 500*time.Millisecond)
		if err != nil {
			res.lost++
			continue
		}
		res.offsetsNs = append(res.offsetsNs, s.OffsetNs())
	}
	return res, nil
}
