package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/ntpserve"
)

const (
	// simOffset is simulated GPS time minus host time: a guest that served
	// the host's time (or its own unsteered clock) is off by this much.
	simOffset = 5 * time.Second
	// simFreqPPM is how fast simulated GPS time runs against the host's
	// (and so the guest's) clock: past the kernel's ±500 ppm frequency
	// range, so the guest must steer with the tick length too
	// (discipline.System), as a guest whose TSC was calibrated under load
	// must.
	simFreqPPM = 700
	// tolerance is how far from simulated GPS time the guest may serve.
	tolerance = 50 * time.Millisecond
	// simDelay is the simulated receiver's burst delay after the second;
	// image/gpsntp-vm/ntp.conf says `nmeadelay 120ms`.
	simDelay = 120 * time.Millisecond
	// hostPort is forwarded to the guest's UDP port 123 (inside the
	// private network namespace, so any free number will do).
	hostPort = 12300
	// bootLimit bounds the wait for the guest's Linux; replyLimit the wait
	// from then for a synchronised reply.
	bootLimit  = 150 * time.Second
	replyLimit = 120 * time.Second
	// goodReplies synchronised replies, one a second, must all pass.
	goodReplies = 5
)

// linuxUp is what the guest kernel prints on ttyS0 when it starts init: from
// then on, bytes on ttyS1 reach Linux, not the UEFI menu.
const linuxUp = "Run /gokrazy/init as init process"

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

func TestVM(t *testing.T) {
	if os.Getenv("GPSNTP_VMTEST_INNER") == "1" {
		inner(t)
		return
	}
	if os.Getenv("GPSNTP_VMTEST") != "1" {
		t.Skip("the qemu boot test runs with `make test-vm` (GPSNTP_VMTEST=1); about two minutes")
	}
	os.Setenv("PATH", os.Getenv("PATH")+":/sbin:/usr/sbin")
	for tool, pkg := range map[string]string{
		"qemu-system-x86_64": "qemu-system-x86",
		"unshare":            "util-linux",
		"ip":                 "iproute2",
		"mkfs.ext4":          "e2fsprogs",
		"partx":              "util-linux",
		"mcopy":              "mtools",
	} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install %s): cannot boot the appliance under qemu", tool, pkg)
		}
	}
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing (apt-get install ovmf): cannot boot the appliance under qemu", f)
		}
	}

	work := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	img := os.Getenv("GPSNTP_VM_IMAGE")
	if img != "" {
		// The test writes the image (gpsntp.conf, /perm): a copy.
		own := filepath.Join(work, "gpsntp-vm.img")
		if out, err := exec.Command("cp", "--sparse=always", img, own).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", img, err, out)
		}
		img = own
	} else {
		img = filepath.Join(work, "gpsntp-vm.img")
		start := time.Now()
		cmd := exec.Command(filepath.Join(root, "image/build.sh"), "gpsntp-vm", img)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("image/build.sh gpsntp-vm: %v\n%s", err, out)
		}
		t.Logf("BENCH vm-image-build %.1fs", time.Since(start).Seconds())
	}
	// What a gokrazy update writes to the boot partition: gok's boot file
	// system, sized to its contents, without gpsntp.conf.
	bootFAT := filepath.Join(work, "boot.fat")
	gok := exec.Command("go", "tool", "-modfile="+filepath.Join(root, "image/tools/go.mod"), "gok",
		"--parent_dir", filepath.Join(root, "image"), "-i", "gpsntp-vm", "overwrite", "--boot", bootFAT)
	if out, err := gok.CombinedOutput(); err != nil {
		t.Fatalf("gok overwrite --boot: %v\n%s", err, out)
	}

	// Everything else runs in a new network namespace with only lo: this
	// test binary again, as the namespace's first process.
	ctx, cancel := context.WithTimeout(context.Background(), 3*(bootLimit+replyLimit)+90*time.Second)
	defer cancel()
	args := []string{"--net", "--"}
	if os.Geteuid() != 0 {
		args = []string{"--map-root-user", "--net", "--"}
	}
	args = append(args, os.Args[0], "-test.run=^TestVM$", "-test.v", "-test.count=1")
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), "GPSNTP_VMTEST_INNER=1", "GPSNTP_VM_IMAGE="+img, "GPSNTP_VMTEST_WORK="+work, "GPSNTP_VM_BOOTFAT="+bootFAT)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			// The inner run's own PASS/FAIL lines are indented so that
			// they are not taken for this run's.
			t.Log("  " + sc.Text())
		}
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		t.Fatalf("boot test in a private network namespace: %v (guest console: %s)", err, filepath.Join(work, "console.log"))
	}
}

