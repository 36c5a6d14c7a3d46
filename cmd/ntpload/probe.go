package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"time"

	"golang.org/x/sys/unix"
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
	signed := append([]float64(nil), p.offsetsNs...)
	sort.Float64s(signed)
	sq := func(f float64) float64 { return signed[min(len(signed)-1, int(f*float64(len(signed))))] / 1e3 }
	return fmt.Sprintf("probe error p50 %.1f µs  p99 %.1f µs  max %.1f µs  (%d replies, %d lost)  median offset %+.1f µs  (signed p1 %+.1f p99 %+.1f)\n",
		q(0.50), q(0.99), abs[len(abs)-1]/1e3, len(abs), p.lost, sq(0.5), sq(0.01), sq(0.99))
}

// probe sends n queries to to, every interval, one at a time. T1 and T4
// are both kernel software timestamps (SO_TIMESTAMPING: T1 from the error
// queue once the request has left, T4 on the reply), so the probe's own
// system calls do not bias the offset: a T1 read in user space before the
// send is early by the send path's few µs, which would make a server whose
// transmit timestamps are early by as much look exact, and an exact one
// look wrong by half of that.
func probe(to netip.AddrPort, n int, interval time.Duration) (probeResult, error) {
	var res probeResult
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return res, fmt.Errorf("probe socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 200}}); err != nil {
		return res, fmt.Errorf("probe socket: bind 127.0.0.200: %w", err)
	}
	const tsFlags = unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_TX_SOFTWARE
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING_NEW, tsFlags); err != nil {
		return res, fmt.Errorf("probe socket: SO_TIMESTAMPING: %w", err)
	}
	tv := unix.NsecToTimeval((500 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return res, fmt.Errorf("probe socket: SO_RCVTIMEO: %w", err)
	}
	dst := &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	req := make([]byte, 48)
	resp := make([]byte, 512)
	oob := make([]byte, 256)
	for i := 0; i < n; i++ {
		time.Sleep(interval)
		clear(req)
		req[0] = 0<<6 | 4<<3 | 3 // no leap warning, NTPv4, client
		t1User := time.Now().UnixNano()
		binary.BigEndian.PutUint64(req[40:], toNTP(t1User))
		if err := unix.Sendto(fd, req, 0, dst); err != nil {
			res.lost++
			continue
		}
		// The transmit timestamp is queued as the datagram leaves, before
		// sendto returns on loopback; wait a little if not.
		var t1 int64
		for try := 0; try < 100 && t1 == 0; try++ {
			_, oobn, _, _, err := unix.Recvmsg(fd, resp, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				time.Sleep(10 * time.Microsecond)
				continue
			}
			t1, _ = kernelTimestamp(oob[:oobn])
		}
		m, oobn, _, _, err := unix.Recvmsg(fd, resp, oob, 0)
		for err == unix.EINTR { // the Go runtime's preemption signal
			m, oobn, _, _, err = unix.Recvmsg(fd, resp, oob, 0)
		}
		if err != nil || t1 == 0 || m < 48 || binary.BigEndian.Uint64(resp[24:]) != toNTP(t1User) {
			res.lost++
			continue
		}
		t4, ok := kernelTimestamp(oob[:oobn])
		if !ok {
			return res, fmt.Errorf("probe: no kernel receive timestamp")
		}
		t2 := fromNTP(binary.BigEndian.Uint64(resp[32:]))
		t3 := fromNTP(binary.BigEndian.Uint64(resp[40:]))
		res.offsetsNs = append(res.offsetsNs, (float64(t2-t1)+float64(t3-t4))/2)
	}
	return res, nil
}

// kernelTimestamp is the software timestamp of an SO_TIMESTAMPING control
// message (struct scm_timestamping64), ns.
func kernelTimestamp(oob []byte) (int64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING_NEW && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return sec*1e9 + nsec, true
		}
	}
	return 0, false
}
