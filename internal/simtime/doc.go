// Package simtime is the ground truth of a simulated appliance: how simulated
// GPS time relates to the host's CLOCK_REALTIME. The simulated receiver (gps/sim)
// and the simulated PPS source (pps) share one Timeline so their edges and
// NMEA bursts agree, and tests use it to know what the right answer is.
package simtime
