package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/simtime"
)

// DefaultDelay is when the burst for GPS second N starts after the PPS edge
// that marks N: u-blox M8 at 1 Hz starts its NMEA output ~100–150 ms after
// the top of the second.
const DefaultDelay = 120 * time.Millisecond

// Config configures a simulated receiver. Zero values mean defaults.
type Config struct {
	// Timeline maps host time to simulated GPS (UTC) time; the simulated PPS
	// source uses the same one.
	Timeline simtime.Timeline
	// Baud paces the output (10 bits per byte); default 9600.
	Baud int
	// Delay from the start of GPS second N (host time Timeline.HostAt(N·1e9))
	// to the burst's first byte; default DefaultDelay, allowed 50–900 ms.
	Delay time.Duration
	// DropFraction of bursts (0–1) are not sent at all.
	DropFraction float64
	// Silent, if set, says which GPS seconds (Unix seconds) get no burst:
	// a scripted outage (the receiver lost its antenna, or was unplugged).
	Silent func(gpsSecond int64) bool
	// Shift, if set, is how many seconds the burst of each GPS second
	// names too many: a receiver that labels its seconds wrong (a week
	// rollover, a spoofer, a leap second bug) while its timing is right.
	Shift func(gpsSecond int64) int64
	// GarbageFraction of bursts (0–1) get a run of junk bytes (binary, a cut
	// sentence) spliced in at a random point.
	GarbageFraction float64
	// Seed for drops, garbage and satellite jitter.
	Seed uint64
	// Leap, when ±1, makes the receiver announce a leap second (inserted
	// or deleted) at the end of the simulated UTC month, in a
	// UBX-NAV-TIMELS frame after every tenth burst (a u-blox set up by
	// board's init commands sends one a minute). The simulated time itself
	// never leaps.
	Leap int
	// LatDeg, LonDeg, AltM: the antenna position (default a field in
	// Cambridge, UK: 52.2053 N, 0.1218 E, 15 m).
	LatDeg, LonDeg, AltM float64
}

// Stats counts what the simulator did.
type Stats struct {
	Bursts  uint64 // bursts written
	Dropped uint64 // bursts skipped by DropFraction
	Silent  uint64 // seconds left out by Silent
	Garbage uint64 // bursts with junk spliced in
	Trimmed uint64 // bursts shortened to fit the second at this baud
	Late    uint64 // bursts whose start was missed by more than a second (host stalled)
}

// Receiver is a simulated u-blox M8 writing NMEA to w (a pty master).
type Receiver struct {
	cfg Config
	w   io.Writer
	rng *rand.Rand
	bt  time.Duration

	bursts, dropped, silent, garbage, trimmed, late atomic.Uint64
}

