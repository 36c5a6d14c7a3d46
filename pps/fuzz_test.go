package pps

import (
	"encoding/binary"
	"testing"
)

// FuzzValidator feeds arbitrary edge streams: Check must not panic, must
// count every edge once, and must call the first edge First.
func FuzzValidator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		v := NewValidator(ValidatorConfig{})
		n := 0
		for len(data) >= 12 {
			e := Edge{AssertNs: int64(binary.LittleEndian.Uint64(data)), Seq: binary.LittleEndian.Uint32(data[8:])}
			data = data[12:]
			vd := v.Check(e)
			if n == 0 && vd.Class != First {
				t.Fatalf("first edge classified %v", vd.Class)
			}
			if vd.Missed < 0 || (vd.Missed > 0) != (vd.Class == Missing) {
				t.Fatalf("verdict %+v", vd)
			}
			n++
		}
		var total uint64
		for _, c := range v.Counters().ByClass {
			total += c
		}
		if total != uint64(n) {
			t.Fatalf("counted %d of %d edges", total, n)
		}
	})
}
