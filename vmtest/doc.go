// Package vmtest runs the appliance and its drivers on real kernels under
// qemu (software emulation, no KVM); it has no Go API. `make test-vm` runs
// it (GPSNTP_VMTEST=1); each test skips, saying what to install, when its
// emulator or firmware is missing. The host's clock is never touched: only
// guests steer their own clocks.
//
// TestVM (vm_test.go) boots the SD image's amd64 twin (instance
// image/gpsntp-vm, gokrazy, OVMF) with its RTC at 1970 in a private
// network namespace (`unshare --net`, only lo). The host plays gps/sim (a
// simulated u-blox receiver, 9600 baud, burst 120 ms after the second,
// simulated GPS time = host time + 5 s, 700 ppm fast) into ttyS1 once
// Linux is up; gpsntpd steers the guest's CLOCK_REALTIME with the System
// backend, as uid 65534 keeping CAP_SYS_TIME; github.com/beevik/ntp then
// requires stratum 1, refid GPS, within 50 ms of simulated GPS time.
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
