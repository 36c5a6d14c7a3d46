package upstream

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// Clock is the served clock the client measures against (a
// discipline.Clock satisfies it): offsets are upstream time minus Now.
type Clock interface {
	// Now is the served time, ns since the Unix epoch.
	Now() int64
	// Map converts a CLOCK_REALTIME kernel timestamp to served time.
	Map(realtimeNs int64) int64
}

// Slews is the phase, ns, the clock's steering has slewed it by since
// start, at served time servedNs (positive: moved ahead; steps not
// included, Client.Stepped carries them). Safe for concurrent use.
type Slews interface {
	SlewedNs(servedNs int64) float64
}

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// a fake).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config is what the client polls.
type Config struct {
	// Sources are the `server` and `pool` lines.
	Sources []config.Upstream
	// MinSane is how many truechimers the estimate needs (0: 2).
	MinSane int
	// Resolver resolves host names (nil: net.DefaultResolver).
	Resolver Resolver
	// Slews says how far the clock has been slewed on purpose (nil: never;
	// a *discipline.Engine is one). The filters re-express each sample on
	// the clock as it is when they are evaluated.
	Slews Slews

	// pollUnit is how long "one second" of a poll interval, the iburst
	// spacing and the resolver's backoff lasts (0: a second). Only tests
	// in this package set it, to run 64 s polls in a few seconds: a
	// configuration cannot, so the appliance never polls an upstream
	// faster than every 64 s (minpoll ≥ 6 is enforced by config).
	pollUnit time.Duration
}

const (
	burstPackets   = 6   // iburst: packets at start and after unreachability (ntpd 8, chrony 4)
	burstSpacingS  = 2   // seconds between burst packets
	unreachPolls   = 8   // polls without a reply that make a source unreachable
	falseStreakMax = 4   // samples a pool member may be a falseticker before it is replaced
	resolveMinS    = 8   // first resolver retry, seconds; doubling…
	resolveMaxS    = 900 // … up to this
	resolveTimeout = 10 * time.Second
)

// Client polls the configured upstream servers and selects among them.
// Its methods are safe for concurrent use.
type Client struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	unit  time.Duration
	res   Resolver

	conns []*conn // one per address family that could be opened
	wake  chan struct{}

	mu      sync.Mutex
	sources []*source
	byAddr  map[netip.AddrPort]*assoc
	strays  uint64 // datagrams from no association's address
	wg      sync.WaitGroup
}

// source is one `server` or `pool` line.
type source struct {
	up     config.Upstream
	assocs []*assoc
	// bad are addresses of a pool not to take again (DENY/RSTR for good;
	// unreachable or falsetickers until the name offers nothing else).
	bad        map[netip.Addr]bool
	denied     map[netip.Addr]bool
	resolving  bool
	need       bool // (re)resolve when due
	resolveAt  time.Time
	fails      int
	resolveErr string
}

// assoc is one association: an address polled as a client.
type assoc struct {
	src  *source
	addr netip.AddrPort
	conn *conn

	pollLog2, minPoll int8
	nextPoll          time.Time
	burstLeft         int
	polls             int // polls sent since the last reply (unreachability)
	goodRun           int // consecutive answered polls at this poll (poll increase)
	reach             uint8
	everReached       bool
	unreachable       bool

	nonce ntpserve.Timestamp // the outstanding request's transmit (0: none)
	t1Ns  int64              // its send time, served clock

	f                     filter
	lastNs                int64 // served time of the last accepted reply (0: never)
	stratum               int
	leap                  uint8
	refid                 [4]byte
	rootDelayNs, rootDisp float64

	tally       byte
	falseStreak int
	kod         string // the last kiss code received
	stopped     bool   // DENY/RSTR: not polled any more
	kodWarned   map[string]bool
	drops       uint64
	lastErr     string
}