// inner runs inside the private network namespace.
func inner(t *testing.T) {
	work, img := os.Getenv("GPSNTP_VMTEST_WORK"), os.Getenv("GPSNTP_VM_IMAGE")
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	if out, _ := exec.Command("ip", "-o", "link").Output(); bytes.Count(bytes.TrimSpace(out), []byte("\n")) != 0 {
		t.Fatalf("network namespace has more than lo:\n%s", out)
	}
	vars := filepath.Join(work, "OVMF_VARS.fd")
	if b, err := os.ReadFile(ovmfVars); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// Boot 1: the user's gpsntp.conf on the FAT boot partition, edited as
	// from any laptop: another NTP port, and the status screen on ttyS2.
	// Serving on that port proves the file is the one that runs.
	base, err := os.ReadFile(filepath.Join("..", "image", "gpsntp-vm", "ntp.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(base), "listen 0.0.0.0:123", fmt.Sprintf("listen 0.0.0.0:%d", guestPort), 1)
	if conf == string(base) {
		t.Fatal("image/gpsntp-vm/ntp.conf has no `listen 0.0.0.0:123` line to change")
	}
	// The only upstream server: on the host side, serving the simulated
	// GPS time (slirp's 10.0.2.2 is this namespace's loopback); one is
	// enough to set the clock (minsane 1).
	tl := simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: int64(simOffset), FreqPPM: simFreqPPM}
	startUpstream(t, tl)
	conf += fmt.Sprintf("console /dev/ttyS2\nserver 10.0.2.2 port %d iburst\nminsane 1\n", upstreamPort)
	writeBootConf(t, img, conf)
	vm := bootVM(t, work, img, vars, "boot1")
	addr := fmt.Sprintf("127.0.0.1:%d", hostPort)

	// Issue 13's boot: the guest starts in 1970 with the receiver silent;
	// its clock must be set from the upstream within 30 s of its network
	// coming up (the first reply of any kind), served at stratum 2.
	netUp, upSet := time.Duration(0), time.Duration(0)
	for deadline := time.Now().Add(replyLimit); upSet == 0; {
		if time.Now().After(deadline) {
			t.Logf("the guest's sources:\n%s", vm.screen(t, "sources", "remote"))
			t.Fatalf("the guest's clock not set from the upstream within %v of Linux being up (network up at %v)", replyLimit, netUp)
		}
		vm.alive(t)
		next := time.Now().Add(time.Second)
		want := time.Duration(tl.OffsetAt(time.Now().UnixNano()))
		r, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 800 * time.Millisecond})
		if err == nil {
			if netUp == 0 {
				netUp = time.Since(vm.start)
			}
			if d := r.ClockOffset - want; synchronised(r) && d.Abs() < tolerance {
				upSet = time.Since(vm.start)
				t.Logf("BENCH vm-boot-clock-from-upstream %.1fs after the network came up (%.1fs after boot): stratum %d refid %s, served − simulated GPS time %+.3f ms, receiver silent",
					(upSet - netUp).Seconds(), upSet.Seconds(), r.Stratum, refIDAny(r), float64(d)/1e6)
				if r.Stratum != 2 {
					t.Errorf("clock from the upstream served at stratum %d, want 2", r.Stratum)
				}
				if upSet-netUp > 30*time.Second {
					t.Errorf("clock set from the upstream %v after the network came up, want within 30 s", upSet-netUp)
				}
			} else if synchronised(r) {
				t.Fatalf("synchronised reply before the clock was right: stratum %d, served − simulated GPS time %v", r.Stratum, d)
			}
		}
		time.Sleep(time.Until(next))
	}
	rx := vm.receiver(t, tl)
	var firstAny, firstSync time.Duration
	good := 0
	deadline := time.Now().Add(replyLimit)
	for good < goodReplies {
		if time.Now().After(deadline) {
			t.Fatalf("no %d good replies within %v of Linux being up (first reply at %v, first synchronised at %v)", goodReplies, replyLimit, firstAny, firstSync)
		}
		vm.alive(t)
		next := time.Now().Add(time.Second)
		// Simulated GPS time minus host time, mid-query.
		want := time.Duration(tl.OffsetAt(time.Now().UnixNano()))
		r, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 800 * time.Millisecond})
		switch {
		case err != nil:
			// Not serving yet (or the guest's network is not up).
		case firstAny == 0:
			firstAny = time.Since(vm.start)
			t.Logf("first reply after %.1fs: stratum %d refid %q leap %d offset %v", firstAny.Seconds(), r.Stratum, refIDAny(r), r.Leap, r.ClockOffset)
			fallthrough
		default:
			if !synchronised(r) {
				// Set from the upstream, it is synchronised (stratum 2)
				// until the receiver takes over.
				t.Errorf("unsynchronised reply %.1fs after boot, after the clock was set from the upstream", time.Since(vm.start).Seconds())
				break
			}
			if r.Stratum != 1 {
				break // the upstream's time, until the receiver takes over
			}
			if firstSync == 0 {
				firstSync = time.Since(vm.start)
				t.Logf("BENCH vm-boot-to-first-sync-reply %.1fs (Linux up at %.1fs, receiver started then)", firstSync.Seconds(), vm.linuxAt.Seconds())
			}
			if err := checkReply(r, want, tolerance); err != nil {
				t.Fatalf("synchronised reply %d: %v", good+1, err)
			}
			good++
			t.Logf("reply %d: stratum %d refid %s, served − simulated GPS time = %+.3fms (rtt %.3fms)",
				good, r.Stratum, refID(r), float64(r.ClockOffset-want)/1e6, float64(r.RTT)/1e6)
		}
		time.Sleep(time.Until(next))
	}
	st := rx.Stats()
	t.Logf("simulated receiver: %d bursts, %d late", st.Bursts, st.Late)
	screen := vm.screen(t, "status", "refid GPS")
	t.Logf("status screen on the guest's ttyS2 (console /dev/ttyS2 in the boot partition's gpsntp.conf):\n%s", screen)
	// It did all that as uid 65534 (image/gpsntp-vm/ntp.conf `user`),
	// keeping only CAP_SYS_TIME and CAP_NET_BIND_SERVICE: the guest's
	// clock was stepped and steered after the drop.
	b, _ := os.ReadFile(vm.console)
	var dropped string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `msg="dropped privileges"`) {
			dropped = l
		}
	}
	if !strings.Contains(dropped, "uid=65534") || !strings.Contains(dropped, "CAP_SYS_TIME") {
		t.Errorf("guest console has no privilege drop to uid 65534 keeping CAP_SYS_TIME (got %q)", dropped)
	} else {
		t.Logf("guest: %s", strings.TrimSpace(dropped[strings.Index(dropped, "msg="):]))
	}
	// Its root has CAP_SYS_RESOURCE: RLIMIT_NICE was raised for the busy
	// NTP workers before the drop, so CAP_SYS_NICE (the fallback where it
	// cannot be) was not kept, and nothing says the workers stay at nice 0.
	if strings.Contains(dropped, "CAP_SYS_NICE") || strings.Contains(string(b), "will not raise their priority") {
		t.Errorf("guest: RLIMIT_NICE was not raised before the privilege drop (dropped: %q)", dropped)
	}
	if strings.Contains(string(b), "the kernel refused to steer the clock") {
		t.Errorf("guest console: the kernel refused clock_adjtime after the drop")
	}
	vm.stop()
	if t.Failed() {
		return
	}

	// Boot 2: after an update. gokrazy's update writes gok's boot file
	// system over the boot partition: no gpsntp.conf, and no room for one.
	// The appliance grows the file system, puts the last good
	// configuration back, and runs it (the same port).
	writeBootPartition(t, img, os.Getenv("GPSNTP_VM_BOOTFAT"))
	if got := readBootConf(t, img); got != "" {
		t.Fatalf("gok's boot file system has a gpsntp.conf:\n%s", got)
	}
	vm = bootVM(t, work, img, vars, "boot2")
	vm.receiver(t, simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: int64(simOffset), FreqPPM: simFreqPPM})
	vm.waitReply(t, addr, "after an update")
	b, _ = os.ReadFile(vm.console)
	for _, want := range []string{"boot file system grown by", "put the last good one (/perm/gpsntp/last-good.conf) back"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("boot 2, after an update: guest console has no %q", want)
		}
	}
	vm.stop()
	if got := readBootConf(t, img); got != conf {
		t.Errorf("boot 2, after an update: the boot partition's gpsntp.conf is\n%s\nwant the last good one back:\n%s", got, conf)
	} else {
		t.Logf("boot 2, after an update: gpsntp.conf back on the boot partition, the configuration served")
	}
	if t.Failed() {
		return
	}

	// Boot 3: the file broken (ntpd's spelling of a refclock, a classic
	// mistake). The appliance runs the last good one, kept on /perm by
	// boot 1 (still on the same port), and says why, file:line.
	writeBootConf(t, img, conf+"server 127.127.28.0 minpoll 4\n")
	vm = bootVM(t, work, img, vars, "boot3")
	vm.receiver(t, simtime.Timeline{StartHostNs: time.Now().UnixNano(), OffsetNs: int64(simOffset), FreqPPM: simFreqPPM})
	vm.waitReply(t, addr, "broken gpsntp.conf")
	b, _ = os.ReadFile(vm.console)
	want := "configuration /tmp/gpsntp-boot/gpsntp.conf rejected (/tmp/gpsntp-boot/gpsntp.conf:"
	var alarm string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, want) {
			alarm = l
			break
		}
	}
	if alarm == "" {
		t.Errorf("boot 3: guest console has no %q", want)
	} else {
		t.Logf("boot 3, guest log: %s", strings.TrimSpace(alarm[strings.Index(alarm, "msg="):]))
	}
	screen = vm.screen(t, "status", "ALARM: configuration /tmp/gpsntp-boot/gpsntp.conf rejected")
	t.Logf("boot 3, alarms on the status console:\n%s", screen)
	vm.stop()
}

