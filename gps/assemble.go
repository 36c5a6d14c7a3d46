package gps

import (
	"strconv"
	"time"
)

// Distrust says why an epoch that named a time of day is not trusted
// (Fix.Distrust). DistrustNone: trusted, or no time of day at all.
type Distrust uint8

const (
	DistrustNone        Distrust = iota
	DistrustStatusV              // an RMC of the epoch says status V
	DistrustDisagree             // RMC and ZDA name different dates
	DistrustBackwards            // not after the previous dated epoch
	DistrustGLLOnly              // only GLL named the time (no date, late on some receivers)
	DistrustBeforeEpoch          // date before 1980-01-06: a receiver default
	DistrustLeap                 // second 60 not at the end of a month
	DistrustNoDate               // GGA/GNS time of day, no date to inherit
)

// distrustText is what status screens show for each reason.
var distrustText = [...]string{
	DistrustNone:        "",
	DistrustStatusV:     "RMC status V",
	DistrustDisagree:    "ZDA and RMC dates disagree",
	DistrustBackwards:   "time did not advance",
	DistrustGLLOnly:     "time of day only from GLL",
	DistrustBeforeEpoch: "date before the GPS epoch",
	DistrustLeap:        "second 60 not at the end of a month",
	DistrustNoDate:      "no date yet",
}

// String is the reason in words ("" for DistrustNone), as status shows it.
func (d Distrust) String() string {
	if int(d) < len(distrustText) {
		return distrustText[d]
	}
	return "Distrust(" + strconv.Itoa(int(d)) + ")"
}

// DefaultBurstGap: a silence this long between the end of one line and the
// start of the next separates two bursts (receiver cycles). Inside a burst a
// receiver writes back to back (gaps of a byte time or a few ms); between
// bursts it is silent for the rest of the cycle (≥ ~50 ms even at 10 Hz).
const DefaultBurstGap = 50 * time.Millisecond

// maxEpochSentences bounds an epoch that never sees a time change (a receiver
// without a fix that sends empty time fields, offline input without gaps).
const maxEpochSentences = 64

// maxSatellites bounds Fix.Satellites.
const maxSatellites = 64

// AssemblerStats counts epoch outcomes.
type AssemblerStats struct {
	Epochs      uint64 // fixes emitted
	Trusted     uint64 // with TimeValid
	Untimed     uint64 // no time of day at all
	NoDate      uint64 // time of day but no date source yet
	StatusV     uint64
	Disagree    uint64
	Backwards   uint64
	GLLOnly     uint64
	BeforeEpoch uint64
	BadLeap     uint64
	Late        uint64 // timed sentence for an epoch already emitted: dropped
	Orphans     uint64 // untimed sentences left over at a burst gap: dropped
	EnderFlush  uint64 // epochs emitted on the learnt cycle-ending sentence
	ChangeFlush uint64 // epochs emitted when the next epoch's time arrived
	GapFlush    uint64 // epochs emitted at a burst gap
	SizeFlush   uint64 // epochs cut at maxEpochSentences
	LeapNotices uint64 // UBX-NAV-TIMELS messages read
}

// sentenceKey identifies a sentence's role in the cycle: talker+type, and for
// GSV whether it is the last part of its group.
type sentenceKey struct {
	talker, typ string
	notLast     bool
}

type epoch struct {
	n            int
	arrivalNs    int64
	hasTOD       bool
	todNs        int64
	leap         bool
	timedKinds   uint16 // bit per Kind that carried the time of day
	rmcA, rmcV   bool
	rmcVUntimed  bool
	rmcDate      civilDate
	zdaDate      civilDate
	quality      int // max GGA quality, -1 none
	gnsSeen      bool
	gnsFix       bool
	gllA, gllV   bool
	faaNoFix     bool
	fixType      int
	alt          bool
	sats         int
	hasSats      bool
	gsaUsed      int
	hdop, pdop   float64
	hasPos       bool
	lat, lon, am float64
	satellites   []Satellite
	used         [64]int
	nused        int
	inView       [8]struct {
		talker string
		n      int
	}
	nInView int
	keys    [16]struct {
		k sentenceKey
		n int
	}
	nkeys   int
	last    sentenceKey
	lastOrd int
}

func (e *epoch) reset() {
	sats := e.satellites[:0]
	*e = epoch{quality: -1, satellites: sats}
}

// ordinal counts k in the epoch and returns how many times it has been seen.
func (e *epoch) ordinal(k sentenceKey) int {
	for i := 0; i < e.nkeys; i++ {
		if e.keys[i].k == k {
			e.keys[i].n++
			return e.keys[i].n
		}
	}
	if e.nkeys < len(e.keys) {
		e.keys[e.nkeys].k = k
		e.keys[e.nkeys].n = 1
		e.nkeys++
	}
	return 1
}

