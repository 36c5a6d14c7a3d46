package pps

// Pure parts of the serial DCD driver, kept portable so they are tested on
// every platform.

// dcdWanted reports whether a modem-status word read right after TIOCMIWAIT
// woke on a DCD change shows the edge we want: DCD now asserted for Rising,
// now clear for Falling. TIOCMIWAIT wakes on both edges.
func dcdWanted(status int32, edge Polarity) bool {
	cd := status&tiocmCD != 0
	return cd == (edge == Rising)
}

// dcdSeqStep is how far the sequence number advances for an accepted edge,
// given the driver's DCD transition counter (TIOCGICOUNT, both directions)
// now and at the previous accepted edge. Two transitions per pulse; if more
// have passed, pulses were missed (or a glitch toggled DCD). Without a
// counter (have=false, the driver lacks TIOCGICOUNT) it is 1.
func dcdSeqStep(prev, now uint32, have bool) uint32 {
	if !have {
		return 1
	}
	return max(1, (now-prev)/2)
}
