package pps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestOpenKernelErrors(t *testing.T) {
	_, err := OpenKernel("/nonexistent/pps9", KernelConfig{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenKernel(missing) = %v, want ErrNotExist", err)
	}
	// /dev/null is a character device that knows no PPS ioctls: the first
	// call is refused by the real kernel, and the error names it.
	_, err = OpenKernel("/dev/null", KernelConfig{})
	if errors.Is(err, unix.ENOSYS) {
		// qemu-user answers ioctls it cannot translate with ENOSYS
		// instead of passing them to the kernel.
		t.Skipf("ioctl not passed through (emulator?): %v", err)
	}
	if err == nil || err.Error() != "open /dev/null: ioctl(PPS_GETCAP): inappropriate ioctl for device" {
		t.Errorf("OpenKernel(/dev/null) = %v, want open /dev/null: ioctl(PPS_GETCAP): inappropriate ioctl for device", err)
	}
	if !errors.Is(err, unix.ENOTTY) {
		t.Errorf("errors.Is(%v, ENOTTY) = false", err)
	}
}

// TestKernelDevice reads real edges when the machine has a PPS device
// (pps-gpio on a Pi, or pps-ktimer: modprobe pps-ktimer makes one that
// fires every second).
func TestKernelDevice(t *testing.T) {
	paths, _ := filepath.Glob("/dev/pps*")
	if len(paths) == 0 {
		t.Skip("no /dev/pps* on this machine (modprobe pps-ktimer to make one)")
	}
	k, err := OpenKernel(paths[0], KernelConfig{FetchSlice: 500 * time.Millisecond})
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	e1, err := k.Next(ctx)
	if err != nil {
		t.Skipf("%s: no pulse within 3.5 s (%v); is a PPS signal connected?", paths[0], err)
	}
	e2, err := k.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Seq == e1.Seq || e2.AssertNs <= e1.AssertNs {
		t.Errorf("edges %+v then %+v: want increasing seq and time", e1, e2)
	}
	if age := time.Now().UnixNano() - e2.AssertNs; age < 0 || age > int64(time.Second) {
		t.Errorf("edge is %v old, want CLOCK_REALTIME within 1 s", time.Duration(age))
	}
}

func TestOpenDCDOnPty(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Cflag&unix.CLOCAL != 0 {
		t.Fatalf("new pty %s already has CLOCAL; the check below would prove nothing", path)
	}
	// A pty has no modem lines: Linux's pty driver implements neither
	// TIOCMGET nor TIOCMIWAIT. That is what this test can check for real:
	// the port is opened, CLOCAL set, and the first modem ioctl is refused
	// with an error that names it. (The edge path needs a real UART.)
	_, err = OpenDCD(path, DCDConfig{})
	want := "open " + path + ": ioctl(TIOCMGET): inappropriate ioctl for device"
	if err == nil || err.Error() != want {
		t.Fatalf("OpenDCD(pty) = %v, want %s", err, want)
	}
	tio, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Cflag&unix.CLOCAL == 0 {
		t.Errorf("OpenDCD did not set CLOCAL on %s", path)
	}
}

func TestOpenGPIOErrors(t *testing.T) {
	_, err := OpenGPIO(GPIOConfig{Chip: "no-such-chip-label", Line: 18})
	if err == nil || !strings.Contains(err.Error(), `no GPIO chip labelled "no-such-chip-label"`) {
		t.Errorf("OpenGPIO(unknown label) = %v, want no GPIO chip labelled ...", err)
	}
	_, err = OpenGPIO(GPIOConfig{Line: 18})
	if err == nil || !strings.Contains(err.Error(), "Chip is empty") {
		t.Errorf("OpenGPIO(no chip) = %v, want an error saying Chip is empty", err)
	}
	_, err = OpenGPIO(GPIOConfig{Chip: "/dev/null", Line: 18})
	if err == nil || !strings.Contains(err.Error(), "ioctl(GPIO_V2_GET_LINE_IOCTL)") {
		t.Errorf("OpenGPIO(/dev/null) = %v, want an error naming GPIO_V2_GET_LINE_IOCTL", err)
	}
	_, err = OpenGPIO(GPIOConfig{Chip: "/dev/null", Bias: "sideways"})
	if err == nil || !strings.Contains(err.Error(), `bias "sideways"`) {
		t.Errorf("OpenGPIO(bad bias) = %v", err)
	}
}

// TestGPIOSim drives a line of the kernel's gpio-sim (CONFIG_GPIO_SIM,
// configured through configfs) and checks the edges and their
// CLOCK_REALTIME timestamps. It needs root and the module; otherwise it
// skips and says why.
func TestGPIOSim(t *testing.T) {
	const cfs = "/sys/kernel/config/gpio-sim"
	if _, err := os.Stat(cfs); err != nil {
		t.Skipf("gpio-sim not available (%v): needs CONFIG_GPIO_SIM (modprobe gpio-sim) and configfs at /sys/kernel/config", err)
	}
	dev := filepath.Join(cfs, fmt.Sprintf("gpsntp-test-%d", os.Getpid()))
	bank := filepath.Join(dev, "bank0")
	label := fmt.Sprintf("gpsntp-sim-%d", os.Getpid())
	if err := os.Mkdir(dev, 0o755); err != nil {
		t.Skipf("cannot create gpio-sim device: %v", err)
	}
	defer os.Remove(dev)
	if err := os.Mkdir(bank, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bank)
	write := func(p, v string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bank, "num_lines"), "8")
	write(filepath.Join(bank, "label"), label)
	write(filepath.Join(dev, "live"), "1")
	defer os.WriteFile(filepath.Join(dev, "live"), []byte("0"), 0o644)
	devName, err := os.ReadFile(filepath.Join(dev, "dev_name"))
	if err != nil {
		t.Fatal(err)
	}
	chipName, err := os.ReadFile(filepath.Join(bank, "chip_name"))
	if err != nil {
		t.Fatal(err)
	}
	pull := filepath.Join("/sys/devices/platform", strings.TrimSpace(string(devName)),
		strings.TrimSpace(string(chipName)), "sim_gpio3", "pull")

	g, err := OpenGPIO(GPIOConfig{Chip: label, Line: 3, Edge: Rising})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var prev Edge
	for i := 0; i < 3; i++ {
		write(pull, "pull-down")
		before := time.Now().UnixNano()
		write(pull, "pull-up")
		after := time.Now().UnixNano()
		e, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.AssertNs < before || e.AssertNs > after {
			t.Errorf("edge %d at %d, want within [%d, %d] (CLOCK_REALTIME)", i, e.AssertNs, before, after)
		}
		if i > 0 && e.Seq != prev.Seq+2 && e.Seq != prev.Seq+1 {
			t.Errorf("edge %d: Seq %d after %d", i, e.Seq, prev.Seq)
		}
		prev = e
	}
	// Only rising edges are requested: a falling one must not come out.
	write(pull, "pull-down")
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if e, err := g.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next after a falling edge = %+v, %v, want DeadlineExceeded", e, err)
	}
}

// A read error names the line once: os.File.Read already returns a
// *PathError, which read must not wrap in another (seen on a real kernel
// when the GPIO controller was unbound: "read /dev/gpiochip0 line 3: read
// /dev/gpiochip0 line 3: no such device").
func TestGPIOReadErrorNamesLineOnce(t *testing.T) {
	// The write end of a pipe: pollable, and read(2) fails with EBADF.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g := &GPIO{name: "/dev/gpiochip0 line 3", f: w, evs: make([]unix.GPIOV2LineEvent, 16)}
	defer w.Close()
	err = g.read(context.Background())
	if err == nil {
		t.Fatal("read of a directory succeeded")
	}
	if want := "read /dev/gpiochip0 line 3: bad file descriptor"; err.Error() != want {
		t.Errorf("read error = %q, want %q", err, want)
	}
	if !errors.Is(err, unix.EBADF) {
		t.Errorf("read error %v does not match EBADF", err)
	}
}
