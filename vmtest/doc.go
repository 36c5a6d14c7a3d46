// Package vmtest boots the gpsntp gokrazy appliance (amd64 build of the
// same image as the Raspberry Pi one, instance image/gpsntp-vm) under qemu
// and checks it from outside with a real NTP client; it has no Go API.
//
// What runs where:
//
//   - the test re-executes itself inside a new network namespace
//     (`unshare --net`, only lo up), so nothing it starts can reach or be
//     reached from any network;
//   - qemu-system-x86_64 -accel tcg,thread=single (software emulation, no
//     KVM), OVMF UEFI, user-mode networking forwarding 127.0.0.1:PORT/udp to
//     the guest's port 123, console on ttyS0 (a log file), and ttyS1 a unix
//     socket;
//   - once the guest's Linux is up, the host plays gps/sim (a simulated
//     u-blox receiver, 9600 baud, burst 120 ms after the second) into ttyS1,
//     with simulated GPS time = host time + 5 s;
//   - gpsntpd in the guest runs the System clock backend for real: the guest
//     boots with its RTC at 1970, the daemon must step and steer the guest's
//     CLOCK_REALTIME to GPS time;
//   - github.com/beevik/ntp queries the forwarded port until the guest
//     serves stratum 1, refid GPS, and then requires its time to be within
//     50 ms of the simulated GPS time (so serving the host's time fails).
//
// The host's clock is never touched: only the guest steers its own clock,
// and the host side only sends NTP client requests.
//
// The test runs only with GPSNTP_VMTEST=1 (set by `make test-vm`), and
// skips, saying what to install, when qemu, OVMF or the image tools are
// missing.
package vmtest
