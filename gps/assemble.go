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
	DistrustGLLOnly              // no date, and only GLL named the time (Garmin 48 stamps GLL a second late)
	DistrustBeforeEpoch          // date before 1980-01-06: a receiver default
	DistrustLeap                 // second 60 not at the end of a month
	DistrustNoDate               // no date, and none to inherit (no trusted epoch, or over 6 h ago)
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

// epoch is what the sentences of one receiver epoch said so far. Flags
// named after a sentence and a status letter record that such a sentence
// was seen (rmcStatusA: an RMC with status A).
type epoch struct {
	nSentences int
	arrivalNs  int64 // host time of the first byte of the first sentence
	// hasTOD: a sentence named the time of day, todNs (ns since UTC
	// midnight); leapSecond: it was second 60 (todNs counts 86400 s).
	hasTOD     bool
	todNs      int64
	leapSecond bool
	timedKinds uint16 // bit per Kind that carried the time of day
	rmcStatusA bool
	rmcStatusV bool // a V RMC that named this epoch's time
	// rmcStatusVUntimed: a V RMC with an empty time field.
	rmcStatusVUntimed bool
	rmcDate           civilDate
	zdaDate           civilDate
	ggaQuality        int // highest GGA fix quality, -1 none
	gnsSeen           bool
	gnsFix            bool // a GNS mode letter other than N
	gllStatusA        bool
	gllStatusV        bool
	faaNoFix          bool // an FAA mode indicator N (no fix)
	gsaFixType        int  // highest GSA fix type (1 none, 2 2D, 3 3D), 0 none
	hasAlt            bool
	altM              float64 // GGA/GNS altitude above mean sea level, m
	satsUsed          int     // GGA/GNS satellites used
	hasSatsUsed       bool
	gsaSatsUsed       int // PRNs listed by the epoch's GSAs
	hdop, pdop        float64
	hasPos            bool
	latDeg, lonDeg    float64
	satellites        []Satellite
	// usedPRNs are the GSA-listed PRNs (to mark Satellite.Used).
	usedPRNs  [64]int
	nUsedPRNs int
	// inViewByTalker: satellites in view per GSV talker (GP, GL, …),
	// summed into Fix.SatsInView.
	inViewByTalker [8]struct {
		talker string
		sats   int
	}
	nInViewTalkers int
	// keyCounts: how many times each sentence key was seen (its ordinal,
	// for learning the cycle-ending sentence).
	keyCounts [16]struct {
		key   sentenceKey
		count int
	}
	nKeyCounts int
	// lastKey, lastOrdinal: the latest sentence and its ordinal.
	lastKey     sentenceKey
	lastOrdinal int
}

func (e *epoch) reset() {
	sats := e.satellites[:0]
	*e = epoch{ggaQuality: -1, satellites: sats}
}

// ordinal counts k in the epoch and returns how many times it has been seen.
func (e *epoch) ordinal(k sentenceKey) int {
	for i := 0; i < e.nKeyCounts; i++ {
		if e.keyCounts[i].key == k {
			e.keyCounts[i].count++
			return e.keyCounts[i].count
		}
	}
	if e.nKeyCounts < len(e.keyCounts) {
		e.keyCounts[e.nKeyCounts].key = k
		e.keyCounts[e.nKeyCounts].count = 1
		e.nKeyCounts++
	}
	return 1
}