func (e *epoch) add(s *Sentence) {
	if e.n == 0 {
		e.arrivalNs = s.ArrivalNs
	}
	e.n++
	if s.HasTOD && !e.hasTOD {
		e.hasTOD, e.todNs, e.leap = true, s.TODNs, s.Leap
	}
	if s.HasTOD {
		e.timedKinds |= 1 << s.Kind
	}
	if s.HasPos && !e.hasPos {
		e.hasPos, e.lat, e.lon = true, s.LatDeg, s.LonDeg
	}
	if s.HasHDOP && e.hdop == 0 {
		e.hdop = s.HDOP
	}
	if s.FAAMode == 'N' {
		e.faaNoFix = true
	}
	switch s.Kind {
	case KindRMC:
		switch s.Status {
		case 'A':
			e.rmcA = true
			if s.Date.Year != 0 {
				e.rmcDate = s.Date
			}
		case 'V':
			// Only a V sentence that names this epoch's time condemns it; an
			// empty-time V RMC (Telit: the cycle's RMC goes out before the
			// solution) says nothing about the time the GGA then reports.
			if s.HasTOD {
				e.rmcV = true
			} else {
				e.rmcVUntimed = true
			}
		}
	case KindZDA:
		if s.Date.Year != 0 {
			e.zdaDate = s.Date
		}
	case KindGGA:
		if s.Quality > e.quality {
			e.quality = s.Quality
		}
		e.setCommon(s)
	case KindGNS:
		e.gnsSeen = true
		if s.GNSFix {
			e.gnsFix = true
		}
		e.setCommon(s)
	case KindGLL:
		switch s.Status {
		case 'A':
			e.gllA = true
		case 'V':
			e.gllV = true
		}
	case KindGSA:
		if s.FixType > e.fixType {
			e.fixType = s.FixType
		}
		if s.HasPDOP && e.pdop == 0 {
			e.pdop = s.PDOP
		}
		for i := 0; i < s.NPRNs && e.nused < len(e.used); i++ {
			e.used[e.nused] = s.PRNs[i]
			e.nused++
		}
		e.gsaUsed += s.NPRNs
	case KindGSV:
		if s.HasInView {
			found := false
			for i := 0; i < e.nInView; i++ {
				if e.inView[i].talker == s.Talker {
					found = true
					e.inView[i].n = max(e.inView[i].n, s.InView)
				}
			}
			if !found && e.nInView < len(e.inView) {
				e.inView[e.nInView].talker = s.Talker
				e.inView[e.nInView].n = s.InView
				e.nInView++
			}
		}
		for i := 0; i < s.NGSV && len(e.satellites) < maxSatellites; i++ {
			e.satellites = append(e.satellites, s.GSV[i])
		}
	}
}

func (e *epoch) setCommon(s *Sentence) {
	if s.HasAlt {
		e.alt = true
		e.am = s.AltM
	}
	if s.HasSats && !e.hasSats {
		e.sats, e.hasSats = s.Sats, true
	}
}

// mode is the epoch's fix mode: GSA's fix type when present; else GGA
// quality (0: no fix; otherwise 3D with an altitude, 2D without), GNS mode
// letters likewise; else RMC/GLL status (A: 2D, V: no fix).
func (e *epoch) mode() Mode {
	switch {
	case e.fixType >= 1 && e.fixType <= 3:
		return Mode(e.fixType)
	case e.quality >= 0 || e.gnsSeen:
		if e.quality == 0 || (e.quality < 0 && !e.gnsFix) {
			return ModeNoFix
		}
		if e.alt {
			return Mode3D
		}
		return Mode2D
	case e.rmcA && !e.faaNoFix:
		return Mode2D
	case e.rmcA || e.rmcV || e.rmcVUntimed || e.gllV:
		return ModeNoFix
	case e.gllA:
		return Mode2D
	}
	return ModeUnknown
}

