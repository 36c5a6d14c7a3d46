package pps

import (
	"testing"
	"time"
)

const s = int64(time.Second)

func TestValidator(t *testing.T) {
	base := int64(1_700_000_000) * s
	type in struct {
		atNs int64 // relative to base
		seq  uint32
	}
	tests := []struct {
		name   string
		cfg    ValidatorConfig
		edges  []in
		want   []Class
		missed []int64 // per edge; nil: all 0
	}{
		{"steady", ValidatorConfig{},
			[]in{{0, 1}, {s, 2}, {2*s + 150_000, 3}, {3*s - 1_000_000, 4}},
			[]Class{First, OK, OK, OK}, nil},
		{"tolerance edge", ValidatorConfig{Tolerance: time.Millisecond},
			[]in{{0, 1}, {s + 1_000_000, 2}, {2*s + 2_000_001, 3}},
			[]Class{First, OK, PeriodOutOfRange}, nil},
		{"time gap, receiver skipped pulses", ValidatorConfig{},
			[]in{{0, 1}, {3 * s, 2}, {4 * s, 3}},
			[]Class{First, Missing, OK}, []int64{0, 2, 0}},
		{"seq gap matching time gap", ValidatorConfig{},
			[]in{{0, 10}, {2 * s, 12}},
			[]Class{First, Missing}, []int64{0, 1}},
		{"seq gap in one period: hidden extra edges", ValidatorConfig{},
			[]in{{0, 10}, {s, 13}, {2 * s, 14}},
			[]Class{First, Double, OK}, nil},
		{"ringing", ValidatorConfig{},
			[]in{{0, 1}, {5_000, 2}, {s, 3}, {2 * s, 4}},
			[]Class{First, Double, OK, OK}, nil},
		{"both edges of a 100 ms pulse", ValidatorConfig{},
			[]in{{0, 1}, {100 * 1e6, 2}, {s, 3}, {s + 100*1e6, 4}, {2 * s, 5}},
			[]Class{First, Double, OK, Double, OK}, nil},
		{"outlier costs two verdicts", ValidatorConfig{},
			[]in{{0, 1}, {s, 2}, {2*s + 30_000_000, 3}, {3 * s, 4}, {4 * s, 5}},
			[]Class{First, OK, PeriodOutOfRange, PeriodOutOfRange, OK}, nil},
		{"half period", ValidatorConfig{},
			[]in{{0, 1}, {s / 2, 2}},
			[]Class{First, PeriodOutOfRange}, nil},
		{"duplicate", ValidatorConfig{},
			[]in{{0, 1}, {s, 2}, {s, 2}, {2 * s, 3}},
			[]Class{First, OK, Duplicate, OK}, nil},
		{"clock stepped back", ValidatorConfig{},
			[]in{{10 * s, 1}, {9 * s, 2}, {10 * s, 3}},
			[]Class{First, Backwards, OK}, nil},
		{"sequence wraps", ValidatorConfig{},
			[]in{{0, 0xffffffff}, {s, 0}, {2 * s, 1}},
			[]Class{First, OK, OK}, nil},
		{"long outage restarts", ValidatorConfig{MaxGap: 10},
			[]in{{0, 1}, {11 * s, 2}, {12 * s, 3}},
			[]Class{First, First, OK}, nil},
		{"tolerance grows with gap", ValidatorConfig{Tolerance: time.Millisecond},
			[]in{{0, 1}, {10*s + 9_000_000, 2}},
			[]Class{First, Missing}, []int64{0, 9}},
		{"10 Hz source", ValidatorConfig{Period: 100 * time.Millisecond, DoubleWindow: 20 * time.Millisecond},
			[]in{{0, 1}, {s / 10, 2}, {3 * s / 10, 3}},
			[]Class{First, OK, Missing}, []int64{0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewValidator(tc.cfg)
			var wantCounts [numClasses]uint64
			var wantMissed uint64
			for i, e := range tc.edges {
				got := v.Check(Edge{AssertNs: base + e.atNs, Seq: e.seq})
				wantMissed := int64(0)
				if tc.missed != nil {
					wantMissed = tc.missed[i]
				}
				if got.Class != tc.want[i] || got.Missed != wantMissed {
					t.Errorf("edge %d: Check(at %+d ns, seq %d) = %v missed %d, want %v missed %d",
						i, e.atNs, e.seq, got.Class, got.Missed, tc.want[i], wantMissed)
				}
				wantCounts[tc.want[i]]++
			}
			for _, m := range tc.missed {
				wantMissed += uint64(m)
			}
			c := v.Counters()
			if c.ByClass != wantCounts || c.MissedPulses != wantMissed {
				t.Errorf("Counters() = %+v, want %v missed %d", c, wantCounts, wantMissed)
			}
		})
	}
}

func TestValidatorReset(t *testing.T) {
	v := NewValidator(ValidatorConfig{})
	v.Check(Edge{AssertNs: 0, Seq: 1})
	v.Reset()
	if got := v.Check(Edge{AssertNs: 5*s + 123, Seq: 2}); got.Class != First {
		t.Errorf("Check after Reset = %v, want first", got.Class)
	}
	if got := v.Counters().Count(First); got != 2 {
		t.Errorf("Count(First) = %d, want 2", got)
	}
}

func TestClassString(t *testing.T) {
	for c := First; c < numClasses; c++ {
		if c.String() == "" || c.String()[0] == 'C' {
			t.Errorf("Class(%d).String() = %q", c, c.String())
		}
	}
	if got := Class(99).String(); got != "Class(99)" {
		t.Errorf("Class(99).String() = %q, want Class(99)", got)
	}
}

func TestCountersBad(t *testing.T) {
	var c Counters
	for cl := First; cl < numClasses; cl++ {
		c.ByClass[cl] = 1 << cl // one bit per class: the sum says which counted
	}
	want := uint64(1<<PeriodOutOfRange | 1<<Double | 1<<Duplicate | 1<<Backwards)
	if got := c.Bad(); got != want {
		t.Errorf("Bad() = %#b, want %#b (out of range, double, duplicate, backwards)", got, want)
	}
}
