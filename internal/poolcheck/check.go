package poolcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// The monitor's pattern (ntppool/monitor client/monitor CheckHost).
const (
	DefaultQueries  = 3
	DefaultSpacing  = 2 * time.Second // "minimum headway", between queries
	DefaultTimeout  = 3 * time.Second // per query
	DefaultInterval = 9 * time.Minute // between checks, from each monitor
)

// Kiss codes the monitor acts on (RFC 5905 section 7.4).
const (
	kissRate = "RATE"
	kissDeny = "DENY"
	kissRstr = "RSTR"
)

// Config says what to check and how. Zero values mean the monitor's.
type Config struct {
	Addr    netip.AddrPort
	Queries int           // per check; 0: 3
	Spacing time.Duration // from one query's end to the next; 0: 2 s
	Timeout time.Duration // per query; 0: 3 s
}

func (c Config) withDefaults() Config {
	if c.Queries <= 0 {
		c.Queries = DefaultQueries
	}
	if c.Spacing <= 0 {
		c.Spacing = DefaultSpacing
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Query is one request and what came of it.
type Query struct {
	Sent     time.Time `json:"sent"`
	Kind     Kind      `json:"kind"`            // Replied, NoReply, a kiss, Unsync or StratumHigh
	Error    string    `json:"error,omitempty"` // why NoReply: timeout, refused
	OffsetNs int64     `json:"offset_ns"`       // server minus this machine, when Kind ≠ NoReply
	DelayNs  int64     `json:"delay_ns"`
	Stratum  int       `json:"stratum"`
	Leap     int       `json:"leap"`
	Kiss     string    `json:"kiss,omitempty"` // refid of a stratum-0 reply, when printable
	// KernelStamp: T4 is the kernel's receive time (SO_TIMESTAMPNS), not
	// a user-space reading.
	KernelStamp bool `json:"kernel_stamp"`
}

// Check is one check: its queries and their verdict.
type Check struct {
	At      time.Time `json:"at"`
	Result  Result    `json:"result"`
	Queries []Query   `json:"queries"`
}

// Checker runs checks of one server.
type Checker struct {
	cfg Config
}

// NewChecker returns a Checker of cfg.Addr.
func NewChecker(cfg Config) (*Checker, error) {
	if !cfg.Addr.IsValid() || cfg.Addr.Port() == 0 {
		return nil, fmt.Errorf("poolcheck: bad address %v", cfg.Addr)
	}
	return &Checker{cfg: cfg.withDefaults()}, nil
}

// Check sends the monitor's pattern and judges it as the monitor does: a
// kiss-o'-death or an unsynchronised reply ends the check with that
// verdict; otherwise the lowest-delay reply counts, and no reply at all is
// NoReply. An error means the check could not be made (no socket), not
// that the server failed it.
func (c *Checker) Check(ctx context.Context) (Check, error) {
	ch := Check{At: time.Now()}
	for i := range c.cfg.Queries {
		if i > 0 {
			if err := sleep(ctx, c.cfg.Spacing); err != nil {
				return ch, err
			}
		}
		q, err := query(ctx, c.cfg.Addr, c.cfg.Timeout)
		if err != nil {
			return ch, err
		}
		ch.Queries = append(ch.Queries, q)
		if q.Kind != Replied && q.Kind != NoReply && q.Kind != StratumHigh {
			break
		}
	}
	ch.Result = judge(ch.Queries)
	return ch, nil
}

// judge is the check's verdict from its queries (the monitor's
// CheckHost: the first kiss or unsynchronised reply ends it, else the
// lowest delay among the replies).
func judge(qs []Query) Result {
	r := Result{Kind: NoReply, Queries: len(qs)}
	best := -1
	for i, q := range qs {
		switch q.Kind {
		case NoReply:
			continue
		case Replied, StratumHigh:
			if best < 0 || q.DelayNs < qs[best].DelayNs {
				best = i
			}
			continue
		}
		r.Kind, r.Query = q.Kind, i+1
		r.Stratum, r.Leap, r.Kiss = q.Stratum, q.Leap, q.Kiss
		return r
	}
	if best >= 0 {
		q := qs[best]
		r.Kind, r.OffsetNs, r.DelayNs, r.Stratum, r.Leap = q.Kind, q.OffsetNs, q.DelayNs, q.Stratum, q.Leap
		if q.Kind == StratumHigh {
			r.Query = best + 1
		}
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// query sends one client request from a fresh socket (as the monitor's
// beevik/ntp does) and waits up to timeout for its answer.
func query(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (Query, error) {
	q := Query{Kind: NoReply}
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	conn, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return q, fmt.Errorf("poolcheck: dial %s: %w", addr, err)
	}
	defer conn.Close()
	ntpserve.EnableRxTimestamps(conn)

	// The transmit timestamp is a random nonce, not our clock (as
	// package upstream and chrony do): the reply's origin must echo it,
	// which tells our reply from a stray one.
	nonce := ntpserve.Timestamp(rand.Uint64() | 1)
	var req [ntpserve.HeaderLen]byte
	h := ntpserve.Header{Version: 4, Mode: ntpserve.ModeClient, Transmit: nonce}
	h.Encode(req[:])

	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return q, fmt.Errorf("poolcheck: set deadline: %w", err)
	}
	q.Sent = time.Now()
	t1 := q.Sent.UnixNano()
	if _, err := conn.Write(req[:]); err != nil {
		if refused(err) {
			q.Error = "refused (ICMP port unreachable)"
			return q, nil
		}
		return q, fmt.Errorf("poolcheck: send to %s: %w", addr, err)
	}
	buf := make([]byte, 1024)
	oob := make([]byte, 256)
	for {
		n, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
		t4 := time.Now().UnixNano()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			q.Error = fmt.Sprintf("no answer within %s", timeout)
			if ctx.Err() != nil {
				return q, ctx.Err()
			}
			return q, nil
		case refused(err):
			q.Error = "refused (ICMP port unreachable)"
			return q, nil
		case err != nil:
			return q, fmt.Errorf("poolcheck: read from %s: %w", addr, err)
		}
		var rh ntpserve.Header
		if rh.Decode(buf[:n]) != nil || rh.Mode != ntpserve.ModeServer || rh.Origin != nonce {
			continue // not the answer to this request
		}
		if rx := ntpserve.RxTimestamp(oob[:oobn]); rx != 0 {
			t4, q.KernelStamp = rx, true
		}
		classify(&q, rh, t1, t4)
		return q, nil
	}
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// classify fills q from a reply h to a request sent at t1 and received at
// t4 (ns since the Unix epoch, this machine's clock), in the order the
// monitor judges a reply: a kiss, then unsynchronised, then the stratum.
func classify(q *Query, h ntpserve.Header, t1, t4 int64) {
	q.Stratum, q.Leap = int(h.Stratum), int(h.Leap)
	if h.Stratum == 0 {
		q.Kiss = printable(h.RefID)
		switch q.Kiss {
		case kissRate:
			q.Kind = KissRate
		case kissDeny, kissRstr:
			q.Kind = KissDeny
		default:
			q.Kind = Unsync
		}
		return
	}
	if h.Stratum >= 16 || h.Leap == 3 {
		q.Kind = Unsync
		return
	}
	// RFC 5905 section 8: offset θ = ((T2−T1) + (T3−T4))/2, delay δ =
	// (T4−T1) − (T3−T2); the pivot decodes either NTP era.
	t2, t3 := h.Receive.UnixNs(t1), h.Transmit.UnixNs(t1)
	q.OffsetNs = ((t2 - t1) + (t3 - t4)) / 2
	q.DelayNs = (t4 - t1) - (t3 - t2)
	q.Kind = Replied
	if int(h.Stratum) >= stratumHigh {
		q.Kind = StratumHigh
	}
}

// printable is a stratum-0 refid as a kiss code: four printable ASCII
// characters, or "" (as beevik/ntp's KissCode, which the monitor uses).
func printable(id [4]byte) string {
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(id[:])
}