// Assembler groups decoded sentences into receiver epochs (one burst per
// navigation solution, 1–10 Hz) and turns each into a Fix. It is pure: the
// arrival times come with the sentences.
//
// An epoch ends when (1) the learnt cycle-ending sentence arrives (learnt as
// the last sentence of the two previous epochs, counting repeats such as a
// second GNGSA and only the last part of a GSV group), (2) a sentence names
// a different time of day, (3) a silence of BurstGap separates bursts (only
// with real arrival times), or (4) Flush is called.
type Assembler struct {
	floor    time.Time
	burstGap int64
	cur      epoch
	// model names the receiver (Decoder.Model) in every Fix.
	model string
	// damaged: lines were lost to garbage during the epoch in progress (or
	// just before it): its last sentence may not be the cycle's last, so
	// it does not teach the cycle-ending sentence.
	damaged bool

	ender     sentenceKey
	enderOrd  int
	enderSeen int

	lastFlushedTOD  int64
	lastFlushedLeap bool
	haveFlushed     bool

	// prev: the last dated epoch that passed every check but the
	// monotonicity check (for that check).
	prev     time.Time
	prevLeap bool
	havePrev bool
	// last trusted epoch: date inheritance for GGA/GNS-only epochs.
	lastTrusted        time.Time
	lastTrustedArrival int64
	haveTrusted        bool

	// leap: the receiver's latest leap second announcement (ubx), its
	// time to the event not yet turned into a date while leapPending.
	leap        LeapNotice
	leapTTES    int64
	leapPending bool

	stats AssemblerStats
}

// NewAssembler returns an assembler that unfolds GPS week rollovers against
// floor (see UnfoldRollover; zero → DefaultReferenceDate) and splits bursts at
// burstGap (0 → DefaultBurstGap).
func NewAssembler(floor time.Time, burstGap time.Duration) *Assembler {
	if floor.IsZero() {
		floor = DefaultReferenceDate
	}
	if burstGap <= 0 {
		burstGap = DefaultBurstGap
	}
	a := &Assembler{floor: floor, burstGap: int64(burstGap)}
	a.cur.reset()
	return a
}

// Stats returns the counters.
func (a *Assembler) Stats() AssemblerStats { return a.stats }

// Add adds one decoded sentence and appends any completed epochs to dst.
func (a *Assembler) Add(dst []Fix, s *Sentence) []Fix {
	if a.cur.n > 0 && s.QuietNs > a.burstGap {
		if a.cur.hasTOD {
			a.stats.GapFlush++
			dst = a.flush(dst)
		} else {
			// Untimed sentences after an epoch was emitted, in the same
			// burst: the learnt ender came too early (garbage ate the real
			// one twice in a row). Learn the cycle again.
			a.stats.Orphans += uint64(a.cur.n)
			a.cur.reset()
			a.enderSeen = 0
		}
	}
	if s.HasTOD {
		switch {
		case a.cur.hasTOD && (s.TODNs != a.cur.todNs || s.Leap != a.cur.leap):
			a.stats.ChangeFlush++
			dst = a.flush(dst)
		case !a.cur.hasTOD && a.haveFlushed && s.TODNs == a.lastFlushedTOD && s.Leap == a.lastFlushedLeap:
			// The epoch was emitted early: the learnt ender was wrong.
			a.stats.Late++
			a.enderSeen = 0
			return dst
		}
	}
	if a.cur.n >= maxEpochSentences {
		a.stats.SizeFlush++
		dst = a.flush(dst)
	}
	a.cur.add(s)
	k := sentenceKey{talker: s.Talker, typ: s.Type, notLast: s.Kind == KindGSV && s.GSVNum != s.GSVTotal}
	ord := a.cur.ordinal(k)
	a.cur.last, a.cur.lastOrd = k, ord
	if a.enderSeen >= 2 && k == a.ender && ord == a.enderOrd {
		a.stats.EnderFlush++
		dst = a.flush(dst)
	}
	return dst
}

// Flush emits the epoch in progress, if any (end of input, or the reader saw
// the line go quiet).
func (a *Assembler) Flush(dst []Fix) []Fix {
	return a.flush(dst)
}

// Reset forgets the epoch in progress and the learnt cycle (after the device
// was lost), keeping the date memory.
func (a *Assembler) Reset() {
	a.cur.reset()
	a.damaged = false
	a.enderSeen = 0
	a.haveFlushed = false
}

