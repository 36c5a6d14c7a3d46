// Package vmtest runs the appliance and its drivers on real kernels under
// qemu (software emulation, no KVM); it has no Go API. `make test-vm` runs
// it (GPSNTP_VMTEST=1); each test skips, saying what to install, when its
// emulator or firmware is missing. The host's clock is never touched: only
// guests steer their own clocks.
//
// TestVM (vm_test.go) boots the SD image's amd64 twin (instance
// image/gpsntp-vm, gokrazy, OVMF) with its RTC at 1970 in a private
// network namespace (`unshare --net`, only lo), three times. Boot 1: the
// user's gpsntp.conf on the FAT boot partition moves NTP to another port,
// the status screen to ttyS2, and names one upstream server on the host
// side (a small NTP responder in the test serving simulated GPS time =
// host time + 5 s, 700 ppm fast). With the receiver silent, the guest's
// clock must be set from it and served at stratum 2; then the host plays
// gps/sim (a simulated u-blox receiver, 9600 baud, burst 120 ms after the
// second, the same timeline) into ttyS1, and gpsntpd, steering the guest's
// CLOCK_REALTIME with the System backend as uid 65534 keeping
// CAP_SYS_TIME, must serve stratum 1, refid GPS, within 50 ms of
// simulated GPS time (github.com/beevik/ntp), never unsynchronised in
// between. Boot 2 follows an update (gok's boot file system written over
// the boot partition): gpsntp.conf is put back. Boot 3 has it broken: the
// last good configuration runs, and the alarm names the line.
//
// TestVMGPIO (gpio_test.go) boots the image's own Raspberry Pi kernel on
// QEMU's arm64 virt board from an initramfs (rig_test.go: no network at
// all). Its /init is an agent (vmtest/guest) that answers the host on the
// serial console. QEMU wires line 3 of the board's PL061 GPIO controller
// to its power button: the agent frees it from gpio-keys, and each QMP
// system_powerdown from the host is a pulse (rising edge, falling 100 ms
// later). The test runs the PPS path the SD image uses, the GPIO character
// device (pps/gpio_linux.go): first pps.OpenGPIO alone, then gpsntpd with
// the host's simulated receiver on QEMU's USB serial port (/dev/ttyUSB0),
// through lock, a missed pulse, the controller vanishing, silence and a
// restart. docs/developing.md says how to run and debug it.
package vmtest
