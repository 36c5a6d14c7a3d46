package mdns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// netnsEnv names the client's network namespace when the test runs inside
// the private namespaces it made for itself.
const netnsEnv = "GPSNTP_MDNS_NETNS"

// netnsSetup runs in new network and mount namespaces: the board's side
// ("va", 192.0.2.23/24, fd00::23/64) and a LAN client in a second network
// namespace ("vb", .99/::99), joined by a veth pair. No packet reaches
// this machine's own interfaces. DAD off so that IPv6 addresses are usable
// at once.
const netnsSetup = `set -e
mount --make-rprivate /
mkdir -p /run/netns
mount -t tmpfs none /run/netns
sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
ip netns add client
ip netns exec client sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
ip link add va type veth peer name vb netns client
ip addr add 192.0.2.23/24 dev va
ip addr add fd00::23/64 dev va nodad
ip link set va up
ip -n client addr add 192.0.2.99/24 dev vb
ip -n client addr add fd00::99/64 dev vb nodad
ip -n client link set vb up
ip -n client link set lo up
sleep 0.2
exec "$0" -test.run='^TestResponderOnLAN$' -test.v -test.count=1
`

// TestResponderOnLAN runs the responder on a veth interface of a private
// network namespace and asks it from a client in another, over real
// multicast sockets: announcements, a multicast answer once a second at
// most, nothing for another name, a legacy unicast reply, a QU reply by
// unicast, address changes announced and withdrawn, goodbyes at the end,
// and port 5353 taken reported as EADDRINUSE.
func TestResponderOnLAN(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		if testing.Short() {
			t.Skip("network namespaces: not in -short")
		}
		for _, tool := range []string{"unshare", "ip", "sysctl"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s not found", tool)
			}
		}
		if os.Geteuid() != 0 {
			t.Skip("needs root for network namespaces and veth")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "sh", "-c", netnsSetup, os.Args[0])
		cmd.Env = append(os.Environ(), netnsEnv+"=/run/netns/client")
		out, err := cmd.CombinedOutput()
		if err != nil && bytes.Contains(out, []byte("Operation not permitted")) {
			t.Skipf("cannot make network namespaces here: %s", out)
		}
		t.Logf("in the namespaces:\n%s", out)
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestResponderOnLAN")) {
			t.Fatalf("responder test in network namespaces: %v", err)
		}
		return
	}
	runOnLAN(t, os.Getenv(netnsEnv))
}

// client is the LAN side: sockets on 5353 in the client namespace,
// joined to both groups on vb, and a legacy one on an ephemeral port.
type client struct {
	v4, v6   *ipv4.PacketConn
	v6p      *ipv6.PacketConn
	legacy   net.PacketConn
	vb       *net.Interface
	conn4    net.PacketConn
	conn6    net.PacketConn
	received chan got
}

type got struct {
	fam   string // "v4", "v6", "legacy"
	dst   netip.Addr
	src   netip.AddrPort
	id    uint16
	recs  []Record
	qdcnt int
}

// inNetns runs f on a thread switched into the namespace at path; the
// thread is discarded afterwards (never unlocked), the sockets f opens
// stay in that namespace.
func inNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

