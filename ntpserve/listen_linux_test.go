//go:build linux

package ntpserve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"golang.org/x/sys/unix"
)

// inUseMsg is what New says when another socket holds the address.
const inUseMsg = "address in use by another process (another gpsntpd or an NTP daemon?)"

// holdUDP binds a UDP socket on ap the way another process might: with or
// without SO_REUSEPORT, and for IPv6 with IPV6_V6ONLY as given. It returns
// the bound address (port resolved); the socket is closed at cleanup.
func holdUDP(t *testing.T, ap netip.AddrPort, reuseport, v6only bool) netip.AddrPort {
	t.Helper()
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if reuseport {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			t.Fatalf("setsockopt(SO_REUSEPORT): %v", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, map[bool]int{true: 1}[v6only]); err != nil {
			t.Fatalf("setsockopt(IPV6_V6ONLY): %v", err)
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatalf("bind %s: %v", ap, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	t.Fatalf("getsockname: %T", got)
	return netip.AddrPort{}
}

// wantInUse checks that New on listen fails with the clear message for
// ap and wraps EADDRINUSE (so a caller can branch on it).
func wantInUse(t *testing.T, listen []string, ap string) {
	t.Helper()
	s, err := New(Config{Listen: listen, Clock: &fakeClock{}, Ref: refPtr(nil), Workers: 2})
	if err == nil {
		s.Close()
		t.Fatalf("New(%q) = nil error, want %q", listen, "listen "+ap+": "+inUseMsg)
	}
	if want := "listen " + ap + ": " + inUseMsg; !strings.Contains(err.Error(), want) {
		t.Errorf("New(%q) = %v, want it to say %q", listen, err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("New(%q) = %v, want errors.Is EADDRINUSE", listen, err)
	}
}

// TestSecondServerRefused: a second Server on the address of a running one
// is refused with a clear error, on the same address and on overlapping
// ones (the wildcard, ":P"), and the first keeps answering every query
// (with SO_REUSEPORT alone the second would join the first's group and
// take about half of them).
func TestSecondServerRefused(t *testing.T) {
	s := startServer(t, Config{Workers: 2})
	ap := s.Addrs()[0]
	p := ap.Port()
	for _, listen := range [][]string{
		{ap.String()},
		{fmt.Sprintf("0.0.0.0:%d", p)},
		{fmt.Sprintf(":%d", p)},
	} {
		want := ap.String()
		if listen[0] != ap.String() {
			want = fmt.Sprintf("0.0.0.0:%d", p)
		}
		wantInUse(t, listen, want)
	}
	const queries = 8
	for i := range queries {
		resp, err := ntp.QueryWithOptions(ap.Addr().String(), ntp.QueryOptions{Port: int(p), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("query %d after the refused Servers: %v", i, err)
		}
		if err := resp.Validate(); err != nil {
			t.Errorf("query %d: Validate() = %v", i, err)
		}
		if d := resp.ClockOffset - servedOffset; d.Abs() > 20*time.Millisecond {
			t.Errorf("query %d: ClockOffset = %v, want %v: not the first server's time", i, resp.ClockOffset, servedOffset)
		}
	}
	if st := s.Stats(); st.Outcomes[OutReply] != queries {
		t.Errorf("first server replied %d times, want %d", st.Outcomes[OutReply], queries)
	}
}

// TestForeignHolderRefused: whatever kind of socket another process holds
// the address with, New refuses it with the clear message. The reuseport
// holders are the ones SO_REUSEPORT alone let through (same effective uid).
func TestForeignHolderRefused(t *testing.T) {
	lo4 := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")
	any4 := netip.IPv4Unspecified()
	any6 := netip.IPv6Unspecified()
	for _, tc := range []struct {
		name      string
		hold      netip.Addr
		reuseport bool
		v6only    bool
		listen    func(p uint16) (listen, refused string)
	}{
		{"plain socket, same address", lo4, false, false, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(lo4, p).String()
			return a, a
		}},
		{"reuseport socket, same address", lo4, true, false, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(lo4, p).String()
			return a, a
		}},
		{"reuseport wildcard, specific listen", any4, true, false, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(lo4, p).String()
			return a, a
		}},
		{"reuseport specific, wildcard listen", lo4, true, false, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(any4, p).String()
			return a, a
		}},
		{"reuseport specific, :P listen", lo4, true, false, func(p uint16) (string, string) {
			return fmt.Sprintf(":%d", p), netip.AddrPortFrom(any4, p).String()
		}},
		{"reuseport IPv6, same address", lo6, true, true, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(lo6, p).String()
			return a, a
		}},
		{"reuseport IPv6 wildcard v6only, :P listen", any6, true, true, func(p uint16) (string, string) {
			return fmt.Sprintf(":%d", p), netip.AddrPortFrom(any6, p).String()
		}},
		{"dual-stack IPv6 wildcard, IPv4 listen", any6, true, false, func(p uint16) (string, string) {
			a := netip.AddrPortFrom(lo4, p).String()
			return a, a
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := holdUDP(t, netip.AddrPortFrom(tc.hold, 0), tc.reuseport, tc.v6only)
			listen, refused := tc.listen(held.Port())
			wantInUse(t, []string{listen}, refused)
		})
	}
}

