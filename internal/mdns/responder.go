package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The mDNS groups (RFC 6762 §3).
var (
	Group4 = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 251}), Port)
	Group6 = netip.AddrPortFrom(netip.MustParseAddr("ff02::fb"), Port)
)

// Rate limits (RFC 6762 §6): our records are multicast on an interface
// at most once a second (a probe may be answered after 250 ms), and a
// query asking for a unicast reply gets one only if they were multicast
// there within a quarter of their TTL. Unicast replies, which the RFC
// does not limit, are held to unicastPerSecond (a flood of legacy
// queries with forged sources must not make us a reflector).
const (
	multicastEvery      = time.Second
	probeMulticastEvery = 250 * time.Millisecond
	unicastRecent       = TTLSeconds * time.Second / 4
	unicastPerSecond    = 10
	// announceTimes is how many times an announcement is sent, one
	// second apart (§8.3: at least twice).
	announceTimes = 2
	// tick is how often pending announcements are looked at.
	tick = 250 * time.Millisecond
)

// Config is a responder's: the zero value but for Name answers on every
// multicast interface that is up, loopback excepted.
type Config struct {
	// Name is the host name without ".local" ("gpsntp"); the responder
	// answers for Name.local.
	Name string
	Log  *slog.Logger
	// Loopback also serves loopback interfaces: for tests in a private
	// network namespace, where lo is the only interface.
	Loopback bool
	// Port to listen on and send to (0: 5353). Tests only.
	Port int
}

// Responder answers A and AAAA queries for one name. Listen opens it,
// Update gives it the interfaces (and so the addresses), Run answers
// and announces, Close releases the sockets.
type Responder struct {
	name     string // "gpsntp.local."
	log      *slog.Logger
	loopback bool
	port     uint16
	socks    []*sock
	updates  chan []Interface

	// Run's own, from here on.
	ifs       map[int]*ifState
	tokens    float64
	tokensAt  time.Time
	conflicts map[netip.Addr]bool
}

// ifState is one interface we answer on.
type ifState struct {
	name     string
	addrs    []netip.Addr   // what we answer there (Shown)
	prefixes []netip.Prefix // for the on-link check (§11)
	// per socket (by index in Responder.socks): joined to the group,
	// last multicast of our records, announcements left and when next.
	joined    []bool
	lastMcast []time.Time
	announce  []int
	nextAnn   []time.Time
}

// sock is one family's socket.
type sock struct {
	v4    *ipv4.PacketConn
	v6    *ipv6.PacketConn
	pc    net.PacketConn
	group netip.AddrPort
}

type packet struct {
	s       int // index in socks
	data    []byte
	ifIndex int
	src     netip.AddrPort
	dst     netip.Addr
}

// Name is the responder's name, "gpsntp.local" (no final dot).
func (r *Responder) Name() string { return strings.TrimSuffix(r.name, ".") }