func openClient(t *testing.T, ns string) *client {
	c := &client{received: make(chan got, 64)}
	err := inNetns(ns, func() error {
		vb, err := net.InterfaceByName("vb")
		if err != nil {
			return err
		}
		c.vb = vb
		if c.conn4, err = net.ListenPacket("udp4", ":5353"); err != nil {
			return err
		}
		c.v4 = ipv4.NewPacketConn(c.conn4)
		if err := errors.Join(c.v4.JoinGroup(vb, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)}), c.v4.SetControlMessage(ipv4.FlagDst, true), c.v4.SetMulticastInterface(vb), c.v4.SetMulticastTTL(255)); err != nil {
			return err
		}
		if c.conn6, err = net.ListenPacket("udp6", "[::]:5353"); err != nil {
			return err
		}
		c.v6p = ipv6.NewPacketConn(c.conn6)
		if err := errors.Join(c.v6p.JoinGroup(vb, &net.UDPAddr{IP: net.ParseIP("ff02::fb")}), c.v6p.SetControlMessage(ipv6.FlagDst, true), c.v6p.SetMulticastInterface(vb), c.v6p.SetMulticastHopLimit(255)); err != nil {
			return err
		}
		c.legacy, err = net.ListenPacket("udp4", "192.0.2.99:0")
		return err
	})
	if err != nil {
		t.Fatalf("client in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.conn4.Close(); c.conn6.Close(); c.legacy.Close() })
	go c.read("v4", func(b []byte) (int, netip.Addr, net.Addr, error) {
		n, cm, src, err := c.v4.ReadFrom(b)
		var dst netip.Addr
		if cm != nil {
			dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return n, dst, src, err
	})
	go c.read("v6", func(b []byte) (int, netip.Addr, net.Addr, error) {
		n, cm, src, err := c.v6p.ReadFrom(b)
		var dst netip.Addr
		if cm != nil {
			dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return n, dst, src, err
	})
	go c.read("legacy", func(b []byte) (int, netip.Addr, net.Addr, error) {
		n, src, err := c.legacy.ReadFrom(b)
		return n, netip.Addr{}, src, err
	})
	return c
}

func (c *client) read(fam string, rd func([]byte) (int, netip.Addr, net.Addr, error)) {
	buf := make([]byte, 9000)
	for {
		n, dst, src, err := rd(buf)
		if err != nil {
			return
		}
		recs, id, ok := ParseResponse(buf[:n], ourName)
		if !ok {
			continue // a query: ours, looped back
		}
		var p dnsmessage.Parser
		p.Start(buf[:n])
		qs, _ := p.AllQuestions()
		c.received <- got{fam: fam, dst: dst.Unmap(), src: src.(*net.UDPAddr).AddrPort(), id: id, recs: recs, qdcnt: len(qs)}
	}
}

// next is the next response, or ok false after wait.
func (c *client) next(wait time.Duration) (got, bool) {
	select {
	case g := <-c.received:
		return g, true
	case <-time.After(wait):
		return got{}, false
	}
}

// until returns the first response f accepts within wait, dropping others.
func (c *client) until(t *testing.T, wait time.Duration, what string, f func(got) bool) got {
	t.Helper()
	end := time.Now().Add(wait)
	for time.Now().Before(end) {
		if g, ok := c.next(time.Until(end)); ok && f(g) {
			return g
		}
	}
	t.Fatalf("no %s within %v", what, wait)
	return got{}
}

func addrsOf(g got, additional bool, ttl uint32) []netip.Addr {
	var out []netip.Addr
	for _, r := range g.recs {
		if r.Additional == additional && r.TTL == ttl {
			out = append(out, r.Addr)
		}
	}
	return out
}

func mustQuery(t *testing.T, id uint16, name string, ty dnsmessage.Type, qu bool) []byte {
	return query(t, id, name, []dnsmessage.Type{ty}, qu, nil, false)
}

func runOnLAN(t *testing.T, ns string) {
	v4, v6 := netip.MustParseAddr("192.0.2.23"), netip.MustParseAddr("fd00::23")
	c := openClient(t, ns)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := Listen(Config{Name: "GPSNTP", Log: log})
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	defer r.Close()
	// Port taken (avahi-daemon on a .deb): EADDRINUSE, for the caller to
	// say so and carry on.
	if r2, err := Listen(Config{Name: "gpsntp"}); !errors.Is(err, syscall.EADDRINUSE) {
		if r2 != nil {
			r2.Close()
		}
		t.Errorf("second Listen() = %v, want EADDRINUSE", err)
	}
	update := func() {
		ifs, err := Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		r.Update(ifs)
	}
	update()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// Announced twice, about a second apart (§8.3), with cache-flush
	// records, TTL 120, over both families. (Over IPv6 the very first
	// may be lost here: the veth's IPv6 has just come up.)
	var firstAt time.Time
	seen := map[string]int{}
	for seen["v4"] < 2 || seen["v6"] < 1 {
		g := c.until(t, 10*time.Second, "announcement", func(g got) bool { return g.dst.IsMulticast() })
		if a := addrsOf(g, false, TTLSeconds); !slices.Equal(a, []netip.Addr{v4, v6}) {
			t.Fatalf("announcement over %s: %v, want [%v %v] with TTL %d", g.fam, g.recs, v4, v6, TTLSeconds)
		}
		for _, rec := range g.recs {
			if !rec.CacheFlush {
				t.Errorf("announcement record %v without the cache-flush bit", rec.Addr)
			}
		}
		seen[g.fam]++
		if g.fam == "v4" && seen["v4"] == 1 {
			firstAt = time.Now()
		}
		if g.fam == "v4" && seen["v4"] == 2 && time.Since(firstAt) < 700*time.Millisecond {
			t.Errorf("second announcement %v after the first, want about 1 s", time.Since(firstAt))
		}
	}
	time.Sleep(1100 * time.Millisecond) // §6: a record is multicast once a second at most

	send4 := func(pkt []byte) {
		if _, err := c.v4.WriteTo(pkt, &ipv4.ControlMessage{IfIndex: c.vb.Index}, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
			t.Fatal(err)
		}
	}
	// A multicast query (QM) for A: a multicast answer, A in the answer
	// section, AAAA in the additional one.
	send4(mustQuery(t, 0, "gpsntp.local.", dnsmessage.TypeA, false))
	g := c.until(t, 5*time.Second, "multicast answer", func(g got) bool { return g.fam == "v4" })
	if !g.dst.IsMulticast() || g.id != 0 || g.qdcnt != 0 || !slices.Equal(addrsOf(g, false, TTLSeconds), []netip.Addr{v4}) || !slices.Equal(addrsOf(g, true, TTLSeconds), []netip.Addr{v6}) {
		t.Errorf("answer to A = %v, want multicast, ID 0, no question, A %v, additional AAAA %v", g, v4, v6)
	}
	// The same query again at once: not answered within the second.
	send4(mustQuery(t, 0, "gpsntp.local.", dnsmessage.TypeA, false))
	if g, ok := c.next(600 * time.Millisecond); ok {
		t.Errorf("second query within 1 s answered (%v): RFC 6762 §6 allows one multicast a second", g)
	}
	time.Sleep(600 * time.Millisecond)
	// Another name: silence.
	send4(mustQuery(t, 0, "other.local.", dnsmessage.TypeA, false))
	if g, ok := c.next(1500 * time.Millisecond); ok {
		t.Errorf("query for other.local answered: %v", g)
	}
	// A legacy resolver (port ≠ 5353): a unicast reply to its port, its
	// ID and question, TTL 10, no cache-flush (§6.7).
	if _, err := c.legacy.WriteTo(mustQuery(t, 0x4242, "gpsntp.local.", dnsmessage.TypeAAAA, false), &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
		t.Fatal(err)
	}
	g = c.until(t, 5*time.Second, "legacy reply", func(g got) bool { return g.fam == "legacy" })
	if g.id != 0x4242 || g.qdcnt != 1 || !slices.Equal(addrsOf(g, false, legacyTTLSeconds), []netip.Addr{v6}) || g.recs[0].CacheFlush {
		t.Errorf("legacy reply = %v, want ID 0x4242, the question, AAAA %v TTL 10 without cache-flush", g, v6)
	}
	// A QU query over IPv6 (we multicast within the last 30 s): the
	// reply comes by unicast to the querier's port 5353 (§5.4).
	if _, err := c.v6p.WriteTo(mustQuery(t, 0, "gpsntp.local.", dnsmessage.TypeAAAA, true), &ipv6.ControlMessage{IfIndex: c.vb.Index}, &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353, Zone: "vb"}); err != nil {
		t.Fatal(err)
	}
	g = c.until(t, 5*time.Second, "QU reply", func(g got) bool { return g.fam == "v6" })
	if g.dst.IsMulticast() || !slices.Equal(addrsOf(g, false, TTLSeconds), []netip.Addr{v6}) {
		t.Errorf("QU reply = %v, want unicast AAAA %v", g, v6)
	}

	// DHCP gives another address: announced (both); taken away: goodbye
	// (TTL 0) for it.
	ip := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	extra := netip.MustParseAddr("192.0.2.24")
	ip("addr", "add", "192.0.2.24/24", "dev", "va")
	update()
	g = c.until(t, 5*time.Second, "announcement of the new address", func(g got) bool {
		return g.fam == "v4" && slices.Contains(addrsOf(g, false, TTLSeconds), extra)
	})
	ip("addr", "del", "192.0.2.24/24", "dev", "va")
	update()
	g = c.until(t, 5*time.Second, "goodbye for the address removed", func(g got) bool {
		return g.fam == "v4" && slices.Equal(addrsOf(g, false, 0), []netip.Addr{extra})
	})
	// Stopped: goodbyes for all.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil after the stop", err)
	}
	done <- nil
	c.until(t, 5*time.Second, "goodbye at the stop", func(g got) bool {
		a := addrsOf(g, false, 0)
		return g.fam == "v4" && slices.Contains(a, v4) && slices.Contains(a, v6)
	})
}

func (g got) String() string {
	return fmt.Sprintf("{%s to %v from %v id %#x questions %d records %v}", g.fam, g.dst, g.src, g.id, g.qdcnt, g.recs)
}

func (r Record) String() string {
	return fmt.Sprintf("%v ttl %d flush %v additional %v", r.Addr, r.TTL, r.CacheFlush, r.Additional)
}
