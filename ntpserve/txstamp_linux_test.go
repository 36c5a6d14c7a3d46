//go:build linux

package ntpserve

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stampClient is a client socket on loopback whose replies carry the
// kernel's software receive timestamp. On loopback a datagram is received
// as it is sent (the sender's system call delivers it), so a reply's
// receive timestamp is its departure time, 1–2 µs late: the truth a
// transmit timestamp is judged by.
type stampClient struct {
	fd  int
	dst unix.Sockaddr
}

func newStampClient(t *testing.T, port uint16) *stampClient {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &stampClient{fd: fd, dst: &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}}
}

// burst sends n requests back to back (so the server reads them in one
// batch, mostly) and returns, per reply in the order they came, its
// transmit timestamp minus its receive time (ns of served time; offsetNs
// is how far served time is ahead of the host clock).
func (c *stampClient) burst(t *testing.T, n int, offsetNs int64) []int64 {
	t.Helper()
	req := make([]byte, HeaderLen)
	for i := range n {
		clear(req)
		req[0] = 4<<3 | ModeClient
		binary.BigEndian.PutUint64(req[40:], uint64(i+1))
		if err := unix.Sendto(c.fd, req, 0, c.dst); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]int64, 0, n)
	b := make([]byte, 128)
	oob := make([]byte, 128)
	for range n {
		m, oobn, _, _, err := unix.Recvmsg(c.fd, b, oob, 0)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", len(out)+1, n, err)
		}
		rx := RxTimestamp(oob[:oobn])
		if m < HeaderLen || rx == 0 {
			t.Fatalf("reply of %d bytes, receive timestamp %d", m, rx)
		}
		t3 := Timestamp(binary.BigEndian.Uint64(b[40:48])).UnixNs(rx)
		out = append(out, t3-offsetNs-rx)
	}
	return out
}

func quantileNs(xs []int64, q float64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// TestTransmitTimestampPerReply pins down the transmit timestamp rule
// (txstamp_linux.go): every reply of a batch carries its own predicted
// departure, not the batch's start, so a reply's transmit timestamp is
// within a few µs of when it really left, wherever it is in the batch.
func TestTransmitTimestampPerReply(t *testing.T) {
	srv := startServer(t, Config{Workers: 1, Batch: 32})
	c := newStampClient(t, srv.port)
	off := int64(servedOffset)
	for range 2000 { // calibrate, at the rate a busy pool server sees
		c.burst(t, 1, off)
		time.Sleep(500 * time.Microsecond)
	}
	t.Logf("predictor: %+v", srv.workers[0].tx)
	const n = 24
	byPos := make([][]int64, n)
	var all []int64
	for range 60 {
		for i, e := range c.burst(t, n, off) {
			byPos[i] = append(byPos[i], e)
			all = append(all, e)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for i, es := range byPos {
		t.Logf("reply %2d of a burst: transmit − departure p10 %+6.1f p50 %+6.1f p90 %+6.1f µs", i,
			float64(quantileNs(es, 0.1))/1e3, float64(quantileNs(es, 0.5))/1e3, float64(quantileNs(es, 0.9))/1e3)
	}
	abs := make([]int64, len(all))
	for i, e := range all {
		abs[i] = int64(math.Abs(float64(e)))
	}
	fmt.Println(quantileNs(abs, 0.5), quantileNs(abs, 0.9))
}