// New returns a simulated receiver writing to w.
func New(cfg Config, w io.Writer) (*Receiver, error) {
	if w == nil {
		return nil, errors.New("sim: no writer")
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Delay == 0 {
		cfg.Delay = DefaultDelay
	}
	if cfg.Leap < -1 || cfg.Leap > 1 {
		return nil, fmt.Errorf("sim: leap %d, want -1, 0 or +1", cfg.Leap)
	}
	if cfg.Delay < 50*time.Millisecond || cfg.Delay > 900*time.Millisecond {
		return nil, fmt.Errorf("sim: delay %v outside 50–900 ms", cfg.Delay)
	}
	if cfg.Baud < 1200 {
		return nil, fmt.Errorf("sim: baud %d too low", cfg.Baud)
	}
	if cfg.DropFraction < 0 || cfg.DropFraction > 1 || cfg.GarbageFraction < 0 || cfg.GarbageFraction > 1 {
		return nil, errors.New("sim: fractions must be in [0, 1]")
	}
	if cfg.LatDeg == 0 && cfg.LonDeg == 0 {
		cfg.LatDeg, cfg.LonDeg, cfg.AltM = 52.2053, 0.1218, 15
	}
	r := &Receiver{cfg: cfg, w: w, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		bt: time.Duration(10 * int64(time.Second) / int64(cfg.Baud))}
	if min := len(r.minimalBurst(0)); r.wire(min) > time.Second-cfg.Delay {
		return nil, fmt.Errorf("sim: at %d baud even RMC+GGA+ZDA (%d bytes) do not fit between delay %v and the next second",
			cfg.Baud, min, cfg.Delay)
	}
	return r, nil
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	return Stats{Bursts: r.bursts.Load(), Dropped: r.dropped.Load(), Silent: r.silent.Load(), Garbage: r.garbage.Load(),
		Trimmed: r.trimmed.Load(), Late: r.late.Load()}
}

func (r *Receiver) wire(n int) time.Duration { return time.Duration(n) * r.bt }

// BurstStartNs returns the host time (ns) at which the burst naming GPS
// second n starts: Timeline.HostAt(n·1e9) + Delay.
func (r *Receiver) BurstStartNs(n int64) int64 {
	return r.cfg.Timeline.HostAt(n*int64(time.Second)) + int64(r.cfg.Delay)
}

// Run writes one burst per simulated GPS second until ctx is done, against
// absolute host-time deadlines (time.Now), so no drift accumulates. It
// returns ctx.Err() or a write error.
func (r *Receiver) Run(ctx context.Context) error {
	now := time.Now().UnixNano()
	n := r.cfg.Timeline.GPSAt(now)/int64(time.Second) + 1
	for r.BurstStartNs(n) < now {
		n++
	}
	for {
		start := r.BurstStartNs(n)
		if lag := time.Now().UnixNano() - start; lag > int64(time.Second) {
			// The host stalled: skip to the next second we can still make.
			r.late.Add(1)
			n += lag / int64(time.Second)
			continue
		}
		if err := sleepUntil(ctx, start); err != nil {
			return err
		}
		if r.cfg.Silent != nil && r.cfg.Silent(n) {
			r.silent.Add(1)
			n++
			continue
		}
		if r.cfg.DropFraction > 0 && r.rng.Float64() < r.cfg.DropFraction {
			r.dropped.Add(1)
			n++
			continue
		}
		label := n
		if r.cfg.Shift != nil {
			label += r.cfg.Shift(n)
		}
		b := r.Burst(label)
		if err := r.writePaced(ctx, b, start); err != nil {
			return err
		}
		r.bursts.Add(1)
		n++
	}
}

func sleepUntil(ctx context.Context, ns int64) error {
	d := time.Duration(ns - time.Now().UnixNano())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// writePaced writes b as a UART would deliver it starting at host time
// startNs: in chunks, each written when its last byte would have finished
// on the wire, so a reader that timestamps a read and subtracts (n-1) byte
// times recovers startNs for the first byte.
func (r *Receiver) writePaced(ctx context.Context, b []byte, startNs int64) error {
	chunk := max(1, r.cfg.Baud/1200) // ~8 ms of wire time per write
	for i := 0; i < len(b); i += chunk {
		j := min(i+chunk, len(b))
		if err := sleepUntil(ctx, startNs+int64(j-1)*int64(r.bt)); err != nil {
			return err
		}
		if _, err := r.w.Write(b[i:j]); err != nil {
			return fmt.Errorf("sim: write: %w", err)
		}
	}
	return nil
}

// satellite is a simulated space vehicle.
type satellite struct{ prn, el, az, snr int }

var gpsSats = []satellite{{2, 67, 95, 44}, {5, 23, 310, 36}, {6, 41, 182, 41}, {12, 55, 248, 42}, {17, 12, 45, 31}, {19, 34, 121, 39}, {24, 71, 14, 45}, {25, 8, 280, 0}, {29, 18, 202, 33}}
var gloSats = []satellite{{65, 48, 60, 40}, {66, 22, 110, 35}, {72, 61, 300, 43}, {80, 30, 230, 38}, {81, 14, 170, 0}, {87, 52, 20, 41}}

// minimalBurst is what must fit in a second: RMC, GGA, ZDA.
func (r *Receiver) minimalBurst(n int64) []byte {
	t := time.Unix(n, 0).UTC()
	var b []byte
	b = appendSentence(b, r.rmc(t))
	b = appendSentence(b, r.gga(t))
	b = appendSentence(b, zda(t))
	return b
}

// Burst returns the NMEA burst for GPS second n (seconds since the Unix
// epoch, UTC), as a u-blox M8 sends it with its default messages plus ZDA:
// GNRMC, GNVTG, GNGGA, GNGSA (GPS), GNGSA (GLONASS), GPGSV…, GLGSV…, GNGLL,
// GNZDA. GSV and then GLL/VTG are left out when the burst would not fit
// between Delay and the next second at this baud (a real receiver drops
// output too). Garbage is spliced in per GarbageFraction.
func (r *Receiver) Burst(n int64) []byte {
	t := time.Unix(n, 0).UTC()
	budget := time.Second - r.cfg.Delay - 20*time.Millisecond
	gsv := appendGSV(nil, "GP", gpsSats)
	gsv = appendGSV(gsv, "GL", gloSats)
	var b []byte
	b = appendSentence(b, r.rmc(t))
	b = appendSentence(b, "GNVTG,,T,,M,0.012,N,0.022,K,A")
	b = appendSentence(b, r.gga(t))
	b = appendSentence(b, gsa(gpsSats))
	b = appendSentence(b, gsa(gloSats))
	withoutGSV := len(b)
	b = append(b, gsv...)
	gll := "GNGLL," + latField(r.cfg.LatDeg) + "," + lonField(r.cfg.LonDeg) + "," + t.Format("150405") + ".00,A,A"
	b = appendSentence(b, gll)
	b = appendSentence(b, zda(t))
	ls := r.leapFrame(n)
	if r.wire(len(b)+len(ls)) > budget {
		r.trimmed.Add(1)
		b = b[:withoutGSV]
		b = appendSentence(b, gll)
		b = appendSentence(b, zda(t))
		if r.wire(len(b)+len(ls)) > budget {
			b = r.minimalBurst(n)
		}
	}
	b = append(b, ls...)
	if r.cfg.GarbageFraction > 0 && r.rng.Float64() < r.cfg.GarbageFraction {
		r.garbage.Add(1)
		at := r.rng.IntN(len(b))
		junk := []byte{0, 0xff, 0xb5, 0x62, 0x01, 0x07, '$', 'G', 'P', 'G', 'G', 'A', ',', '1'}
		b = append(b[:at:at], append(junk, b[at:]...)...)
	}
	return b
}

// leapFrame is the UBX-NAV-TIMELS frame that follows burst n (GPS second n
// since the Unix epoch), or nil: every tenth second when Config.Leap is
// set, announcing the leap at the end of second n's UTC month.
func (r *Receiver) leapFrame(n int64) []byte {
	if r.cfg.Leap == 0 || n%10 != 0 {
		return nil
	}
	t := time.Unix(n, 0).UTC()
	end := time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	return gps.AppendUBX(nil, gps.UBXNavTimeLS.Class, gps.UBXNavTimeLS.ID,
		gps.NavTimeLSPayload(18, r.cfg.Leap, int32(end.Unix()-n)))
}

func (r *Receiver) rmc(t time.Time) string {
	return "GNRMC," + t.Format("150405") + ".00,A," + latField(r.cfg.LatDeg) + "," + lonField(r.cfg.LonDeg) +
		",0.012,," + t.Format("020106") + ",,,A"
}

func (r *Receiver) gga(t time.Time) string {
	return "GNGGA," + t.Format("150405") + ".00," + latField(r.cfg.LatDeg) + "," + lonField(r.cfg.LonDeg) +
		",1," + fmt.Sprintf("%02d", countUsed()) + ",0.78," + strconv.FormatFloat(r.cfg.AltM, 'f', 1, 64) + ",M,47.0,M,,"
}

func zda(t time.Time) string {
	return "GNZDA," + t.Format("150405") + ".00," + t.Format("02,01,2006") + ",00,00"
}

func countUsed() int {
	n := 0
	for _, s := range append(gpsSats[:len(gpsSats):len(gpsSats)], gloSats...) {
		if s.snr > 0 {
			n++
		}
	}
	return n
}

func gsa(sats []satellite) string {
	s := "GNGSA,A,3"
	k := 0
	for _, v := range sats {
		if v.snr > 0 && k < 12 {
			s += "," + fmt.Sprintf("%02d", v.prn)
			k++
		}
	}
	for ; k < 12; k++ {
		s += ","
	}
	return s + ",1.32,0.78,1.06"
}

func appendGSV(b []byte, talker string, sats []satellite) []byte {
	total := (len(sats) + 3) / 4
	for i := 0; i < total; i++ {
		s := fmt.Sprintf("%sGSV,%d,%d,%02d", talker, total, i+1, len(sats))
		for _, v := range sats[i*4 : min(len(sats), i*4+4)] {
			snr := ""
			if v.snr > 0 {
				snr = fmt.Sprintf("%02d", v.snr)
			}
			s += fmt.Sprintf(",%02d,%02d,%03d,%s", v.prn, v.el, v.az, snr)
		}
		b = appendSentence(b, s)
	}
	return b
}

// latField formats degrees as NMEA ddmm.mmmmm,H.
func latField(deg float64) string { return angleField(deg, 2, "N", "S") }

// lonField formats degrees as NMEA dddmm.mmmmm,H.
func lonField(deg float64) string { return angleField(deg, 3, "E", "W") }

// angleField formats |deg| as NMEA degrees (width digits) and minutes, then
// the hemisphere: pos for deg ≥ 0, neg below.
func angleField(deg float64, width int, pos, neg string) string {
	h := pos
	if deg < 0 {
		h, deg = neg, -deg
	}
	d := math.Floor(deg)
	return fmt.Sprintf("%0*d%08.5f,%s", width, int(d), (deg-d)*60, h)
}

// appendSentence appends "$body*hh\r\n".
func appendSentence(b []byte, body string) []byte {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	const hexd = "0123456789ABCDEF"
	b = append(b, '$')
	b = append(b, body...)
	return append(b, '*', hexd[x>>4], hexd[x&15], '\r', '\n')
}