func (a *Assembler) flush(dst []Fix) []Fix {
	e := &a.cur
	if e.n == 0 {
		return dst
	}
	switch {
	case a.damaged:
		// Learn nothing: two epochs in a row cut short by garbage would
		// otherwise teach a wrong ender, and cut the next clean epoch short.
		a.damaged = false
	case e.last == a.ender && e.lastOrd == a.enderOrd:
		a.enderSeen++
	default:
		a.ender, a.enderOrd, a.enderSeen = e.last, e.lastOrd, 1
	}
	f := Fix{
		ArrivalNs: e.arrivalNs,
		Sentences: e.n,
		Receiver:  a.model,
		Mode:      e.mode(),
		HDOP:      e.hdop,
		PDOP:      e.pdop,
	}
	if e.hasPos {
		f.LatDeg, f.LonDeg = e.lat, e.lon
	}
	if e.alt {
		f.AltM = e.am
	}
	f.SatsUsed = e.gsaUsed
	if e.hasSats {
		f.SatsUsed = e.sats
	}
	for i := 0; i < e.nInView; i++ {
		f.SatsInView += e.inView[i].n
	}
	if len(e.satellites) > 0 {
		f.Satellites = make([]Satellite, len(e.satellites))
		copy(f.Satellites, e.satellites)
		for i := range f.Satellites {
			for j := 0; j < e.nused; j++ {
				if e.used[j] == f.Satellites[i].PRN {
					f.Satellites[i].Used = true
				}
			}
		}
	}
	if e.hasTOD {
		a.resolveTime(&f, e)
		a.haveFlushed, a.lastFlushedTOD, a.lastFlushedLeap = true, e.todNs, e.leap
	} else {
		a.stats.Untimed++
	}
	if f.TimeValid {
		a.stats.Trusted++
		if a.leapPending {
			// The announcement came with this epoch or just before it:
			// the seconds to the event, from now, name the midnight (the
			// rounding absorbs the difference).
			a.leapPending = false
			if a.leap.Change != 0 {
				a.leap.At = nearestMidnight(f.Time.Add(time.Duration(a.leapTTES) * time.Second))
			}
		}
	}
	if !a.leapPending {
		f.Leap = a.leap
	}
	a.stats.Epochs++
	e.reset()
	return append(dst, f)
}

// forward reports whether (t, leap) comes after (p, pleap). A leap second
// (Time = 23:59:59, LeapSecond) comes after the 23:59:59 before it.
func forward(p time.Time, pleap bool, t time.Time, leap bool) bool {
	return t.After(p) || (t.Equal(p) && leap && !pleap)
}

func (a *Assembler) resolveTime(f *Fix, e *epoch) {
	tod := time.Duration(e.todNs)
	if e.leap {
		tod -= time.Second // 23:59:60.x is expressed as 23:59:59.x + LeapSecond
	}
	var (
		date   civilDate
		dated  bool
		reason Distrust
	)
	if e.rmcA && e.rmcDate.Year != 0 {
		date, dated = e.rmcDate, true
	}
	if e.zdaDate.Year != 0 {
		if dated && date != e.zdaDate {
			reason = DistrustDisagree
		}
		date, dated = e.zdaDate, true
	}
	var t time.Time
	switch {
	case e.rmcV:
		// The receiver says this epoch's solution is invalid: its time is
		// not used, not even to carry a date forward.
		reason = DistrustStatusV
	case dated:
		t = time.Date(date.Year, time.Month(date.Month), date.Day, 0, 0, 0, 0, time.UTC).Add(tod)
		var ok bool
		if t, ok = UnfoldRollover(t, a.floor); !ok && reason == DistrustNone {
			reason = DistrustBeforeEpoch
		}
	default:
		switch {
		case e.timedKinds&(1<<KindGGA|1<<KindGNS) == 0:
			reason = DistrustGLLOnly
			if !a.haveTrusted {
				reason = DistrustNoDate
			}
		case !a.haveTrusted:
			reason = DistrustNoDate
		case e.arrivalNs != 0 && a.lastTrustedArrival != 0 && e.arrivalNs-a.lastTrustedArrival > int64(6*time.Hour):
			reason = DistrustNoDate // too long ago to carry the date over
		default:
			y, m, d := a.lastTrusted.Date()
			t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(tod)
			if t.Before(a.lastTrusted.Add(-12 * time.Hour)) { // crossed midnight
				t = t.AddDate(0, 0, 1)
			}
			dated = true
		}
	}
	if reason == DistrustNone && e.leap {
		if y, m, d := t.Date(); d != daysIn(y, m) {
			reason = DistrustLeap
		}
	}
	if reason == DistrustNone && dated {
		if a.havePrev && !forward(a.prev, a.prevLeap, t, e.leap) {
			reason = DistrustBackwards
		}
		a.prev, a.prevLeap, a.havePrev = t, e.leap, true
	}
	switch reason {
	case DistrustNone:
		f.Time, f.TimeValid, f.LeapSecond = t, true, e.leap
		a.lastTrusted, a.lastTrustedArrival, a.haveTrusted = t, e.arrivalNs, true
		return
	case DistrustStatusV:
		a.stats.StatusV++
	case DistrustDisagree:
		a.stats.Disagree++
	case DistrustBackwards:
		a.stats.Backwards++
	case DistrustGLLOnly:
		a.stats.GLLOnly++
	case DistrustBeforeEpoch:
		a.stats.BeforeEpoch++
	case DistrustLeap:
		a.stats.BadLeap++
	case DistrustNoDate:
		a.stats.NoDate++
	}
	f.Distrust = reason
}

// nearestMidnight rounds t to the nearest UTC midnight.
func nearestMidnight(t time.Time) time.Time {
	return t.UTC().Add(12 * time.Hour).Truncate(24 * time.Hour)
}
