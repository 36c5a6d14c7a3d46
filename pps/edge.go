package pps

import "context"

// Edge is one PPS pulse as the kernel (or a simulation) timestamped it.
type Edge struct {
	// AssertNs is CLOCK_REALTIME (ns since the Unix epoch, host kernel clock)
	// of the pulse's active edge. It is not UTC: the discipline maps it
	// through its clock backend and labels it with a UTC second.
	AssertNs int64
	// Seq is the source's sequence number for the edge (kernel assert_sequence
	// for /dev/ppsN). A gap means pulses were missed.
	Seq uint32
}

// Source delivers PPS edges in order. Next blocks until the next edge, ctx
// is done, or the source fails.
type Source interface {
	Next(ctx context.Context) (Edge, error)
	Close() error
}
