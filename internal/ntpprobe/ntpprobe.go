//go:build linux

// Package ntpprobe makes NTP client exchanges whose client timestamps are
// the kernel's: T1 is when the request left (SO_TIMESTAMPING software
// transmit timestamp, read from the error queue) and T4 when the reply
// arrived (software receive timestamp). A client that reads its clock in
// user space instead, before sending and after receiving (beevik/ntp,
// ntpdig), is early with T1 by its send path and late with T4 by its
// wakeup, 5–30 µs each on a loaded machine, and the difference lands in
// the offset it measures. Measuring a server's served-time error needs
// the server's error alone: the benchmark probe (cmd/ntpload) and the
// end-to-end tests (cmd/gpsntpd) use this client.
package ntpprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// Sample is one exchange: the four timestamps (ns since the Unix epoch;
// T2 and T3 the server's) and the reply's header.
type Sample struct {
	T1, T2, T3, T4 int64
	Reply          ntpserve.Header
}

// OffsetNs is the server's time minus this machine's clock, RFC 5905
// section 8: ((T2−T1)+(T3−T4))/2.
func (s Sample) OffsetNs() float64 { return (float64(s.T2-s.T1) + float64(s.T3-s.T4)) / 2 }

// DelayNs is the round trip less the server's time: (T4−T1)−(T3−T2).
func (s Sample) DelayNs() float64 { return float64(s.T4-s.T1) - float64(s.T3-s.T2) }

// Validate refuses a reply no client should use: unsynchronised (LI 3,
// stratum 0 or ≥ 16), a kiss, not mode 4 (server), or a delay below
// −10 µs. With kernel timestamps on loopback the round trip is a few µs,
// and a server whose clock is being slewed or carries simulated jitter
// can make it come out a few hundred ns below zero; that is not a bad
// reply.
func (s Sample) Validate() error {
	h := s.Reply
	switch {
	case h.Mode != ntpserve.ModeServer:
		return fmt.Errorf("ntpprobe: reply mode %d, want 4", h.Mode)
	case h.Leap == 3:
		return errors.New("ntpprobe: server unsynchronised (LI 3)")
	case h.Stratum == 0:
		return fmt.Errorf("ntpprobe: kiss-o'-death %q", h.RefID[:])
	case h.Stratum >= 16:
		return fmt.Errorf("ntpprobe: stratum %d", h.Stratum)
	case s.DelayNs() < -10_000:
		return fmt.Errorf("ntpprobe: negative delay %.0f ns", s.DelayNs())
	}
	return nil
}

// Client is a UDP socket with kernel transmit and receive timestamps.
type Client struct {
	fd     int
	v6     bool
	oob    []byte
	buf    []byte
	serial uint64
}

// New opens a client socket of the family of local, bound to local (an
// unspecified address: any, port chosen by the kernel).
func New(local netip.Addr) (*Client, error) {
	family := unix.AF_INET
	if local.Is6() && !local.Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ntpprobe: socket: %w", err)
	}
	c := &Client{fd: fd, v6: family == unix.AF_INET6, oob: make([]byte, 256), buf: make([]byte, 512)}
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(local, 0), c.v6)); err != nil {
		c.Close()
		return nil, fmt.Errorf("ntpprobe: bind %s: %w", local, err)
	}
	const tsFlags = unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_TX_SOFTWARE
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING_NEW, tsFlags); err != nil {
		c.Close()
		return nil, fmt.Errorf("ntpprobe: SO_TIMESTAMPING: %w", err)
	}
	return c, nil
}

// Close closes the socket.
func (c *Client) Close() error { return unix.Close(c.fd) }

func sockaddr(ap netip.AddrPort, v6 bool) unix.Sockaddr {
	if v6 {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
}

// Query sends one mode 3 request to server and waits up to timeout for
// its reply (others are skipped).
func (c *Client) Query(server netip.AddrPort, timeout time.Duration) (Sample, error) {
	var s Sample
	req := make([]byte, ntpserve.HeaderLen)
	req[0] = 4<<3 | ntpserve.ModeClient
	// The transmit field only has to be unique: the reply's origin
	// must echo it.
	c.serial++
	xmt := uint64(ntpserve.TimestampFromUnixNs(time.Now().UnixNano())) + c.serial
	binary.BigEndian.PutUint64(req[40:], xmt)
	err := unix.Sendto(c.fd, req, 0, sockaddr(server, c.v6))
	for err == unix.EINTR {
		err = unix.Sendto(c.fd, req, 0, sockaddr(server, c.v6))
	}
	if err != nil {
		return s, fmt.Errorf("ntpprobe: send to %s: %w", server, err)
	}
	deadline := time.Now().Add(timeout)
	// The transmit timestamp is queued as the datagram leaves (before
	// sendto returns, on loopback).
	for s.T1 == 0 {
		_, oobn, _, _, err := unix.Recvmsg(c.fd, c.buf, c.oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err == nil {
			s.T1 = ntpserve.RxTimestamp(c.oob[:oobn])
			continue
		}
		if time.Now().After(deadline) {
			return s, errors.New("ntpprobe: no transmit timestamp from the kernel")
		}
		time.Sleep(20 * time.Microsecond)
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return s, fmt.Errorf("ntpprobe: no reply from %s within %v", server, timeout)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return s, err
		}
		n, oobn, _, _, err := unix.Recvmsg(c.fd, c.buf, c.oob, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return s, fmt.Errorf("ntpprobe: no reply from %s within %v", server, timeout)
		}
		if err != nil {
			return s, fmt.Errorf("ntpprobe: receive: %w", err)
		}
		if n < ntpserve.HeaderLen || binary.BigEndian.Uint64(c.buf[24:32]) != xmt {
			continue // not the reply to this request
		}
		s.T4 = ntpserve.RxTimestamp(c.oob[:oobn])
		if s.T4 == 0 {
			return s, errors.New("ntpprobe: no receive timestamp from the kernel")
		}
		if err := s.Reply.Decode(c.buf[:n]); err != nil {
			return s, err
		}
		s.T2 = s.Reply.Receive.UnixNs(s.T4)
		s.T3 = s.Reply.Transmit.UnixNs(s.T4)
		return s, nil
	}
}