// Listen opens the UDP sockets (5353 on the IPv4 and IPv6 wildcards). A
// family that cannot be had is logged and done without; an error only
// when neither can (port 5353 is taken by avahi-daemon or another
// responder: errors.Is(err, syscall.EADDRINUSE)). The sockets are bound
// without SO_REUSEADDR so that we never share the port with another
// responder answering for the same name.
func Listen(cfg Config) (*Responder, error) {
	label, ok := HostLabel(cfg.Name)
	if !ok {
		return nil, fmt.Errorf("mdns: host name %q is not one DNS label (letters, digits, '-', at most 63)", cfg.Name)
	}
	r := &Responder{name: label + ".local.", log: cfg.Log, loopback: cfg.Loopback, port: Port,
		updates: make(chan []Interface, 1), ifs: map[int]*ifState{}, conflicts: map[netip.Addr]bool{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Port != 0 {
		r.port = uint16(cfg.Port)
	}
	var errs []error
	for _, fam := range []struct {
		network string
		group   netip.AddrPort
	}{{"udp4", Group4}, {"udp6", Group6}} {
		s, err := r.open(fam.network, netip.AddrPortFrom(fam.group.Addr(), r.port))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.socks = append(r.socks, s)
	}
	if len(r.socks) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		r.log.Warn("mdns: one address family unavailable, answering on the other", "err", err)
	}
	return r, nil
}

func (r *Responder) open(network string, group netip.AddrPort) (*sock, error) {
	pc, err := net.ListenPacket(network, fmt.Sprintf(":%d", r.port))
	if err != nil {
		return nil, fmt.Errorf("mdns: listen %s port %d: %w", network, r.port, err)
	}
	s := &sock{pc: pc, group: group}
	// RFC 6762 §11: sent with IP TTL / hop limit 255.
	if network == "udp4" {
		s.v4 = ipv4.NewPacketConn(pc)
		err = errors.Join(s.v4.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true),
			s.v4.SetMulticastTTL(255), s.v4.SetTTL(255), s.v4.SetMulticastLoopback(true))
	} else {
		s.v6 = ipv6.NewPacketConn(pc)
		err = errors.Join(s.v6.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true),
			s.v6.SetMulticastHopLimit(255), s.v6.SetHopLimit(255), s.v6.SetMulticastLoopback(true))
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("mdns: %s socket options: %w", network, err)
	}
	return s, nil
}

// HostLabel is the first label of a host name, lower-cased, if it is a
// valid DNS label (RFC 1123: letters, digits and '-', 1 to 63 bytes, not
// starting or ending with '-').
func HostLabel(host string) (string, bool) {
	l, _, _ := strings.Cut(strings.ToLower(host), ".")
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return "", false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	return l, true
}

// Close closes the sockets.
func (r *Responder) Close() error {
	var errs []error
	for _, s := range r.socks {
		if err := s.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Update gives Run the machine's interfaces as last read (Interfaces);
// safe from any goroutine, the latest wins.
func (r *Responder) Update(ifs []Interface) {
	select {
	case <-r.updates:
	default:
	}
	r.updates <- ifs
}

// Run answers queries and announces our addresses until ctx is done;
// then it withdraws them (goodbye packets, §10.1) and returns nil.
// Failures to send are logged, never fatal: the daemon serves time
// whatever becomes of mDNS.
func (r *Responder) Run(ctx context.Context) error {
	pkts := make(chan packet, 16)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range r.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.read(i, s, pkts, done)
		}()
	}
	defer func() {
		close(done)
		for _, s := range r.socks {
			s.pc.SetReadDeadline(time.Now())
		}
		wg.Wait()
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, st := range r.ifs {
				r.goodbye(st, st.addrs)
			}
			return nil
		case ifs := <-r.updates:
			r.update(ifs, time.Now())
		case p := <-pkts:
			r.handle(p, time.Now())
		case now := <-t.C:
			r.announceDue(now)
		}
	}
}