func (e *epoch) add(s *Sentence) {
	if e.nSentences == 0 {
		e.arrivalNs = s.ArrivalNs
	}
	e.nSentences++
	if s.HasTOD && !e.hasTOD {
		e.hasTOD, e.todNs, e.leapSecond = true, s.TODNs, s.Leap
	}
	if s.HasTOD {
		e.timedKinds |= 1 << s.Kind
	}
	if s.HasPos && !e.hasPos {
		e.hasPos, e.latDeg, e.lonDeg = true, s.LatDeg, s.LonDeg
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
			e.rmcStatusA = true
			if s.Date.Year != 0 {
				e.rmcDate = s.Date
			}
		case 'V':
			// Only a V sentence that names this epoch's time condemns it; an
			// empty-time V RMC (Telit: the cycle's RMC goes out before the
			// solution) says nothing about the time the GGA then reports.
			if s.HasTOD {
				e.rmcStatusV = true
			} else {
				e.rmcStatusVUntimed = true
			}
		}
	case KindZDA:
		if s.Date.Year != 0 {
			e.zdaDate = s.Date
		}
	case KindGGA:
		if s.Quality > e.ggaQuality {
			e.ggaQuality = s.Quality
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
			e.gllStatusA = true
		case 'V':
			e.gllStatusV = true
		}
	case KindGSA:
		if s.FixType > e.gsaFixType {
			e.gsaFixType = s.FixType
		}
		if s.HasPDOP && e.pdop == 0 {
			e.pdop = s.PDOP
		}
		for i := 0; i < s.NPRNs && e.nUsedPRNs < len(e.usedPRNs); i++ {
			e.usedPRNs[e.nUsedPRNs] = s.PRNs[i]
			e.nUsedPRNs++
		}
		e.gsaSatsUsed += s.NPRNs
	case KindGSV:
		if s.HasInView {
			found := false
			for i := 0; i < e.nInViewTalkers; i++ {
				if e.inViewByTalker[i].talker == s.Talker {
					found = true
					e.inViewByTalker[i].sats = max(e.inViewByTalker[i].sats, s.InView)
				}
			}
			if !found && e.nInViewTalkers < len(e.inViewByTalker) {
				e.inViewByTalker[e.nInViewTalkers].talker = s.Talker
				e.inViewByTalker[e.nInViewTalkers].sats = s.InView
				e.nInViewTalkers++
			}
		}
		for i := 0; i < s.NGSV && len(e.satellites) < maxSatellites; i++ {
			e.satellites = append(e.satellites, s.GSV[i])
		}
	}
}

func (e *epoch) setCommon(s *Sentence) {
	if s.HasAlt {
		e.hasAlt = true
		e.altM = s.AltM
	}
	if s.HasSats && !e.hasSatsUsed {
		e.satsUsed, e.hasSatsUsed = s.Sats, true
	}
}

