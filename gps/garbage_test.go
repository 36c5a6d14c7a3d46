package gps

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// garbageBurst returns one of the kinds of junk a serial line sees: binary
// protocol bytes, line noise with NULs, printable junk with start
// characters, separators and line ends, a sentence cut short.
func garbageBurst(rng *rand.Rand) []byte {
	n := 1 + rng.IntN(40)
	b := make([]byte, 0, n+16)
	switch rng.IntN(4) {
	case 0: // UBX-ish binary
		b = append(b, 0xb5, 0x62, 0x01, 0x07)
		for range n {
			b = append(b, byte(rng.IntN(256)))
		}
	case 1: // line noise
		for range n {
			b = append(b, []byte{0, 0xff, 0x80, 0x7f}[rng.IntN(4)])
		}
	case 2: // printable junk
		const alphabet = "$!,*\r\nGPRMCA0123456789.ZDA"
		for range n {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
	default: // a cut-off sentence
		b = append(b, "$GPGGA,12"[:2+rng.IntN(8)]...)
	}
	return b
}

// epochSpans decodes data with a synthetic clock of 1 ns per byte (never a
// burst gap) and returns each epoch's first byte offset.
func epochSpans(data []byte, floor time.Time) []int {
	s := NewStream(floor)
	const base = 1e12
	fixes := s.Feed(nil, data, base, 1)
	fixes = s.Flush(fixes)
	off := make([]int, len(fixes))
	for i, f := range fixes {
		off[i] = int(f.ArrivalNs - base)
	}
	return off
}

// feedBursts decodes bursts as a serial line delivers a receiver's output:
// one burst a second, each byte 10 µs (fast enough that no burst is split
// by the burst gap), silence between bursts.
func feedBursts(bursts [][]byte, floor time.Time) []Fix {
	s := NewStream(floor)
	var fixes []Fix
	for i, b := range bursts {
		fixes = s.Feed(fixes, b, 1e12+int64(i)*1e9, 10_000)
	}
	return s.Flush(fixes)
}

// TestGarbageLosesOnlyTouchedEpochs inserts bursts of junk into real
// captures, fed as a serial line delivers them (a burst per cycle, silence
// between), seeded, into a third of the bursts (neighbours included), and
// checks that every burst no junk landed in decodes exactly as without the
// junk, and that no trusted time appears that the clean capture lacks.
func TestGarbageLosesOnlyTouchedEpochs(t *testing.T) {
	logs, _ := filepath.Glob("testdata/nmea/*.log")
	for _, log := range logs {
		name := strings.TrimSuffix(filepath.Base(log), ".log")
		raw, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := ParseCapture(raw)
		floor := FloorFromApproxDate(c.Date)
		// Cut the capture into bursts at the epochs' first bytes, as the
		// receiver's silence between cycles does on a real line.
		starts := epochSpans(c.Data, floor)
		if len(starts) < 3 {
			continue
		}
		var bursts [][]byte
		for i := range starts {
			from, to := starts[i], len(c.Data)
			if i == 0 {
				from = 0
			}
			if i+1 < len(starts) {
				to = starts[i+1]
			}
			bursts = append(bursts, c.Data[from:to])
		}
		clean := feedBursts(bursts, floor)
		for seed := uint64(1); seed <= 8; seed++ {
			rng := rand.New(rand.NewPCG(seed, 42))
			touched := map[int64]bool{} // burst arrival times that got junk
			garbled := make([][]byte, len(bursts))
			for i, b := range bursts {
				garbled[i] = b
				if rng.IntN(3) != 0 || len(b) == 0 {
					continue
				}
				at := rng.IntN(len(b))
				junk := garbageBurst(rng)
				garbled[i] = append(append(append([]byte(nil), b[:at]...), junk...), b[at:]...)
				touched[1e12+int64(i)*1e9] = true
			}
			got := feedBursts(garbled, floor)

			// A burst's junk may cost its epoch (or, by removing a status V
			// RMC, leave only sentences that do not condemn its time: then
			// the time is still the one the burst named); other epochs must
			// come out exactly as without junk.
			cleanAt := map[int64]Fix{}
			for _, f := range clean {
				if f.TimeValid {
					cleanAt[f.Time.UnixNano()] = f
				}
			}
			gotAt := map[int64]Fix{}
			for _, f := range got {
				if !f.TimeValid {
					continue
				}
				gotAt[f.Time.UnixNano()] = f
				if _, ok := cleanAt[f.Time.UnixNano()]; !ok && !touched[f.ArrivalNs-f.ArrivalNs%1e9] {
					t.Errorf("%s seed %d: trusted %v from an untouched burst that the clean capture does not have", name, seed, f.Time)
				}
			}
			for i, w := range clean {
				if touched[w.ArrivalNs-w.ArrivalNs%1e9] || !w.TimeValid {
					continue
				}
				g, ok := gotAt[w.Time.UnixNano()]
				if !ok {
					t.Errorf("%s seed %d: untouched epoch %d (%v) lost", name, seed, i, w.Time)
					continue
				}
				if g.Mode != w.Mode || g.Sentences != w.Sentences || g.SatsUsed != w.SatsUsed || g.LeapSecond != w.LeapSecond {
					t.Errorf("%s seed %d: untouched epoch %d (%v) = mode %d, %d sentences, %d used; clean mode %d, %d sentences, %d used",
						name, seed, i, w.Time, g.Mode, g.Sentences, g.SatsUsed, w.Mode, w.Sentences, w.SatsUsed)
				}
			}
		}
	}
}
