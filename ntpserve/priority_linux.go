//go:build linux

package ntpserve

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// A busy worker's thread runs SCHED_BATCH at nice Config.BusyNice.
//
// Why: a reply's transmit timestamp is read before its sendmmsg chunk
// (txstamp_linux.go), and a chunk's replies are true only if nothing runs
// on the core between the reading and the last datagram. The kernel may
// switch tasks inside sendmmsg: it calls cond_resched() between
// datagrams, and a reply that wakes its client on the same core, or the
// scheduler tick, has asked for a switch. The replies after that point
// leave tens to hundreds of µs after their stamps. Measured at capacity
// on loopback on this project's 2-core test machine (getrusage's
// involuntary switches around each calibrated sendmmsg): at nice 0, 17 %
// of chunks were switched out inside the call, their last reply left a
// median 62 µs after its stamp, and they made 70 % of the stamps off by
// more than 20 µs; at nice −10, 0.6 % of chunks were.
//
// Nice alone also makes the worker preempt whoever woke it at once: one
// request per wakeup, CPU per reply at 30,000/s up from 9.1 to 10.8 µs,
// and the kernel's softirq thread (nice 0) pushed back, so requests
// waited in the backlog before their receive timestamps were taken
// (served-time error +15 to +21 µs in 1 % of probes). SCHED_BATCH is the
// fair scheduler's policy for a thread that does not preempt on wakeup:
// it waits for the running task's slice, requests batch up as at nice
// 0, and once running it is seldom switched out. BENCHMARKS.md ("Not
// preempted mid-chunk") has the three side by side.
//
// ntpd's -N and chronyd's -P raise the whole daemon to a real-time
// priority for the same reason. This raises less: only the threads that
// send replies, within the fair scheduler, so a flood can not starve the
// discipline, the console or the softirq thread as SCHED_FIFO would; and
// only while a worker blocks in recvmmsg (where it keeps its thread: a
// polled worker parks, and its goroutine may run on any thread) at
// raiseFactor times its busy rate or more (see raiseFactor).
//
// Nice is per thread on Linux: the worker's goroutine is locked to its
// thread (runtime.LockOSThread) while raised, so no other goroutine runs
// at that priority, and the thread's policy and nice are put back before
// it is unlocked. Lowering a nice value needs CAP_SYS_NICE or
// RLIMIT_NICE; gpsntpd raises RLIMIT_NICE before it drops root, and the
// .deb's unit sets LimitNICE. Refused, the worker carries on at the
// priority it has (Stats.BusyNiceRefused, which gpsntpd logs).

// raiseFactor times the busy rate is the request rate from which a
// blocking worker raises its thread, and it is put back below half of
// that. Lower, replies seldom share a chunk, so there is little to
// protect, and a locked thread costs a handoff between threads whenever
// a blocking recvmmsg waits long enough for sysmon to take its P: raised
// from the busy rate itself, CPU per reply at 1,000/s went from 58.7 to
// 68.5 µs (BENCHMARKS.md, "Not preempted mid-chunk").
const raiseFactor = 10

// raisePriority locks the worker's goroutine to its thread and makes the
// thread SCHED_BATCH at w.busyNice, if it is a fair-scheduler thread of
// lower priority than that.
func (w *worker) raisePriority() {
	if w.raised || w.c.niceRefused.Load() { // refused once: not tried again
		return
	}
	runtime.LockOSThread()
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil || old.Policy != unix.SCHED_NORMAL && old.Policy != unix.SCHED_BATCH || int(old.Nice) <= w.busyNice {
		runtime.UnlockOSThread()
		return
	}
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: int32(w.busyNice)}, 0); err != nil {
		runtime.UnlockOSThread()
		w.c.niceRefused.Store(true)
		return
	}
	w.raised, w.saved = true, unix.SchedAttr{Policy: old.Policy, Nice: old.Nice}
}

// restorePriority puts the thread's policy and nice back and unlocks it.
func (w *worker) restorePriority() {
	if !w.raised {
		return
	}
	// Lowering a priority is always allowed; should it fail, the thread
	// must not go back to the pool with ours: left locked, the runtime
	// ends the thread when the goroutine exits.
	if unix.SchedSetAttr(0, &w.saved, 0) != nil {
		return
	}
	w.raised = false
	runtime.UnlockOSThread()
}