// mode is the epoch's fix mode: GSA's fix type when present; else GGA
// quality (0: no fix; otherwise 3D with an altitude, 2D without), GNS mode
// letters likewise; else RMC/GLL status (A: 2D, V: no fix).
func (e *epoch) mode() Mode {
	switch {
	case e.gsaFixType >= 1 && e.gsaFixType <= 3:
		return Mode(e.gsaFixType)
	case e.ggaQuality >= 0 || e.gnsSeen:
		if e.ggaQuality == 0 || (e.ggaQuality < 0 && !e.gnsFix) {
			return ModeNoFix
		}
		if e.hasAlt {
			return Mode3D
		}
		return Mode2D
	case e.rmcStatusA && !e.faaNoFix:
		return Mode2D
	case e.rmcStatusA || e.rmcStatusV || e.rmcStatusVUntimed || e.gllStatusV:
		return ModeNoFix
	case e.gllStatusA:
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
// a different time of day, (3) a silence longer than the burst gap separates
// bursts (only with real arrival times), or (4) Flush is called.
type Assembler struct {
	floor      time.Time
	burstGapNs int64
	cur        epoch
	// model names the receiver (Decoder.Model) in every Fix.
	model string
	// damaged: lines were lost to garbage during the epoch in progress (or
	// just before it): its last sentence may not be the cycle's last, so
	// it does not teach the cycle-ending sentence.
	damaged bool

	// ender, enderOrdinal: the learnt cycle-ending sentence (its key and
	// ordinal in the epoch); enderEpochs: how many epochs in a row ended
	// with it (it ends epochs once two did).
	ender        sentenceKey
	enderOrdinal int
	enderEpochs  int

	// The time of day of the last epoch emitted (a late sentence naming
	// it is dropped).
	lastFlushedTODNs      int64
	lastFlushedLeapSecond bool
	haveFlushed           bool

	// prev: the last dated epoch that passed every check but the
	// monotonicity check (for that check).
	prev           time.Time
	prevLeapSecond bool
	havePrev       bool
	// last trusted epoch: date inheritance for GGA/GNS-only epochs.
	lastTrusted          time.Time
	lastTrustedArrivalNs int64
	haveTrusted          bool

	// leap: the receiver's latest leap second announcement (ubx), its
	// time to the event not yet turned into a date while leapPending.
	leap         LeapNotice
	leapToEventS int64
	leapPending  bool

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
	a := &Assembler{floor: floor, burstGapNs: int64(burstGap)}
	a.cur.reset()
	return a
}

// Stats returns the counters.
func (a *Assembler) Stats() AssemblerStats { return a.stats }

// Add adds one decoded sentence and appends any completed epochs to dst.
func (a *Assembler) Add(dst []Fix, s *Sentence) []Fix {
	if a.cur.nSentences > 0 && s.QuietNs > a.burstGapNs {
		if a.cur.hasTOD {
			a.stats.GapFlush++
			dst = a.flush(dst)
		} else {
			// Untimed sentences after an epoch was emitted, in the same
			// burst: the learnt ender came too early (garbage ate the real
			// one twice in a row). Learn the cycle again.
			a.stats.Orphans += uint64(a.cur.nSentences)
			a.cur.reset()
			a.enderEpochs = 0
		}
	}
	if s.HasTOD {
		switch {
		case a.cur.hasTOD && (s.TODNs != a.cur.todNs || s.Leap != a.cur.leapSecond):
			a.stats.ChangeFlush++
			dst = a.flush(dst)
		case !a.cur.hasTOD && a.haveFlushed && s.TODNs == a.lastFlushedTODNs && s.Leap == a.lastFlushedLeapSecond:
			// The epoch was emitted early: the learnt ender was wrong.
			a.stats.Late++
			a.enderEpochs = 0
			return dst
		}
	}
	if a.cur.nSentences >= maxEpochSentences {
		a.stats.SizeFlush++
		dst = a.flush(dst)
	}
	a.cur.add(s)
	k := sentenceKey{talker: s.Talker, typ: s.Type, notLast: s.Kind == KindGSV && s.GSVNum != s.GSVTotal}
	ord := a.cur.ordinal(k)
	a.cur.lastKey, a.cur.lastOrdinal = k, ord
	if a.enderEpochs >= 2 && k == a.ender && ord == a.enderOrdinal {
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
	a.enderEpochs = 0
	a.haveFlushed = false
}

func (a *Assembler) flush(dst []Fix) []Fix {
	e := &a.cur
	if e.nSentences == 0 {
		return dst
	}
	switch {
	case a.damaged:
		// Learn nothing: two epochs in a row cut short by garbage would
		// otherwise teach a wrong ender, and cut the next clean epoch short.
		a.damaged = false
	case e.lastKey == a.ender && e.lastOrdinal == a.enderOrdinal:
		a.enderEpochs++
	default:
		a.ender, a.enderOrdinal, a.enderEpochs = e.lastKey, e.lastOrdinal, 1
	}
	f := Fix{
		ArrivalNs: e.arrivalNs,
		Sentences: e.nSentences,
		Receiver:  a.model,
		Mode:      e.mode(),
		HDOP:      e.hdop,
		PDOP:      e.pdop,
	}
	if e.hasPos {
		f.LatDeg, f.LonDeg = e.latDeg, e.lonDeg
	}
	if e.hasAlt {
		f.AltM = e.altM
	}
	f.SatsUsed = e.gsaSatsUsed
	if e.hasSatsUsed {
		f.SatsUsed = e.satsUsed
	}
	for i := 0; i < e.nInViewTalkers; i++ {
		f.SatsInView += e.inViewByTalker[i].sats
	}
	if len(e.satellites) > 0 {
		f.Satellites = make([]Satellite, len(e.satellites))
		copy(f.Satellites, e.satellites)
		for i := range f.Satellites {
			for j := 0; j < e.nUsedPRNs; j++ {
				if e.usedPRNs[j] == f.Satellites[i].PRN {
					f.Satellites[i].Used = true
				}
			}
		}
	}
	if e.hasTOD {
		a.resolveTime(&f, e)
		a.haveFlushed, a.lastFlushedTODNs, a.lastFlushedLeapSecond = true, e.todNs, e.leapSecond
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
				a.leap.At = nearestMidnight(f.Time.Add(time.Duration(a.leapToEventS) * time.Second))
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
	if e.leapSecond {
		tod -= time.Second // 23:59:60.x is expressed as 23:59:59.x + LeapSecond
	}
	var (
		date   civilDate
		dated  bool
		reason Distrust
	)
	if e.rmcStatusA && e.rmcDate.Year != 0 {
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
	case e.rmcStatusV:
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
		case e.arrivalNs != 0 && a.lastTrustedArrivalNs != 0 && e.arrivalNs-a.lastTrustedArrivalNs > int64(6*time.Hour):
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
	if reason == DistrustNone && e.leapSecond {
		if y, m, d := t.Date(); d != daysIn(y, m) {
			reason = DistrustLeap
		}
	}
	if reason == DistrustNone && dated {
		if a.havePrev && !forward(a.prev, a.prevLeapSecond, t, e.leapSecond) {
			reason = DistrustBackwards
		}
		a.prev, a.prevLeapSecond, a.havePrev = t, e.leapSecond, true
	}
	switch reason {
	case DistrustNone:
		f.Time, f.TimeValid, f.LeapSecond = t, true, e.leapSecond
		a.lastTrusted, a.lastTrustedArrivalNs, a.haveTrusted = t, e.arrivalNs, true
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
