package upstream

import (
	"net/netip"
	"testing"

	"github.com/gpsntp/gpsntp/config"
)

// fixedClock is a served clock that stands still.
type fixedClock int64

func (c fixedClock) Now() int64        { return int64(c) }
func (c fixedClock) Map(r int64) int64 { return r }

// testClient builds a client with one association per offset (ms), each
// with a few samples of 1 ms delay, without sockets.
func testClient(minSane int, offsetsMs []float64, opts []config.Upstream) *Client {
	const now = int64(1_750_000_000_000_000_000)
	c := &Client{cfg: Config{MinSane: minSane}, clock: fixedClock(now), byAddr: map[netip.AddrPort]*assoc{}}
	for i, off := range offsetsMs {
		s := &source{up: opts[i]}
		a := &assoc{src: s, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 123),
			pollLog2: 6, reach: 0xff, stratum: 1, lastNs: now, rootDisp: 100e3}
		for range 4 {
			a.f.add(measurement{offsetNs: off * 1e6, delayNs: 1e6, dispNs: 2e3, atNs: now})
		}
		s.assocs = []*assoc{a}
		c.sources = append(c.sources, s)
	}
	return c
}

func TestEstimateMinSaneAndNoselect(t *testing.T) {
	plain := config.Upstream{}
	noselect := config.Upstream{NoSelect: true}
	// Two agree, a noselect one far off is never a candidate.
	c := testClient(2, []float64{0.1, -0.1, 500}, []config.Upstream{plain, plain, noselect})
	est, ok := c.Estimate()
	if !ok || est.Truechimers != 2 || abs(est.OffsetNs) > 0.2e6 || est.Stratum != 2 {
		t.Errorf("Estimate = %+v, %v; want 2 truechimers near 0, stratum 2", est, ok)
	}
	st := c.Status()
	if st[2].Tally != TallyNotUsed || st[0].Tally == TallyNotUsed || st[1].Tally == TallyNotUsed {
		t.Errorf("tallies %q %q %q, want the noselect row (third) ' ' and the others used", st[0].Tally, st[1].Tally, st[2].Tally)
	}
	if est.RefID != [4]byte{192, 0, 2, 1} && est.RefID != [4]byte{192, 0, 2, 2} {
		t.Errorf("refid %v, want the system peer's IPv4 address", est.RefID)
	}
	// minsane 3: two truechimers are not enough.
	c = testClient(3, []float64{0.1, -0.1, 500}, []config.Upstream{plain, plain, noselect})
	if _, ok := c.Estimate(); ok {
		t.Errorf("Estimate ok with 2 truechimers and minsane 3")
	}
	// A prefer source among agreeing ones is the system peer.
	c = testClient(2, []float64{0.1, 0.4, -0.1}, []config.Upstream{plain, {Prefer: true}, plain})
	if est, ok := c.Estimate(); !ok || est.SystemPeer.Addr() != netip.AddrFrom4([4]byte{192, 0, 2, 2}) || abs(est.OffsetNs-0.4e6) > 1 {
		t.Errorf("Estimate with prefer = %+v, %v; want 192.0.2.2 and its offset", est, ok)
	}
}