// waitReply waits for any NTP reply on addr (the port only the boot
// partition's configuration names).
func (v *vm) waitReply(t *testing.T, addr, what string) {
	t.Helper()
	deadline := time.Now().Add(replyLimit)
	for {
		v.alive(t)
		r, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 800 * time.Millisecond})
		if err == nil {
			t.Logf("%s, %s: reply on port %d after %.1fs, stratum %d refid %q", v.name, what, guestPort, time.Since(v.start).Seconds(), r.Stratum, refID(r))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, %s: no reply on port %d (the boot partition's or last good configuration's) within %v: %v", v.name, what, guestPort, replyLimit, err)
		}
		time.Sleep(time.Second)
	}
}

// bootPartition returns the byte offset and size of the image's
// partition 1.
func bootPartition(t *testing.T, img string) (offset, size int64) {
	t.Helper()
	out, err := exec.Command("partx", "-g", "-o", "START,SECTORS", "-n", "1", img).Output()
	if err != nil {
		t.Fatalf("partx %s: %v", img, err)
	}
	var start, sectors int64
	if _, err := fmt.Sscan(string(out), &start, &sectors); err != nil {
		t.Fatalf("partx %s: %q", img, out)
	}
	return start * 512, sectors * 512
}

// writeBootPartition writes the file system fat over the image's boot
// partition, as gokrazy's updater writes the one it is sent.
func writeBootPartition(t *testing.T, img, fat string) {
	t.Helper()
	b, err := os.ReadFile(fat)
	if err != nil {
		t.Fatal(err)
	}
	off, size := bootPartition(t, img)
	if int64(len(b)) > size {
		t.Fatalf("%s (%d bytes) does not fit the boot partition (%d)", fat, len(b), size)
	}
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// readBootConf reads gpsntp.conf from the image's boot partition ("" if
// there is none).
func readBootConf(t *testing.T, img string) string {
	t.Helper()
	off, _ := bootPartition(t, img)
	cmd := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", img, off), "::gpsntp.conf")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, _ := cmd.Output()
	return string(out)
}

// upstreamPort is the host-side upstream server's port (in the private
// namespace, so any free number will do).
const upstreamPort = 12400

// startUpstream serves tl's simulated GPS time over NTP on
// 127.0.0.1:upstreamPort until t ends: a stratum-1 server with the
// receiver's own timeline, 700 ppm fast and all. (A gpsntpd -sim cannot
// play it: its servo, like the kernel's, stops at ±500 ppm.)
func startUpstream(t *testing.T, tl simtime.Timeline) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: upstreamPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 512)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			rx := tl.GPSAt(time.Now().UnixNano())
			var req ntpserve.Header
			if req.Decode(b[:n]) != nil || req.Mode != ntpserve.ModeClient {
				continue
			}
			rep := ntpserve.Header{Version: req.Version, Mode: ntpserve.ModeServer, Stratum: 1, Poll: req.Poll, Precision: -20,
				RootDispersion: ntpserve.ShortFromNs(1e6), RefID: [4]byte{'G', 'P', 'S', 0},
				RefTime: ntpserve.TimestampFromUnixNs(rx - 1e9), Origin: req.Transmit, Receive: ntpserve.TimestampFromUnixNs(rx)}
			rep.Transmit = ntpserve.TimestampFromUnixNs(tl.GPSAt(time.Now().UnixNano()))
			var out [ntpserve.HeaderLen]byte
			rep.Encode(out[:])
			c.WriteToUDPAddrPort(out[:], from)
		}
	}()
}