// read passes datagrams to Run; dropped when Run is behind (bounded).
func (r *Responder) read(i int, s *sock, out chan<- packet, done <-chan struct{}) {
	buf := make([]byte, MaxPacket+1)
	for {
		var p packet
		var n int
		var src net.Addr
		var err error
		if s.v4 != nil {
			var cm *ipv4.ControlMessage
			n, cm, src, err = s.v4.ReadFrom(buf)
			if cm != nil {
				p.ifIndex = cm.IfIndex
				p.dst, _ = netip.AddrFromSlice(cm.Dst)
			}
		} else {
			var cm *ipv6.ControlMessage
			n, cm, src, err = s.v6.ReadFrom(buf)
			if cm != nil {
				p.ifIndex = cm.IfIndex
				p.dst, _ = netip.AddrFromSlice(cm.Dst)
			}
		}
		if err != nil {
			select {
			case <-done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error (ICMP-triggered ECONNREFUSED...): go on,
			// not in a tight loop.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok || n > MaxPacket {
			continue
		}
		p.s, p.data, p.src, p.dst = i, append([]byte(nil), buf[:n]...), ua.AddrPort(), p.dst.Unmap()
		select {
		case out <- p:
		case <-done:
			return
		default:
		}
	}
}

// update follows the interfaces: joins the group on new ones, leaves
// those gone, and announces where our addresses changed (goodbyes first
// for those removed).
func (r *Responder) update(ifs []Interface, now time.Time) {
	seen := map[int]bool{}
	for _, in := range ifs {
		if !in.Up || !in.Multicast || (in.Loopback && !r.loopback) {
			continue
		}
		seen[in.Index] = true
		st := r.ifs[in.Index]
		if st == nil {
			n := len(r.socks)
			st = &ifState{name: in.Name, joined: make([]bool, n), lastMcast: make([]time.Time, n),
				announce: make([]int, n), nextAnn: make([]time.Time, n)}
			r.ifs[in.Index] = st
		}
		ifi := &net.Interface{Index: in.Index, Name: in.Name}
		for i, s := range r.socks {
			if !st.joined[i] {
				if err := s.join(ifi); err != nil {
					r.log.Debug("mdns: join group", "interface", in.Name, "group", s.group.Addr(), "err", err)
					continue
				}
				st.joined[i] = true
			}
		}
		addrs := Shown([]Interface{in})
		st.prefixes = in.Prefixes
		if slices.Equal(addrs, st.addrs) {
			continue
		}
		var gone []netip.Addr
		for _, a := range st.addrs {
			if !slices.Contains(addrs, a) {
				gone = append(gone, a)
			}
		}
		r.goodbye(st, gone)
		st.addrs = addrs
		for i := range r.socks {
			st.announce[i], st.nextAnn[i] = announceTimes, now
		}
		if len(addrs) > 0 {
			r.log.Info("mdns: answering", "name", r.Name(), "interface", in.Name, "addrs", addrs)
		}
	}
	for idx, st := range r.ifs {
		if seen[idx] {
			continue
		}
		ifi := &net.Interface{Index: idx, Name: st.name}
		for i, s := range r.socks {
			if st.joined[i] {
				s.leave(ifi) // fails when the interface is gone: nothing to leave
			}
		}
		delete(r.ifs, idx)
	}
	r.announceDue(now)
}

// announceDue sends the announcements that are due (§8.3), each no
// sooner than a second after our records were last multicast there.
func (r *Responder) announceDue(now time.Time) {
	for idx, st := range r.ifs {
		for i, s := range r.socks {
			if st.announce[i] == 0 || !st.joined[i] || now.Before(st.nextAnn[i]) {
				continue
			}
			if len(st.addrs) == 0 {
				st.announce[i] = 0
				continue
			}
			if last := st.lastMcast[i]; !last.IsZero() && now.Sub(last) < multicastEvery {
				st.nextAnn[i] = last.Add(multicastEvery)
				continue
			}
			r.send(s, idx, s.group, Announcement(r.name, st.addrs, TTLSeconds))
			st.lastMcast[i] = now
			st.announce[i]--
			st.nextAnn[i] = now.Add(time.Second)
		}
	}
}

// goodbye withdraws addrs on an interface (TTL 0, §10.1).
func (r *Responder) goodbye(st *ifState, addrs []netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	for idx, s2 := range r.ifs {
		if s2 != st {
			continue
		}
		for i, s := range r.socks {
			if st.joined[i] {
				r.send(s, idx, s.group, Announcement(r.name, addrs, 0))
			}
		}
	}
}

// handle answers one datagram: an ordered list of early returns.
func (r *Responder) handle(p packet, now time.Time) {
	st := r.ifs[p.ifIndex]
	if st == nil || !st.joined[p.s] {
		return // not an interface we answer on
	}
	if recs, _, ok := ParseResponse(p.data, r.name); ok {
		r.checkConflict(recs, st, p.src)
		return
	}
	// §11: a query sent to us by unicast must come from the local link.
	if !p.dst.IsMulticast() && !onLink(p.src.Addr(), st.prefixes) {
		return
	}
	q, ok := ParseQuery(p.data, r.name, p.src.Port())
	if !ok || len(st.addrs) == 0 {
		return
	}
	s := r.socks[p.s]
	unicast := q.Legacy || (q.Unicast && now.Sub(st.lastMcast[p.s]) < unicastRecent)
	if unicast {
		if !r.takeToken(now) {
			return
		}
		if msg := Response(q, r.name, st.addrs); msg != nil {
			r.send(s, p.ifIndex, p.src, msg)
		}
		return
	}
	every := multicastEvery
	if q.Probe {
		every = probeMulticastEvery
	}
	if last := st.lastMcast[p.s]; !last.IsZero() && now.Sub(last) < every {
		return // §6: once a second per interface
	}
	if msg := Response(q, r.name, st.addrs); msg != nil {
		r.send(s, p.ifIndex, s.group, msg)
		st.lastMcast[p.s] = now
	}
}

// checkConflict warns, once per address, when another host answers for
// our name (two boards with one host name: RFC 6762 §9 would rename one;
// we say so).
func (r *Responder) checkConflict(recs []Record, st *ifState, src netip.AddrPort) {
	for _, rec := range recs {
		a := rec.Addr.Unmap()
		if rec.TTL == 0 || r.ours(a) || r.conflicts[a] {
			continue
		}
		r.conflicts[a] = true
		r.log.Warn("mdns: another device answers for our name: give one of them another host name",
			"name", r.Name(), "their_addr", a, "from", src, "interface", st.name)
	}
}

func (r *Responder) ours(a netip.Addr) bool {
	for _, st := range r.ifs {
		if slices.Contains(st.addrs, a) || slices.ContainsFunc(st.prefixes, func(p netip.Prefix) bool { return p.Addr().Unmap() == a }) {
			return true
		}
	}
	return false
}

// takeToken: a token bucket of unicastPerSecond, burst the same.
func (r *Responder) takeToken(now time.Time) bool {
	if !r.tokensAt.IsZero() {
		r.tokens += now.Sub(r.tokensAt).Seconds() * unicastPerSecond
	} else {
		r.tokens = unicastPerSecond
	}
	r.tokens, r.tokensAt = min(r.tokens, unicastPerSecond), now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// onLink says whether src is on the link of an interface with prefixes.
func onLink(src netip.Addr, prefixes []netip.Prefix) bool {
	src = src.Unmap()
	if src.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range prefixes {
		if p.Masked().Contains(src) {
			return true
		}
	}
	return false
}

// send writes one message out of interface ifIndex; failures are logged
// at debug level (a link going down makes them normal).
func (r *Responder) send(s *sock, ifIndex int, dst netip.AddrPort, msg []byte) {
	if msg == nil {
		return
	}
	ua := net.UDPAddrFromAddrPort(dst)
	var err error
	if s.v4 != nil {
		_, err = s.v4.WriteTo(msg, &ipv4.ControlMessage{IfIndex: ifIndex}, ua)
	} else {
		_, err = s.v6.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifIndex, HopLimit: 255}, ua)
	}
	if err != nil {
		r.log.Debug("mdns: send", "dst", dst, "err", err)
	}
}

func (s *sock) join(ifi *net.Interface) error {
	g := &net.UDPAddr{IP: s.group.Addr().AsSlice()}
	if s.v4 != nil {
		return s.v4.JoinGroup(ifi, g)
	}
	return s.v6.JoinGroup(ifi, g)
}

func (s *sock) leave(ifi *net.Interface) error {
	g := &net.UDPAddr{IP: s.group.Addr().AsSlice()}
	if s.v4 != nil {
		return s.v4.LeaveGroup(ifi, g)
	}
	return s.v6.LeaveGroup(ifi, g)
}
