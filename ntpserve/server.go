package ntpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// Config configures a Server. The zero values of the optional fields mean
// the defaults.
type Config struct {
	// Listen is a list of host:port to serve on, IPv4 or IPv6 literals
	// ("0.0.0.0:123", "[::]:123", "127.0.0.1:0"). ":P" means both
	// "0.0.0.0:P" and "[::]:P". Host names are not resolved.
	Listen []string
	// Clock gives served time (required).
	Clock Clock
	// Ref is where the discipline publishes its snapshot (required). A nil
	// snapshot is served as unsynchronised.
	Ref *atomic.Pointer[discipline.Reference]
	// Restrict is the access table; nil serves everyone, unlimited (as
	// ntpd does with no restrict lines).
	Restrict *restrict.Table
	// Discard sets the rate limits for addresses whose rule has
	// `limited`; nil means ntpd's defaults (average 3, minimum 2).
	Discard *restrict.Discard
	// Clients is the capacity of the rate limiter's client table (fixed
	// memory, about 60 bytes per client); 0 means 32768.
	Clients int
	// Workers is the number of sockets (SO_REUSEPORT) and threads per
	// listen address; 0 means GOMAXPROCS-1, at least 1 (see
	// defaultWorkers).
	Workers int
	// Batch is the number of packets per recvmmsg/sendmmsg; 0 means 32.
	Batch int
	// SocketBuffer is SO_RCVBUF/SO_SNDBUF in bytes; 0 means 4 MiB (the
	// kernel caps it at net.core.rmem_max unless we may force it).
	SocketBuffer int
	// TxBudget bounds the predicted send time one sendmmsg may span (see
	// txstamp_linux.go): smaller gives truer transmit timestamps under
	// load and more system calls. 0 means 12 µs.
	TxBudget time.Duration
	// BusyNice is the nice value (−20…19) of a worker's thread, made
	// SCHED_BATCH, while the worker is busy: blocking in recvmmsg at 10
	// times its busy rate or more (see priority_linux.go). 0 means
	// DefaultBusyNice; a value no higher in priority than the thread
	// already has leaves it alone.
	BusyNice int
	// Control answers mode 6 reads (ntpq) from addresses whose restrict
	// rule lifts noquery; nil drops all of mode 6.
	Control ControlSource
}

// DefaultBusyNice is Config.BusyNice's default. gpsntpd raises
// RLIMIT_NICE to allow it before it drops root.
const DefaultBusyNice = -10

const (
	defaultClients      = 32768
	defaultBatch        = 32
	defaultSocketBuffer = 4 << 20
)

// counters are one worker's; summed by Stats. Each worker owns its own
// allocation, so workers do not share cache lines.
type counters struct {
	received    atomic.Uint64
	out         [NumOutcomes]atomic.Uint64
	sendErrors  atomic.Uint64
	recvErrors  atomic.Uint64
	xleave      atomic.Uint64
	niceRefused atomic.Bool
	_           [64]byte
}

func (c *counters) addTo(s *Stats) {
	s.Received += c.received.Load()
	for o := range c.out {
		s.Outcomes[o] += c.out[o].Load()
	}
	s.SendErrors += c.sendErrors.Load()
	s.RecvErrors += c.recvErrors.Load()
	s.Interleaved += c.xleave.Load()
	if c.niceRefused.Load() {
		s.BusyNiceRefused++
	}
}

// Server answers NTP requests. Create it with New, run it with Serve.
type Server struct {
	h       handler
	addrs   []netip.AddrPort
	workers []*worker
	batch   int

	mu      sync.Mutex
	started bool // Serve has started the workers: they close their sockets
	closed  bool
}