// refIDAny is a reply's reference ID: text at stratum 1, an IPv4 address
// above.
func refIDAny(r *ntp.Response) string {
	if r.Stratum == 1 {
		return refID(r)
	}
	id := r.ReferenceID
	return fmt.Sprintf("%d.%d.%d.%d", byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// guestPort is where the boot partition's gpsntp.conf moves NTP to.
const guestPort = 1123

// writeBootConf puts conf on the image's FAT boot partition as
// gpsntp.conf, as a user would from any laptop (mtools: no mount needed).
func writeBootConf(t *testing.T, img, conf string) {
	t.Helper()
	off, _ := bootPartition(t, img)
	f := filepath.Join(t.TempDir(), "gpsntp.conf")
	os.WriteFile(f, []byte(conf), 0o644)
	cmd := exec.Command("mcopy", "-o", "-i", fmt.Sprintf("%s@@%d", img, off), f, "::gpsntp.conf")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy gpsntp.conf onto the boot partition: %v\n%s", err, out)
	}
}

// vm is one boot of the appliance.
type vm struct {
	name    string
	console string // ttyS0 log
	screen2 string // ttyS2 socket: gpsntpd's status console
	gps     string // ttyS1 socket
	start   time.Time
	linuxAt time.Duration
	exited  chan error
	qemu    *exec.Cmd
	out     *bytes.Buffer
	ctx     context.Context
	cancel  context.CancelFunc
	stopped bool
}

// bootVM boots img (writes persist: /perm keeps the last good
// configuration from one boot to the next) and waits for Linux.
func bootVM(t *testing.T, work, img, vars, name string) *vm {
	t.Helper()
	v := &vm{name: name, console: filepath.Join(work, name+"-console.log"),
		gps: filepath.Join(work, name+"-ttyS1.sock"), screen2: filepath.Join(work, name+"-ttyS2.sock"), out: new(bytes.Buffer)}
	v.ctx, v.cancel = context.WithTimeout(context.Background(), bootLimit+replyLimit+30*time.Second)
	v.qemu = exec.CommandContext(v.ctx, "qemu-system-x86_64",
		"-name", "gpsntp-vm",
		"-accel", "tcg,thread=single", // software emulation: the guest's clock is its own
		"-smp", "1", "-m", "512",
		"-display", "none", "-monitor", "none", "-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-drive", "file="+img+",format=raw",
		"-device", "e1000,netdev=net0",
		"-netdev", fmt.Sprintf("user,id=net0,hostfwd=udp:127.0.0.1:%d-:%d", hostPort, guestPort),
		"-serial", "file:"+v.console, // ttyS0: kernel and gokrazy console
		"-serial", "unix:"+v.gps+",server=on,wait=off", // ttyS1: the GPS
		"-serial", "unix:"+v.screen2+",server=on,wait=off", // ttyS2: gpsntpd's status console
		// A Pi has no RTC and boots in 1970; so does the guest.
		"-rtc", "base=1970-01-01T00:00:00",
	)
	v.qemu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	v.qemu.Stdout, v.qemu.Stderr = v.out, v.out
	v.start = time.Now()
	if err := v.qemu.Start(); err != nil {
		t.Fatal(err)
	}
	v.exited = make(chan error, 1)
	go func() { v.exited <- v.qemu.Wait() }()
	t.Cleanup(func() {
		if t.Failed() && !v.stopped {
			v.stop()
			b, _ := os.ReadFile(v.console)
			// gpsntpd's log lines, which the status lines would push out
			// of the console's tail.
			var logs []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "level=") {
					logs = append(logs, l)
				}
			}
			if len(logs) > 60 {
				logs = logs[len(logs)-60:]
			}
			t.Logf("%s: qemu output:\n%s\ngpsntpd's log (last 60 lines):\n%s\nguest console (last 6 KiB):\n%s", name, v.out.Bytes(), strings.Join(logs, "\n"), tail(b, 6<<10))
			// Last, where a truncated CI log still shows them: how the
			// guest calibrated its clock, which the servo has to steer.
			for _, l := range bytes.Split(b, []byte("\n")) {
				if bytes.Contains(l, []byte("tsc:")) || bytes.Contains(l, []byte("clocksource:")) {
					t.Logf("guest clock: %s", bytes.TrimSpace(l))
				}
			}
		}
		v.stop()
	})
	// Wait for Linux: from then on, bytes on ttyS1 reach Linux, not the
	// UEFI menu.
	for {
		b, _ := os.ReadFile(v.console)
		if bytes.Contains(b, []byte(linuxUp)) {
			break
		}
		v.alive(t)
		time.Sleep(200 * time.Millisecond)
		if time.Since(v.start) > bootLimit {
			t.Fatalf("%s: guest Linux not up after %v", name, bootLimit)
		}
	}
	v.linuxAt = time.Since(v.start)
	t.Logf("BENCH vm-linux-up %.1fs (%s)", v.linuxAt.Seconds(), name)
	return v
}