// New opens the client's sockets (one per address family, port chosen by
// the kernel, kernel receive timestamps) and its associations; Run polls.
// An IPv6 socket that cannot be opened (no IPv6 on the host) is logged
// and its addresses skipped.
func New(cfg Config, clock Clock, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, clock: clock, log: log, unit: cfg.pollUnit, res: cfg.Resolver,
		wake: make(chan struct{}, 1), byAddr: map[netip.AddrPort]*assoc{}}
	if c.unit <= 0 {
		c.unit = time.Second
	}
	if c.res == nil {
		c.res = net.DefaultResolver
	}
	if c.cfg.MinSane <= 0 {
		c.cfg.MinSane = config.DefaultMinSane
	}
	for _, fam := range []string{"udp4", "udp6"} {
		cn, err := listen(fam)
		if err != nil {
			if fam == "udp4" {
				c.Close()
				return nil, err
			}
			log.Warn("upstream: no IPv6 socket; IPv6 servers are skipped", "err", err)
			continue
		}
		if !cn.kernelStamps {
			log.Warn("upstream: the kernel gives no receive timestamps on this socket; using user-space times", "family", fam)
		}
		c.conns = append(c.conns, cn)
	}
	now := time.Now()
	for _, u := range cfg.Sources {
		if u.Port == 0 {
			u.Port = 123
		}
		if u.MinPoll == 0 {
			u.MinPoll = config.DefaultMinPoll
		}
		if u.MaxPoll == 0 {
			u.MaxPoll = max(config.DefaultMaxPoll, u.MinPoll)
		}
		if u.Pool && u.MaxSources == 0 {
			u.MaxSources = config.DefaultMaxSources
		}
		c.sources = append(c.sources, &source{up: u, need: true, resolveAt: now,
			bad: map[netip.Addr]bool{}, denied: map[netip.Addr]bool{}})
	}
	return c, nil
}

// Close closes the sockets. Call it after Run has returned.
func (c *Client) Close() error {
	var errs []error
	for _, cn := range c.conns {
		errs = append(errs, cn.c.Close())
	}
	return errors.Join(errs...)
}

// Run polls until ctx is done, then returns nil once its readers and
// resolvers have stopped. Unreachable or misbehaving servers are states
// shown by Status, never errors: the only error is a socket that fails
// for good.
func (c *Client) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, cn := range c.conns {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.read(ctx, cn); err != nil {
				cancel(err)
			}
		}()
	}
	defer c.wg.Wait()
	defer func() {
		for _, cn := range c.conns {
			_ = cn.c.SetReadDeadline(time.Unix(1, 0)) // unblock the readers
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		case <-timer.C:
		case <-c.wake:
		}
		now := time.Now()
		c.mu.Lock()
		next := c.due(ctx, now)
		c.mu.Unlock()
		timer.Reset(max(time.Until(next), time.Millisecond))
	}
}

