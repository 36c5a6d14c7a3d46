// Package packaging holds the Raspberry Pi OS packaging of gpsntp and its
// test; it has no Go API.
//
// `make deb` cross-builds ./cmd/... for arm64 and armhf (GOARM=6, so the
// package runs on every Pi including the Zero and 1) and packs them with nfpm
// (pinned in packaging/tools/go.mod) using nfpm.yaml: gpsntpd and gpsntpctl
// (not the load generator ntpload), the
// systemd unit (unprivileged user gpsntp with CAP_SYS_TIME and
// CAP_NET_BIND_SERVICE, Restart=always), /etc/gpsntp/ntp.conf and
// /etc/default/gpsntp as conffiles, a udev rule giving the gpsntp group the
// PPS and GPIO devices, and Provides/Conflicts/Replaces: time-daemon.
//
// The maintainer scripts under scripts/ are POSIX sh. postinst writes one
// managed block into config.txt (enable_uart=1, dtoverlay=disable-bt,
// dtoverlay=pps-gpio,gpiopin=N from /etc/default/gpsntp) and removes the
// serial console from cmdline.txt; both idempotently. It adds the admin who
// installs with sudo ($SUDO_USER) to group gpsntp, which may use the control
// socket, and says "reboot needed" (and touches /run/reboot-required) while
// its config.txt lines are new or the PPS device of ntp.conf is missing.
// gpsntpd runs meanwhile on GPS time with an alarm: no restart loop. All
// their paths are under $DPKG_ROOT, which deb_test.go points at a fake root.
//
// install_test.go (root only) packs a .deb for this machine's architecture
// and installs it with `SUDO_USER=alice dpkg -i` into a throwaway root: an
// overlay over / on a tmpfs, in private mount, network and PID namespaces,
// no systemd, a policy-rc.d refusing starts, CAP_SYS_TIME out of every
// process's bounding set. There it runs the unit's ExecStartPre and
// ExecStart as the unit would (user gpsntp, clock soft), without /dev/pps0,
// and gpsntpctl as alice and bob.
package packaging