// freePort returns a UDP port free on both the IPv4 and IPv6 wildcards at
// the time of the call.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		c4, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			t.Fatal(err)
		}
		p := c4.LocalAddr().(*net.UDPAddr).Port
		c6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: p})
		c4.Close()
		if err == nil {
			c6.Close()
			return uint16(p)
		}
	}
	t.Fatal("no UDP port free on both families")
	return 0
}

// TestOwnOverlapsServed: addresses of one Server that overlap each other
// (a wildcard and a specific address on the same port, an address given
// twice, the IPv4 and IPv6 wildcards) are ours, not another process's:
// New serves them all.
func TestOwnOverlapsServed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen func(p uint16) []string
	}{
		{"specific then wildcard", func(p uint16) []string {
			return []string{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("0.0.0.0:%d", p)}
		}},
		{"wildcard then specific", func(p uint16) []string {
			return []string{fmt.Sprintf("0.0.0.0:%d", p), fmt.Sprintf("127.0.0.1:%d", p)}
		}},
		{"same address twice", func(p uint16) []string {
			return []string{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p)}
		}},
		{":P and [::1]:P", func(p uint16) []string {
			return []string{fmt.Sprintf(":%d", p), fmt.Sprintf("[::1]:%d", p)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := freePort(t)
			listen := tc.listen(p)
			s := startServer(t, Config{Listen: listen, Workers: 2})
			got := s.Addrs()
			want, err := splitListen(listen)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Addrs() = %v, want %v (in the order given)", got, want)
			}
			// Query each family served, on loopback.
			hosts := map[string]bool{}
			for _, ap := range got {
				hosts[map[bool]string{false: "127.0.0.1", true: "::1"}[ap.Addr().Is6()]] = true
			}
			for host := range hosts {
				resp, err := ntp.QueryWithOptions(host, ntp.QueryOptions{Port: int(p), Timeout: 2 * time.Second})
				if err != nil {
					t.Errorf("query %s port %d: %v", host, p, err)
					continue
				}
				if err := resp.Validate(); err != nil {
					t.Errorf("query %s: Validate() = %v", host, err)
				}
			}
		})
	}
}

// TestPortFreeAfterClose: the check does not outlive the Server: once it is
// closed, a new one takes the same address.
func TestPortFreeAfterClose(t *testing.T) {
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Clock: &fakeClock{}, Ref: refPtr(nil), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ap := s.Addrs()[0]
	s.Close()
	s2, err := New(Config{Listen: []string{ap.String()}, Clock: &fakeClock{}, Ref: refPtr(nil), Workers: 2})
	if err != nil {
		t.Fatalf("New(%s) after Close = %v, want nil", ap, err)
	}
	s2.Close()
}

// TestWorkersShareAddress: the claim socket, bound without SO_REUSEPORT
// and given it afterwards, still forms one reuseport group with the
// workers bound after it: the kernel spreads requests from many source
// ports over all of them (none is left without any; with 2 workers and 64
// sources the chance of that by hashing alone is 2^-63).
func TestWorkersShareAddress(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			s := startServer(t, Config{Listen: []string{listen}, Workers: 2})
			to := s.Addrs()[0]
			if to.Addr().IsUnspecified() {
				to = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), to.Port())
			}
			for i := range 64 {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: to.Addr().AsSlice()})
				if err != nil {
					t.Fatal(err)
				}
				if r := exchange(t, c, to, request(4, ModeClient, 0, Timestamp(i+1)), 2*time.Second); len(r) != HeaderLen {
					t.Errorf("source %d: reply %d bytes, want 48", i, len(r))
				}
				c.Close()
			}
			for i, w := range s.workers {
				if n := w.c.received.Load(); n == 0 {
					t.Errorf("worker %d received nothing of 64 requests: its socket is not in the reuseport group", i)
				}
			}
		})
	}
}