// read receives replies on one socket until the context ends.
func (c *Client) read(ctx context.Context, cn *conn) error {
	buf := make([]byte, 1024)
	oob := make([]byte, 256)
	fails := 0
	for {
		n, oobn, _, from, err := cn.c.ReadMsgUDPAddrPort(buf, oob)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// A transient error (ICMP reports on some kernels) is not the
			// end; a socket that keeps failing is.
			if fails++; fails > 100 {
				return fmt.Errorf("upstream: read %s: %w", cn.c.LocalAddr(), err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		fails = 0
		rx := ntpserve.RxTimestamp(oob[:oobn])
		if rx == 0 {
			rx = time.Now().UnixNano()
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		c.handle(buf[:n], from, rx)
	}
}

func (c *Client) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// secs is n seconds of poll time.
func (c *Client) secs(n float64) time.Duration { return time.Duration(n * float64(c.unit)) }

// due starts what is due at now (resolutions, polls) and returns when
// to look again. Called with c.mu held.
func (c *Client) due(ctx context.Context, now time.Time) time.Time {
	next := now.Add(c.secs(64))
	for _, s := range c.sources {
		if s.need && !s.resolving {
			if !now.Before(s.resolveAt) {
				s.resolving = true
				c.wg.Add(1)
				go c.resolve(ctx, s)
			} else if s.resolveAt.Before(next) {
				next = s.resolveAt
			}
		}
		for _, a := range slices.Clone(s.assocs) { // poll may drop a pool member
			if a.stopped {
				continue
			}
			if !now.Before(a.nextPoll) {
				c.poll(a, now)
			}
			if a.nextPoll.Before(next) {
				next = a.nextPoll
			}
		}
	}
	return next
}

// resolve looks up a source's name and adds associations for it.
func (c *Client) resolve(ctx context.Context, s *source) {
	defer c.wg.Done()
	var addrs []netip.Addr
	var err error
	if a, perr := netip.ParseAddr(s.up.Host); perr == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		addrs, err = c.res.LookupNetIP(rctx, "ip", s.up.Host)
		cancel()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.resolving = false
	if ctx.Err() != nil {
		return
	}
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		s.fails++
		s.resolveErr = fmt.Sprintf("resolve %s: %v", s.up.Host, err)
		s.resolveAt = time.Now().Add(c.secs(float64(min(resolveMinS<<min(s.fails-1, 10), resolveMaxS))))
		if s.fails == 1 {
			c.log.Warn("upstream: cannot resolve", "host", s.up.Host, "pos", s.up.Pos, "err", err)
		}
		c.kick()
		return
	}
	s.fails, s.resolveErr = 0, ""
	want := 1
	if s.up.Pool {
		want = s.up.MaxSources
	}
	pick := func(allowBad bool) {
		for _, a := range addrs {
			if len(s.assocs) >= want {
				return
			}
			a = a.Unmap()
			ap := netip.AddrPortFrom(a, uint16(s.up.Port))
			if c.byAddr[ap] != nil || s.denied[a] || (s.bad[a] && !allowBad) {
				continue
			}
			cn := c.connFor(a)
			if cn == nil {
				continue
			}
			c.addAssoc(s, ap, cn)
		}
	}
	pick(false)
	if len(s.assocs) < want && s.up.Pool {
		// The name offers nothing new: forgive the unreachable and the
		// falsetickers (they may have recovered), never the DENY.
		clear(s.bad)
		pick(true)
	}
	s.need = len(s.assocs) < want
	if s.need {
		// Not enough addresses: look again later.
		s.resolveAt = time.Now().Add(c.secs(float64(resolveMaxS)))
	}
	c.kick()
}

func (c *Client) connFor(a netip.Addr) *conn {
	for _, cn := range c.conns {
		if cn.v6 == a.Is6() {
			return cn
		}
	}
	return nil
}

// addAssoc starts polling ap for s: a burst at once if iburst.
func (c *Client) addAssoc(s *source, ap netip.AddrPort, cn *conn) {
	a := &assoc{src: s, addr: ap, conn: cn, pollLog2: int8(s.up.MinPoll), minPoll: int8(s.up.MinPoll),
		nextPoll: time.Now(), stratum: 16, tally: TallyNotUsed, kodWarned: map[string]bool{}}
	if s.up.IBurst {
		a.burstLeft = burstPackets
	}
	s.assocs = append(s.assocs, a)
	c.byAddr[ap] = a
}

// dropAssoc removes a (a pool member being replaced).
func (c *Client) dropAssoc(a *assoc) {
	s := a.src
	for i, x := range s.assocs {
		if x == a {
			s.assocs = append(s.assocs[:i], s.assocs[i+1:]...)
			break
		}
	}
	delete(c.byAddr, a.addr)
	s.need = true
	s.resolveAt = time.Now()
	c.kick()
}

// poll sends one request to a and schedules the next. Called with c.mu
// held.
func (c *Client) poll(a *assoc, now time.Time) {
	if a.nonce != 0 {
		a.lastErr = "no reply"
	}
	a.reach <<= 1
	a.polls++
	if a.polls >= unreachPolls && a.reach == 0 && !a.unreachable {
		a.unreachable = true
		a.goodRun = 0
		if a.everReached {
			c.log.Warn("upstream: server unreachable", "addr", a.addr, "host", a.src.up.Host)
		}
		if a.src.up.Pool {
			a.src.bad[a.addr.Addr()] = true
			c.dropAssoc(a)
			return
		}
		if a.src.up.IBurst && a.everReached {
			a.burstLeft = burstPackets // iburst again after unreachability
		}
	}
	var b [ntpserve.HeaderLen]byte
	for a.nonce == 0 {
		a.nonce = ntpserve.Timestamp(rand.Uint64())
	}
	newRequest(b[:], a.nonce, a.pollLog2)
	a.t1Ns = c.clock.Now() // T1 as late as possible
	if _, err := a.conn.c.WriteToUDPAddrPort(b[:], a.addr); err != nil {
		a.lastErr = "send: " + err.Error()
	}
	if a.burstLeft > 0 {
		a.burstLeft--
	}
	if a.burstLeft > 0 {
		a.nextPoll = now.Add(c.secs(burstSpacingS))
	} else {
		a.nextPoll = now.Add(c.secs(float64(int64(1) << a.pollLog2)))
	}
}

// handle processes one datagram from addr received at kernel time rxNs
// (CLOCK_REALTIME).
func (c *Client) handle(b []byte, from netip.AddrPort, rxNs int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.byAddr[from]
	if a == nil {
		c.strays++
		return
	}
	t4 := c.clock.Map(rxNs)
	h, kiss, err := checkReply(b, a.nonce)
	if err != nil {
		a.drops++
		a.lastErr = err.Error()
		return
	}
	a.nonce = 0 // one reply per request: a replay fails the origin check
	if kiss != "" {
		c.kissed(a, kiss)
		return
	}
	m := measure(h, a.t1Ns, t4)
	m.slewedNs = c.slewedNs(t4)
	a.f.add(m)
	a.reach |= 1
	a.polls = 0
	a.everReached = true
	a.unreachable = false
	a.lastErr = ""
	a.lastNs = t4
	a.stratum = int(h.Stratum)
	a.leap = h.Leap
	a.refid = h.RefID
	a.rootDelayNs = float64(h.RootDelay.Ns())
	a.rootDisp = float64(h.RootDispersion.Ns())
	if a.reach == 0xff && a.burstLeft == 0 {
		// Eight answered polls at this interval: poll half as often
		// (up to maxpoll), sparing the server.
		if a.goodRun++; a.goodRun >= unreachPolls && int(a.pollLog2) < a.src.up.MaxPoll {
			a.pollLog2++
			a.goodRun = 0
		}
	}
	c.selectLocked(t4) // tallies, for the falseticker streak
	if a.tally == TallyFalse {
		a.falseStreak++
		if a.src.up.Pool && a.falseStreak >= falseStreakMax {
			c.log.Warn("upstream: pool server is a falseticker; replacing it", "addr", a.addr, "host", a.src.up.Host)
			a.src.bad[a.addr.Addr()] = true
			c.dropAssoc(a)
		}
	} else {
		a.falseStreak = 0
	}
}

// kissed acts on a kiss-o'-death (RFC 5905 section 7.4), logging once
// per code and address.
func (c *Client) kissed(a *assoc, code string) {
	a.kod = code
	a.lastErr = "kiss-o'-death " + code
	warn := !a.kodWarned[code]
	a.kodWarned[code] = true
	switch code {
	case KissRate:
		// Poll at least twice as slowly, for good: the server said so.
		a.pollLog2 = min(a.pollLog2+1, config.MaxPollLimit)
		a.minPoll = max(a.minPoll, a.pollLog2)
		a.burstLeft = 0
		a.nextPoll = time.Now().Add(c.secs(float64(int64(1) << a.pollLog2)))
		if warn {
			c.log.Warn("upstream: server asks us to poll less often (kiss-o'-death RATE)", "addr", a.addr, "host", a.src.up.Host, "poll_s", int64(1)<<a.pollLog2)
		}
	default: // DENY, RSTR
		a.stopped = true
		if warn {
			c.log.Warn("upstream: server refuses us (kiss-o'-death "+code+"); no longer polled", "addr", a.addr, "host", a.src.up.Host)
		}
		if a.src.up.Pool {
			a.src.denied[a.addr.Addr()] = true
			c.dropAssoc(a)
		}
	}
}

// Estimate is the upstreams' combined answer at AtNs.
type Estimate struct {
	// OffsetNs is upstream time minus our served clock (positive: our
	// clock is behind), combined over the survivors.
	OffsetNs float64
	// ErrorNs bounds |true offset − OffsetNs| if the truechimers are
	// right: the distance from OffsetNs to the far end of the
	// intersection of their correctness intervals (each interval is the
	// source's offset ± its root distance: half its root delay plus its
	// root dispersion, measurement delay, dispersion and jitter).
	ErrorNs float64
	// LowNs, HighNs are the intersection (offsets, ns).
	LowNs, HighNs float64
	// RootDelayNs and RootDispersionNs are what a server at Stratum puts
	// on the wire: the system peer's root delay plus our delay to it, and
	// a dispersion such that RootDelayNs/2 + RootDispersionNs ≥ ErrorNs.
	// Both as of AtNs; add 15 ppm of the time since to the dispersion.
	RootDelayNs, RootDispersionNs float64
	Stratum                       int     // system peer's stratum + 1
	RefID                         [4]byte // the system peer's IPv4 address (IPv6: MD5 hash, RFC 5905)
	Leap                          uint8   // the system peer's leap indicator (0, 1 or 2)
	Truechimers                   int
	Selected                      []netip.AddrPort // survivors, system peer first
	SystemPeer                    netip.AddrPort
	AtNs                          int64 // served clock
}

// Stepped tells the client that the clock was stepped by deltaNs (added
// to it): the samples kept, measured against the clock before, are
// shifted to the clock after, as ntpd clears its filters on a step, but
// without losing them. A request in flight was sent with the old T1.
func (c *Client) Stepped(deltaNs int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sources {
		for _, a := range s.assocs {
			a.f.stepped(deltaNs)
			if a.lastNs != 0 {
				a.lastNs += deltaNs
			}
			if a.t1Ns != 0 {
				a.t1Ns += deltaNs
			}
		}
	}
}

// slewedNs is Config.Slews at served time servedNs, 0 without one.
func (c *Client) slewedNs(servedNs int64) float64 {
	if c.cfg.Slews == nil {
		return 0
	}
	return c.cfg.Slews.SlewedNs(servedNs)
}

// Estimate returns the upstreams' estimate now; ok is false when fewer
// than MinSane truechimers agree.
func (c *Client) Estimate() (Estimate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.selectLocked(c.clock.Now())
}

// selectLocked runs the selection over the fit associations at nowNs,
// sets their tallies and returns the estimate.
func (c *Client) selectLocked(nowNs int64) (Estimate, bool) {
	var cands []candidate
	var who []*assoc
	var fs []filtered
	for _, s := range c.sources {
		for _, a := range s.assocs {
			a.tally = TallyNotUsed
			f, ok := a.f.eval(nowNs, c.slewedNs(nowNs))
			if !ok || a.reach == 0 || a.stopped || s.up.NoSelect || a.stratum >= 16 {
				continue
			}
			lambda := a.rootDistance(f, nowNs)
			if lambda >= maxDistNs+phiPPM*1e-6*float64(int64(1)<<a.pollLog2)*1e9 {
				continue
			}
			cands = append(cands, candidate{offsetNs: f.offsetNs, rootDistNs: lambda, jitterNs: f.jitterNs,
				stratum: a.stratum, prefer: s.up.Prefer, true_: s.up.True})
			who = append(who, a)
			fs = append(fs, f)
		}
	}
	sel := selectSources(cands)
	for i, a := range who {
		a.tally = sel.tally[i]
	}
	est := Estimate{Truechimers: sel.truechimers, AtNs: nowNs}
	if sel.sysPeer < 0 {
		return est, false
	}
	p, pf := who[sel.sysPeer], fs[sel.sysPeer]
	est.OffsetNs = sel.offsetNs
	est.LowNs, est.HighNs = sel.low, sel.high
	est.ErrorNs = max(sel.high-sel.offsetNs, sel.offsetNs-sel.low, 0)
	est.RootDelayNs = p.rootDelayNs + pf.delayNs
	est.RootDispersionNs = p.rootDisp + pf.dispNs + pf.jitterNs + max(sel.offsetNs-pf.offsetNs, pf.offsetNs-sel.offsetNs)
	est.RootDispersionNs = max(est.RootDispersionNs, est.ErrorNs-est.RootDelayNs/2)
	est.Stratum = min(p.stratum+1, 16)
	est.RefID = refIDOf(p.addr.Addr())
	est.Leap = p.leap
	est.SystemPeer = p.addr
	est.Selected = append(est.Selected, p.addr)
	for _, i := range sel.survivors {
		if i != sel.sysPeer {
			est.Selected = append(est.Selected, who[i].addr)
		}
	}
	return est, sel.truechimers >= c.cfg.MinSane
}

// rootDistance is λ (RFC 5905 section 11.2): half the total delay to
// the reference (at least minDispNs) plus the server's root dispersion
// aged since its reply, our filter dispersion (eval aged it to the same
// time) and the jitter.
func (a *assoc) rootDistance(f filtered, nowNs int64) float64 {
	return max(minDispNs, a.rootDelayNs+f.delayNs)/2 + a.rootDisp + phiPPM*1e-6*float64(max(nowNs-a.lastNs, 0)) +
		f.dispNs + f.jitterNs
}

// refIDOf is the refid a server synchronised to addr sends (RFC 5905
// section 7.3): the IPv4 address, or the first four bytes of the MD5
// hash of the IPv6 address.
func refIDOf(a netip.Addr) [4]byte {
	if a.Is4() {
		return a.As4()
	}
	b := a.As16()
	sum := md5.Sum(b[:])
	return [4]byte(sum[:4])
}

// SourceStatus is one association (or a line not yet resolved) for the
// billboard, as ntpq -p shows it.
type SourceStatus struct {
	Addr     netip.AddrPort // invalid: not resolved yet (see LastError)
	Host     string         // as configured
	Pool     bool
	Stratum  int    // 16: unknown
	RefID    string // ".GPS." for stratum 1, an address otherwise
	Tally    byte   // '*' '+' '-' 'x' '#' or ' '
	WhenS    int64  // seconds since the last reply, -1: never
	PollS    int64
	Reach    uint8
	DelayNs  float64
	OffsetNs float64 // upstream minus our clock
	JitterNs float64
	// DispersionNs is the filter dispersion now.
	DispersionNs float64
	KoD          string // the last kiss code ("" none); Stopped: DENY/RSTR
	Stopped      bool
	NoSelect     bool
	Prefer       bool
	Drops        uint64 // replies dropped by the checks
	LastError    string // "" while all is well
}

// Status returns every association, in configuration order.
func (c *Client) Status() []SourceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.selectLocked(now)
	var out []SourceStatus
	for _, s := range c.sources {
		if len(s.assocs) == 0 {
			st := SourceStatus{Host: s.up.Host, Pool: s.up.Pool, Stratum: 16, RefID: ".INIT.", Tally: TallyNotUsed,
				WhenS: -1, PollS: int64(1) << s.up.MinPoll, NoSelect: s.up.NoSelect, Prefer: s.up.Prefer, LastError: s.resolveErr}
			if s.up.Pool {
				st.RefID = ".POOL."
			}
			if st.LastError == "" {
				st.LastError = "resolving"
			}
			out = append(out, st)
			continue
		}
		for _, a := range s.assocs {
			st := SourceStatus{Addr: a.addr, Host: s.up.Host, Pool: s.up.Pool, Stratum: a.stratum, Tally: a.tally,
				WhenS: -1, PollS: int64(1) << a.pollLog2, Reach: a.reach, KoD: a.kod, Stopped: a.stopped,
				NoSelect: s.up.NoSelect, Prefer: s.up.Prefer, Drops: a.drops, LastError: a.lastErr, RefID: ".INIT."}
			if a.lastNs != 0 {
				st.WhenS = max(now-a.lastNs, 0) / 1e9
				st.RefID = refIDString(a.stratum, a.refid)
			}
			if f, ok := a.f.eval(now, c.slewedNs(now)); ok {
				st.DelayNs, st.OffsetNs, st.JitterNs, st.DispersionNs = f.delayNs, f.offsetNs, f.jitterNs, f.dispNs
			}
			out = append(out, st)
		}
	}
	return out
}

// refIDString shows a refid as ntpq does: ASCII between dots for a
// stratum 1 server, an IPv4 address above.
func refIDString(stratum int, id [4]byte) string {
	if stratum <= 1 {
		s := printable(id)
		for len(s) > 0 && s[len(s)-1] == '?' && id[len(s)-1] == 0 {
			s = s[:len(s)-1]
		}
		return "." + s + "."
	}
	return netip.AddrFrom4(id).String()
}

// String is a one-line summary for logs.
func (s SourceStatus) String() string {
	addr := s.Host
	if s.Addr.IsValid() {
		addr = s.Addr.String()
	}
	return string(s.Tally) + addr + " st " + strconv.Itoa(s.Stratum) + " reach " + strconv.FormatUint(uint64(s.Reach), 8)
}
