package web

import (
	"bytes"
	"compress/gzip"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// fullHistory is a history with a full hour and day of realistic values
// (offsets of tens of ns, jitter, a drifting frequency, a few requests).
func fullHistory() *History {
	h := NewHistory()
	start := int64(t0)
	for i := range int64(MinutesKept*60 + 60) {
		ts := start + i
		s := &ctl.Snapshot{Time: time.Unix(ts, 0), State: "pps", Synchronised: true,
			OffsetNs: 37 * math.Sin(float64(ts)/97), JitterNs: 20 + 3*math.Cos(float64(ts)/300), FreqPPB: -3456.7 + float64(ts%86400)/100,
			RootDispersionNs: 1100 + ts%200}
		s.PPS.Missed = uint64(ts / 3000)
		s.Server.Counts.Outcomes[ntpserve.OutReply] = uint64(ts/2 + ts/7)
		h.Add(s)
	}
	return h
}

// BenchmarkHistoryEvent: the history event a viewer gets at connect, raw
// and gzipped (BestSpeed, as sent), with a full hour and day.
func BenchmarkHistoryEvent(b *testing.B) {
	s := New(Config{History: fullHistory()})
	var raw []byte
	for b.Loop() {
		raw = s.historyPayload()
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	b.ReportMetric(float64(len(raw)), "raw-bytes")
	b.ReportMetric(float64(z.Len()), "gzip-bytes")
}

// BenchmarkHistoryMemory: the heap a full History holds.
func BenchmarkHistoryMemory(b *testing.B) {
	var before, after runtime.MemStats
	var h *History
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		h = NewHistory()
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	runtime.KeepAlive(h)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-bytes")
	b.ReportMetric(float64(MinutesKept*sampleBytes), "day-file-bytes")
}

// TestAssetsSize keeps the page small for a Pi Zero on Wi-Fi: the page,
// script, style and icon gzipped under 16 KB.
func TestAssetsSize(t *testing.T) {
	total := 0
	for name, a := range assets {
		n := len(a.body)
		if a.gz != nil {
			n = len(a.gz)
		}
		t.Logf("%s: %d bytes, %d sent gzipped", name, len(a.body), n)
		total += n
	}
	if total > 16<<10 {
		t.Errorf("assets: %d bytes gzipped, want ≤ 16 KB", total)
	}
}