// alive fails the test if qemu has exited.
func (v *vm) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-v.exited:
		v.exited <- err
		t.Fatalf("%s: qemu exited: %v", v.name, err)
	default:
	}
}

// receiver plays the simulated receiver into the guest's ttyS1 until the
// boot ends.
func (v *vm) receiver(t *testing.T, tl simtime.Timeline) *sim.Receiver {
	t.Helper()
	conn, err := net.Dial("unix", v.gps)
	if err != nil {
		t.Fatalf("connect to the guest's ttyS1: %v", err)
	}
	rx, err := sim.New(sim.Config{Timeline: tl, Baud: 9600, Delay: simDelay, Seed: 1}, conn)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		rx.Run(v.ctx)
		conn.Close()
	}()
	return rx
}

// screen types cmd on gpsntpd's status console (ttyS2) and returns what
// it draws once that contains want (escape sequences removed).
func (v *vm) screen(t *testing.T, cmd, want string) string {
	t.Helper()
	conn, err := net.Dial("unix", v.screen2)
	if err != nil {
		t.Fatalf("connect to the guest's ttyS2: %v", err)
	}
	defer conn.Close()
	var got []byte
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		conn.Write([]byte(cmd + "\r"))
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if text := stripANSI(got); strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			return text
		}
	}
	t.Fatalf("%s: the status console on ttyS2 did not show %q after %q; it drew:\n%s", v.name, want, cmd, tail([]byte(stripANSI(got)), 2<<10))
	return ""
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// stripANSI removes the console's cursor and colour sequences, one line
// per screen row.
func stripANSI(b []byte) string {
	s := ansiRE.ReplaceAllString(string(b), "\n")
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return strings.Join(out, "\n")
}