// New validates cfg and opens the sockets (so Addrs is known before Serve;
// binding port 0 is how tests get a free port). An address that another
// socket already holds or overlaps (another gpsntpd, an NTP daemon, a
// wildcard on the same port) is refused with an error that says so and
// wraps syscall.EADDRINUSE: SO_REUSEPORT joins only this Server's own
// workers.
func New(cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		return nil, errors.New("ntpserve: Config.Clock is nil")
	}
	if cfg.Ref == nil {
		return nil, errors.New("ntpserve: Config.Ref is nil")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("ntpserve: Config.Listen is empty")
	}
	d := restrict.DefaultDiscard
	if cfg.Discard != nil {
		d = *cfg.Discard
	}
	if d.AverageLog2 < 0 || d.AverageLog2 > 16 || d.MinimumS < 0 {
		return nil, fmt.Errorf("ntpserve: bad discard average %d minimum %d", d.AverageLog2, d.MinimumS)
	}
	clients := cfg.Clients
	if clients <= 0 {
		clients = defaultClients
	}
	s := &Server{
		h: handler{
			clock: cfg.Clock,
			ref:   cfg.Ref,
			lim:   newLimiter(clients),
			ctl:   cfg.Control,
			xl:    new(xleaveTable),
		},
		batch: cfg.Batch,
	}
	s.h.setAccess(cfg.Restrict, &d)
	if s.batch <= 0 {
		s.batch = defaultBatch
	}
	if err := s.open(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Addrs returns the bound addresses, one per listen address (ports
// resolved).
func (s *Server) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), s.addrs...) }

// Stats returns the counters summed over all workers.
func (s *Server) Stats() Stats {
	var st Stats
	for _, w := range s.workers {
		w.c.addTo(&st)
	}
	return st
}

// TopClients returns up to n clients (at most 1000) of the rate limiter's
// table with the most packets, most first: an operator's view of who talks
// to the server most. Only addresses whose restrict rule has `limited` are
// in the table; a client evicted from a full table (its bucket drained)
// starts counting again when it comes back. It walks the table under one
// set lock at a time and allocates only its result, never on the packet
// path.
func (s *Server) TopClients(n int) []ClientStat { return s.h.lim.top(n) }

// RefreshClients updates the figures of clients a TopClients call returned
// (packets, last seen, …) in place, at the cost of one table lookup each.
func (s *Server) RefreshClients(cs []ClientStat) { s.h.lim.refresh(cs) }

// KernelTimestamps reports whether receive timestamps come from the kernel
// (SO_TIMESTAMPNS). False only where the kernel (or an emulator) lacks the
// option: receive times are then read in user space, tens of µs late.
func (s *Server) KernelTimestamps() bool { return !s.h.userStamps.Load() }

// SetAccess replaces the access control of a running server, as a SIGHUP
// reload does: the restrict table (nil serves everyone, unlimited, as
// Config.Restrict) and the discard limits (nil means ntpd's defaults, as
// Config.Discard). Both change in one atomic swap: every packet is judged
// by the old pair or by the new one, never by a mix, and the packet path
// reads the pair with one atomic load, no lock and no allocation. The rate
// limiter's table of clients is kept, so a client cut off before a reload
// stays cut off after it. Limits outside the ranges restrict.ParseDiscard
// accepts are clamped into them (New rejects them instead). Safe for
// concurrent use, before or during Serve.
func (s *Server) SetAccess(t *restrict.Table, d *restrict.Discard) { s.h.setAccess(t, d) }

// Close closes the sockets. Serve returns once they are closed; calling
// Close without Serve releases the sockets of an unused Server.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var first error
	for _, w := range s.workers {
		if err := w.stop(s.started); err != nil && first == nil {
			first = fmt.Errorf("ntpserve: close: %w", err)
		}
	}
	return first
}

// Serve answers requests until ctx is done or a socket fails, then closes
// the sockets. It returns nil when stopped by ctx.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("ntpserve: Serve called twice")
	}
	s.started = true
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(s.workers))
	for _, w := range s.workers {
		go func() { errc <- w.run() }()
	}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	// Workers return nil when their socket is closed; the first real error
	// stops the others.
	var first error
	for range s.workers {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// splitListen expands ":P" into IPv4 and IPv6 wildcards and parses the rest.
func splitListen(listen []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, l := range listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			return nil, fmt.Errorf("ntpserve: listen %q: want host:port", l)
		}
		p, err := net.LookupPort("udp", port)
		if err != nil {
			return nil, fmt.Errorf("ntpserve: listen %q: bad port", l)
		}
		if host == "" {
			out = append(out,
				netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)),
				netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(p)))
			continue
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("ntpserve: listen %q: want an IPv4 or IPv6 address literal", l)
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(p)))
	}
	return out, nil
}
