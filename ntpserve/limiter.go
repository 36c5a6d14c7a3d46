package ntpserve

import (
	"container/heap"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// limitDecision is what the rate limiter says about one packet.
type limitDecision uint8

const (
	limitPass limitDecision = iota // serve it
	limitDrop                      // over the limit: drop
	limitKoD                       // over the limit: drop, or send a KoD RATE if `kod`
)

// limiter is ntpd's per-client rate limiter (ntpsec ntpd/ntp_monitor.c,
// ntp_monitor()) in fixed memory: a set-associative table of waysPerSet
// entries per set, a seeded hash of the source address choosing the set.
// Each entry keeps a leaky bucket in seconds: every packet adds the average
// headway (2^average s), time drains it at 1 s per s, and a packet arriving
// while the bucket is above 8 headways (ntpd's NTP_SHIFT) or sooner than the
// minimum spacing after the previous one is limited. Like ntpd it grants a
// 1 s grace on the minimum and 2 s on the headway, so the pool monitor's 3
// queries 2 s apart and any sane poller pass untouched, and a KoD is due
// only when a client first crosses the limit, which rate limits KoDs to one
// per average headway.
//
// Memory is fixed at construction and a lookup touches one set under its
// own lock: O(1), no allocation. When a set is full the entry evicted is the
// one whose bucket has drained most (oldest first among equals): a
// forgotten client restarts with an empty bucket, which is what a drained
// entry holds anyway, so a flood of one-packet addresses (spoofed or just
// many clients) cannot flush out the state of the clients that are actually
// hammering.
//
// The discard parameters are not part of the limiter: each check is given
// the limits the packet is judged by, so a reload (Server.SetAccess)
// changes them without touching the clients' state.
type limiter struct {
	sets   []limSet
	mask   uint64
	k0, k1 uint64
}

// limits are the `discard` directive's parameters in the limiter's units.
type limits struct {
	headS       int64 // 2^average s
	limitS      int64 // 8 headways
	minS        int64 // minimum spacing, s
	minpollLog2 int8  // poll field of KoD replies (ntpd: max(ppoll, minpoll))
}

// newLimits converts d, clamping it into the ranges restrict.ParseDiscard
// accepts (average 0..16, minimum 0..64).
func newLimits(d restrict.Discard) limits {
	avg := min(max(d.AverageLog2, 0), 16)
	return limits{
		headS:       1 << avg,
		limitS:      8 << avg,
		minS:        int64(min(max(d.MinimumS, 0), 64)),
		minpollLog2: int8(avg),
	}
}

const waysPerSet = 4

type limSet struct {
	mu sync.Mutex
	e  [waysPerSet]limEntry
}

type limEntry struct {
	hi, lo  uint64 // source address as 16 bytes (IPv4 mapped)
	lastNs  int64  // receive time of the last packet, ns (CLOCK_REALTIME)
	firstNs int64  // receive time of the first packet since the entry was made
	leakS   int64  // bucket level, s
	packets uint32 // packets since firstNs (saturating)
	limited uint32 // of which over the limit (dropped or KoD)
	kod     uint32 // of which answered with a KoD RATE
	used    bool
}

// newLimiter returns a limiter with room for at least entries clients
// (rounded up to a power of two of sets).
func newLimiter(entries int) *limiter {
	if entries < waysPerSet {
		entries = waysPerSet
	}
	nsets := 1
	for nsets*waysPerSet < entries {
		nsets <<= 1
	}
	return &limiter{
		sets: make([]limSet, nsets),
		mask: uint64(nsets - 1),
		k0:   rand.Uint64(),
		k1:   rand.Uint64(),
	}
}

// capacity returns the number of clients the table holds.
func (l *limiter) capacity() int { return len(l.sets) * waysPerSet }

func mix64(x uint64) uint64 {
	// murmur3 fmix64: good avalanche, a few cycles.
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// set returns src as two words (IPv4 mapped) and the set that holds it.
func (l *limiter) set(src netip.Addr) (hi, lo uint64, s *limSet) {
	a := src.As16()
	hi = uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
		uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
	lo = uint64(a[8])<<56 | uint64(a[9])<<48 | uint64(a[10])<<40 | uint64(a[11])<<32 |
		uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	return hi, lo, &l.sets[(mix64(hi^l.k0)+mix64(lo^l.k1))&l.mask]
}

// refresh updates each client's figures from the table: one set lock per
// client, so a view can keep the list top made fresh every second without
// walking the whole table. A client no longer in the table keeps its last
// figures.
func (l *limiter) refresh(cs []ClientStat) {
	for i := range cs {
		hi, lo, s := l.set(cs[i].Addr)
		s.mu.Lock()
		for j := range s.e {
			if e := &s.e[j]; e.used && e.hi == hi && e.lo == lo {
				cs[i] = e.stat(cs[i].Addr)
				break
			}
		}
		s.mu.Unlock()
	}
}

// check records a packet from src received at nowNs (ns, any clock that
// does not jump much; the server passes the kernel receive time) and
// decides its fate under lim. kod says whether a limitKoD decision will be
// answered with a KoD (the `kod` restrict flag), for the client's counters.
func (l *limiter) check(src netip.Addr, nowNs int64, kod bool, lim *limits) limitDecision {
	hi, lo, s := l.set(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	victim := -1
	var victimLeak, victimLast int64
	for i := range s.e {
		e := &s.e[i]
		if e.used && e.hi == hi && e.lo == lo {
			d := lim.update(e, nowNs)
			e.count(d, kod)
			return d
		}
		if !e.used {
			if victim < 0 || victimLeak >= 0 {
				victim, victimLeak = i, -1
			}
			continue
		}
		lk := drained(e, nowNs)
		if victim < 0 || lk < victimLeak || lk == victimLeak && e.lastNs < victimLast {
			victim, victimLeak, victimLast = i, lk, e.lastNs
		}
	}
	s.e[victim] = limEntry{hi: hi, lo: lo, lastNs: nowNs, firstNs: nowNs, packets: 1, used: true}
	return limitPass
}

// count updates e's counters for an operator's view (TopClients).
func (e *limEntry) count(d limitDecision, kod bool) {
	if e.packets < math.MaxUint32 {
		e.packets++
	}
	if d != limitPass && e.limited < math.MaxUint32 {
		e.limited++
	}
	if d == limitKoD && kod && e.kod < math.MaxUint32 {
		e.kod++
	}
}

// ClientStat is what the rate limiter knows about one client (see
// Server.TopClients).
type ClientStat struct {
	Addr      netip.Addr
	Packets   uint64    // packets since FirstSeen
	Limited   uint64    // of which over the discard limits (dropped or KoD)
	KoD       uint64    // of which answered with a KoD RATE
	FirstSeen time.Time // kernel receive time of the first packet counted
	LastSeen  time.Time // kernel receive time of the latest packet
}

// maxTopClients bounds one TopClients call.
const maxTopClients = 1000

// top returns up to n clients with the most packets (ties: the most
// recently seen first). It walks the whole table, one set lock at a time,
// keeping the best n in a bounded min-heap: O(table · log n), memory O(n),
// and no packet waits for more than one set's copy.
func (l *limiter) top(n int) []ClientStat {
	n = min(n, maxTopClients, l.capacity())
	if n <= 0 {
		return nil
	}
	h := make(topHeap, 0, n)
	for i := range l.sets {
		s := &l.sets[i]
		s.mu.Lock()
		es := s.e
		s.mu.Unlock()
		for j := range es {
			e := &es[j]
			if !e.used {
				continue
			}
			if len(h) == n && !topLess(h[0], *e) {
				continue
			}
			if len(h) == n {
				h[0] = *e
				heap.Fix(&h, 0)
			} else {
				heap.Push(&h, *e)
			}
		}
	}
	out := make([]ClientStat, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		e := heap.Pop(&h).(limEntry)
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], e.hi)
		binary.BigEndian.PutUint64(a[8:], e.lo)
		out[i] = e.stat(netip.AddrFrom16(a).Unmap())
	}
	return out
}

func (e *limEntry) stat(addr netip.Addr) ClientStat {
	return ClientStat{
		Addr:    addr,
		Packets: uint64(e.packets), Limited: uint64(e.limited), KoD: uint64(e.kod),
		FirstSeen: time.Unix(0, e.firstNs), LastSeen: time.Unix(0, e.lastNs),
	}
}

// topLess orders entries by packets, then by last seen.
func topLess(a, b limEntry) bool {
	if a.packets != b.packets {
		return a.packets < b.packets
	}
	return a.lastNs < b.lastNs
}

// topHeap is a min-heap of entries: the root is the least of the best n.
type topHeap []limEntry

func (h topHeap) Len() int           { return len(h) }
func (h topHeap) Less(i, j int) bool { return topLess(h[i], h[j]) }
func (h topHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *topHeap) Push(x any)        { *h = append(*h, x.(limEntry)) }
func (h *topHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// drained returns the bucket level of e at nowNs.
func drained(e *limEntry, nowNs int64) int64 {
	lk := e.leakS - intervalS(e.lastNs, nowNs)
	if lk < 0 {
		return 0
	}
	return lk
}

// intervalS is ntpd's interval: whole seconds, rounded to nearest, never
// negative (a stepped clock must not fill buckets).
func intervalS(lastNs, nowNs int64) int64 {
	d := nowNs - lastNs
	if d < 0 {
		return 0
	}
	return (d + nsPerSecond/2) / nsPerSecond
}

// update is ntp_monitor()'s decision for a known client.
func (l *limits) update(e *limEntry, nowNs int64) limitDecision {
	if nowNs < e.lastNs {
		// Our clock stepped back: the interval is unknown, start afresh
		// rather than limit a client for our own step.
		e.lastNs, e.leakS = nowNs, 0
		return limitPass
	}
	iv := intervalS(e.lastNs, nowNs)
	e.lastNs = nowNs
	e.leakS -= iv
	if e.leakS < 0 {
		e.leakS = 0
	}
	leak := e.leakS + l.headS
	switch {
	case iv+1 >= l.minS && leak < l.limitS:
		e.leakS = max(leak-2, 0)
		return limitPass
	case e.leakS < l.limitS:
		// First packet over the limit: the bucket jumps past the limit so
		// the next KoD waits for it to drain.
		e.leakS = l.limitS + l.headS
		return limitKoD
	default:
		return limitDrop
	}
}
