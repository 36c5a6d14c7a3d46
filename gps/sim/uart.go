package sim

import (
	"context"
	"os"
	"sync/atomic"
	"time"
)

// UART makes a pty behave like a serial line to a receiver running at Baud:
// bytes are paced as the UART delivers them (10 bits a byte), and while the
// other side's line rate (LineRate) differs from Baud it receives what a
// UART sampling at the wrong rate gets instead: junk bytes, about
// rate/Baud as many per byte sent (framing errors, wrong bits). A plain pty
// carries bytes at any setting, so without this auto-baud detection could
// not fail.
type UART struct {
	Master *os.File
	Baud   int

	seed    uint32
	garbled atomic.Uint64 // read by the test while Write runs
}

// Garbled returns how many bytes were sent while the rates differed.
func (u *UART) Garbled() uint64 { return u.garbled.Load() }

// Write delivers b paced from now on, chunk by chunk (~8 ms of wire time
// each), checking the far side's rate before each chunk. Write errors (the
// slave closed between two opens) are ignored, as a UART's output is when
// nobody listens; Write returns only when b has been paced out or ctx is
// done.
func (u *UART) Write(ctx context.Context, b []byte) error {
	bt := 10 * time.Second / time.Duration(u.Baud)
	chunk := max(1, u.Baud/1200)
	start := time.Now()
	var junk []byte
	for i := 0; i < len(b); i += chunk {
		j := min(i+chunk, len(b))
		t := time.NewTimer(time.Until(start.Add(time.Duration(j-1) * bt)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		rate, err := LineRate(u.Master)
		if err == nil && rate == u.Baud {
			u.Master.Write(b[i:j])
			continue
		}
		n := 1
		if rate > 0 {
			n = max(1, (j-i)*rate/u.Baud)
		}
		junk = junk[:0]
		for k := 0; k < n; k++ {
			u.seed = u.seed*1664525 + 1013904223 // LCG (Numerical Recipes)
			junk = append(junk, byte(u.seed>>24))
		}
		u.garbled.Add(uint64(j - i))
		u.Master.Write(junk)
	}
	return nil
}
