package discipline

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// System is the clock backend of the appliance: it steers the kernel's
// CLOCK_REALTIME with clock_adjtime(2), so every program on the board (and
// the kernel's own timestamps) sees disciplined time. Served time is
// CLOCK_REALTIME itself: Map is the identity.
//
// Never construct it outside the appliance or a VM: it changes the host's
// clock. It needs CAP_SYS_TIME.
//
// Units (adjtimex(2)): freq is ppm with a 16-bit binary fraction ("scaled
// ppm"), limited by the kernel to ±500 ppm, tick is µs per USER_HZ tick
// (nominal 10000, ±10 %); ADJ_SETOFFSET takes a timeval
// whose tv_usec holds nanoseconds when ADJ_NANO is set, and must be
// normalised (0 ≤ tv_usec < 1e9). maxerror/esterror are µs.
type System struct {
	mu       sync.Mutex
	freqPPB  float64
	leapBits int32 // STA_INS or STA_DEL while a leap is scheduled today
	leapAtNs int64
	// failures counts clock_adjtime calls the kernel refused (lost
	// CAP_SYS_TIME, a value out of range); lastErr is the latest.
	failures uint64
	lastErr  error
}

// adjtime is clock_adjtime(CLOCK_REALTIME, tx) with the failure recorded
// (Failures). The caller holds mu.
func (s *System) adjtime(what string, tx *unix.Timex) bool {
	if _, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, tx); err != nil {
		s.failures++
		s.lastErr = fmt.Errorf("clock_adjtime(%s): %w", what, err)
		return false
	}
	return true
}

// Failures returns how many times the kernel refused a change, and the
// latest refusal (Clock.Failures).
func (s *System) Failures() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures, s.lastErr
}

// OpenSystem takes over CLOCK_REALTIME: it switches off the kernel's own
// PLL/FLL and PPS discipline (we are the discipline), keeps the current
// frequency, and marks the clock unsynchronised until told otherwise.
func OpenSystem() (*System, error) {
	var tx unix.Timex
	if _, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx); err != nil {
		return nil, fmt.Errorf("clock_adjtime(CLOCK_REALTIME, read): %w", err)
	}
	s := &System{freqPPB: joinFreq(int64(tx.Tick), int64(tx.Freq))}
	tx = unix.Timex{
		Modes:  unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR,
		Status: unix.STA_UNSYNC,
	}
	// 16 s: "unknown", as the kernel itself initialises it
	// (NTP_PHASE_LIMIT); timedatectl then says "not synchronized".
	tx.Maxerror, tx.Esterror = 16_000_000, 16_000_000
	if _, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx); err != nil {
		return nil, fmt.Errorf("clock_adjtime(CLOCK_REALTIME, ADJ_STATUS): %w (needs CAP_SYS_TIME)", err)
	}
	return s, nil
}

// Now returns CLOCK_REALTIME.
func (s *System) Now() int64 { return time.Now().UnixNano() }

// Map is the identity: kernel timestamps are already served time.
func (s *System) Map(realtimeNs int64) int64 { return realtimeNs }

