package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sort"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Served-time error under load (BENCHMARKS.md): while ntpload loads a
// server from other sockets, a probe sends n single queries every interval
// and computes each reply's offset, ((T2−T1)+(T3−T4))/2 (RFC 5905 §8). Both
// test servers serve the host clock itself (ntpload -serve's hostClock,
// chronyd's `local stratum 1` with -x), so the offset is the error of the
// time served. T1 is read just before the send; T4 is the kernel's receive
// timestamp (SO_TIMESTAMPNS), so the probe's own scheduling under load
// does not count against the server.

// ntpEpochOffsetS is 1970 − 1900 in seconds.
const ntpEpochOffsetS = 2208988800

func toNTP(ns int64) uint64 {
	s := uint64(ns/1e9 + ntpEpochOffsetS)
	frac := uint64(ns%1e9) << 32 / 1e9
	return s<<32 | frac
}

func fromNTP(v uint64) int64 {
	s := int64(v>>32) - ntpEpochOffsetS
	return s*1e9 + int64((v&0xffffffff)*1e9>>32)
}

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
	return fmt.Sprintf("probe error p50 %.1f µs  p99 %.1f µs  max %.1f µs  (%d replies, %d lost)\n",
		q(0.50), q(0.99), abs[len(abs)-1]/1e3, len(abs), p.lost)
}

// probe sends n queries to to, every interval, one at a time.
func probe(to netip.AddrPort, n int, interval time.Duration) (probeResult, error) {
	var res probeResult
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 200)})
	if err != nil {
		return res, fmt.Errorf("probe socket: %w", err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return res, err
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	if serr != nil {
		return res, fmt.Errorf("probe socket: SO_TIMESTAMPNS: %w", serr)
	}
	dst := net.UDPAddrFromAddrPort(to)
	req := make([]byte, 48)
	resp := make([]byte, 512)
	oob := make([]byte, 128)
	for i := 0; i < n; i++ {
		time.Sleep(interval)
		clear(req)
		req[0] = 0<<6 | 4<<3 | 3 // no leap warning, NTPv4, client
		t1 := time.Now().UnixNano()
		binary.BigEndian.PutUint64(req[40:], toNTP(t1))
		if _, err := c.WriteToUDP(req, dst); err != nil {
			res.lost++
			continue
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		m, oobn, _, _, err := c.ReadMsgUDP(resp, oob)
		if err != nil || m < 48 || binary.BigEndian.Uint64(resp[24:]) != toNTP(t1) {
			res.lost++
			continue
		}
		t4, ok := rxTimestamp(oob[:oobn])
		if !ok {
			return res, fmt.Errorf("probe: no kernel receive timestamp")
		}
		t2 := fromNTP(binary.BigEndian.Uint64(resp[32:]))
		t3 := fromNTP(binary.BigEndian.Uint64(resp[40:]))
		res.offsetsNs = append(res.offsetsNs, (float64(t2-t1)+float64(t3-t4))/2)
	}
	return res, nil
}

// rxTimestamp is the SCM_TIMESTAMPNS in a control message, ns.
func rxTimestamp(oob []byte) (int64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return ts.Nano(), true
		}
	}
	return 0, false
}