// stop kills qemu and waits for it.
func (v *vm) stop() {
	if v.stopped {
		return
	}
	v.stopped = true
	v.cancel()
	<-v.exited
}

// synchronised says whether the reply claims the server is synchronised
// (leap indicator not alarm, stratum not 0 or 16).
func synchronised(r *ntp.Response) bool {
	return r.Leap != ntp.LeapNotInSync && r.Stratum > 0 && r.Stratum < 16
}

// checkReply returns why r is not a stratum-1 GPS reply within tol of
// simulated GPS time (host time + wantOffset), or nil.
func checkReply(r *ntp.Response, wantOffset, tol time.Duration) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("Validate() = %v", err)
	}
	if r.Leap == ntp.LeapNotInSync {
		return fmt.Errorf("leap indicator = alarm (unsynchronised)")
	}
	if r.Stratum != 1 {
		return fmt.Errorf("stratum = %d, want 1", r.Stratum)
	}
	if id := refID(r); id != "GPS" {
		return fmt.Errorf("refid = %q, want \"GPS\"", id)
	}
	if d := r.ClockOffset - wantOffset; d > tol || d < -tol {
		return fmt.Errorf("served time − simulated GPS time = %v (server − host = %v, want %v ± %v)", d, r.ClockOffset, wantOffset, tol)
	}
	return nil
}

// refID is a stratum-1 reference ID as text.
func refID(r *ntp.Response) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], r.ReferenceID)
	return strings.TrimRight(string(b[:]), "\x00")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