// SetFrequency sets the kernel clock's frequency correction, clamped to
// ±MaxClockFreqPPB: ADJ_FREQUENCY reaches ±500 ppm, the rest is the tick
// length (ADJ_TICK, see splitFreq).
func (s *System) SetFrequency(freqPPB float64) {
	freqPPB = clamp(freqPPB, MaxClockFreqPPB)
	tickUs, scaledPPM := splitFreq(freqPPB)
	tx := unix.Timex{Modes: unix.ADJ_FREQUENCY | unix.ADJ_TICK}
	// Timex fields are C longs: 32 bits on arm (see clong*_linux.go).
	tx.Freq, tx.Tick = cLong(scaledPPM), cLong(tickUs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adjtime("ADJ_FREQUENCY|ADJ_TICK", &tx) {
		s.freqPPB = freqPPB
	}
}

// The kernel's tick (adjtimex(2) "tick"): microseconds added to the clock
// per USER_HZ tick, nominally 1e6/USER_HZ (USER_HZ is 100 on every Linux
// architecture), accepted within ±10 %. One microsecond more per tick runs
// the clock 100 ppm faster.
const (
	nominalTickUs = 10_000
	tickStepPPB   = 1e9 / nominalTickUs // 100 ppm per µs of tick
)

// splitFreq splits a frequency correction (ppb, positive: faster) into the
// kernel's tick length (µs per tick) and its frequency (scaled ppm: ppm
// with a 16-bit binary fraction), the tick taking whole 100 ppm steps and
// the frequency the remainder (within ±50 ppm, so the frequency's finer
// resolution does the fine part).
func splitFreq(freqPPB float64) (tickUs int64, scaledPPM int64) {
	steps := math.Round(freqPPB / tickStepPPB)
	rest := freqPPB - steps*tickStepPPB
	return nominalTickUs + int64(steps), int64(math.Round(rest * 65536 / 1000))
}

// joinFreq is splitFreq's inverse: the frequency correction (ppb) of a
// kernel tick and frequency.
func joinFreq(tickUs, scaledPPM int64) float64 {
	return float64(tickUs-nominalTickUs)*tickStepPPB + float64(scaledPPM)*1000/65536
}

// Step moves CLOCK_REALTIME by deltaNs atomically (ADJ_SETOFFSET), without
// the read-modify-write race of settimeofday.
func (s *System) Step(deltaNs int64) {
	sec, nsec := deltaNs/1e9, deltaNs%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO}
	tx.Time.Sec, tx.Time.Usec = cLong(sec), cLong(nsec)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adjtime("ADJ_SETOFFSET", &tx)
}

// leapBits returns the kernel status bit that makes the kernel carry out
// leap event e at the coming UTC midnight, and whether to arm it now: only
// in the last day before it (the kernel acts at the next midnight after the
// bit is set, so armed earlier it would leap a day early).
func leapBits(nowNs int64, e LeapEvent) (int32, bool) {
	if e.AtNs <= nowNs || e.AtNs-nowNs > 86400e9 {
		return 0, false
	}
	if e.Insert {
		return unix.STA_INS, true
	}
	return unix.STA_DEL, true
}

// kernelStatus is the timex status to write: the armed leap bit until its
// midnight has passed (pending false after), and STA_UNSYNC when not
// synchronised.
func kernelStatus(nowNs int64, synced bool, leap int32, leapAtNs int64) (status int32, pending bool) {
	pending = leapAtNs != 0 && nowNs < leapAtNs
	if pending {
		status = leap
	}
	if !synced {
		status |= unix.STA_UNSYNC
	}
	return status, pending
}

// ScheduleLeap arms the kernel's leap second (STA_INS or STA_DEL, see
// adjtimex(2)): the kernel inserts 23:59:60 (or skips 23:59:59) at the
// next UTC midnight, so it is armed only during the last day before
// e.AtNs; ReportSync keeps the bit set until then.
func (s *System) ScheduleLeap(e LeapEvent) {
	bits, ok := leapBits(time.Now().UnixNano(), e)
	if !ok {
		return
	}
	s.mu.Lock()
	s.leapBits, s.leapAtNs = bits, e.AtNs
	s.mu.Unlock()
}

// ReportSync tells the kernel (and through it timedatectl, adjtimex and
// every NTP-aware program) whether the clock is synchronised and how good
// it is: STA_UNSYNC, maxerror and esterror in µs.
func (s *System) ReportSync(synced bool, maxErrorNs, estErrorNs int64) {
	s.mu.Lock()
	st, pending := kernelStatus(time.Now().UnixNano(), synced, s.leapBits, s.leapAtNs)
	if !pending {
		s.leapBits, s.leapAtNs = 0, 0 // the kernel has done it
	}
	s.mu.Unlock()
	tx := unix.Timex{Modes: unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR, Status: st}
	tx.Maxerror, tx.Esterror = cLong(maxErrorNs/1000), cLong(estErrorNs/1000)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adjtime("ADJ_STATUS", &tx)
}
