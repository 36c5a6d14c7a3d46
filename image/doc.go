// Package image holds the gokrazy appliance image of gpsntp and its test; it
// has no Go API.
//
// Layout:
//
//	tools/go.mod          pins github.com/gokrazy/tools (go tool -modfile=… gok)
//	build.sh              gok overwrite --full, then mkfs.ext4 on /perm
//	gpsntp/               instance for Raspberry Pi 3/4/5/Zero 2 W (arm64)
//	  config.json         packages, config.txt lines, no serial console, no EEPROM update
//	  ntp.conf            baked into /etc/gpsntp/ntp.conf
//	  builddir/…/go.mod   pins kernel, firmware and gokrazy; relative replace to this checkout
//	gpsntp-vm/            the same appliance for amd64 under qemu (make test-vm)
//	gpsntp-boot/          launcher: picks /perm/gpsntp/ntp.conf over /etc/gpsntp/ntp.conf,
//	                      creates /perm/gpsntp, sends status to tty1, execs gpsntpd
//
// `make image` writes gpsntp-rpi-arm64.img.xz. The test builds it (or takes
// GPSNTP_IMAGE) and inspects the partitions with mtools, squashfs-tools and
// partx.
package image
