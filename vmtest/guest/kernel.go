//go:build linux

package main

// The kernel PPS path (/dev/ppsN, pps.OpenKernel), for vmtest's
// TestVMKernelPPS: the host boots a kernel with pps-gpio as a module and a
// device tree that binds it to the PL061 line QMP pulses.
//
//	insmod PATH…         load modules in the order given (finit_module;
//	                     .xz files are decompressed by the kernel); one
//	                     already loaded is not an error
//	ppsinfo              the PPS devices in /sys/class/pps: name, path
//	kedges DEV N S [clear]  pps.OpenKernel(DEV), then N edges (or S
//	                     seconds), as edges does; "open" carries Caps and
//	                     Mode; clear asks for the clear edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/pps"
)

func init() {
	verbs["insmod"] = func(a *agent, id string, args []string) any { return insmod(args) }
	verbs["ppsinfo"] = func(a *agent, id string, args []string) any { return ppsDevices() }
	verbs["kedges"] = (*agent).kedges
}

// insmod loads each module file in turn.
func insmod(paths []string) any {
	if len(paths) == 0 {
		return errors.New("want PATH…")
	}
	var loaded, already []string
	for _, p := range paths {
		err := loadModule(p)
		switch {
		case errors.Is(err, unix.EEXIST):
			already = append(already, p)
		case err != nil:
			return fmt.Errorf("insmod %s: %w (loaded before it: %v)", p, err, loaded)
		default:
			loaded = append(loaded, p)
		}
	}
	return map[string][]string{"loaded": loaded, "already": already}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		// CONFIG_MODULE_DECOMPRESS: the kernel unpacks it itself.
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(int(f.Fd()), "", flags)
}

// ppsDev is one /sys/class/pps entry.
type ppsDev struct {
	Dev  string `json:"dev"`  // /dev/ppsN
	Name string `json:"name"` // the client's name: "pps@0", "pps-gpio.…", "ktimer"
	Path string `json:"path"` // the source it stamps, if the client says
}

func ppsDevices() []ppsDev {
	var devs []ppsDev
	dirs, _ := filepath.Glob("/sys/class/pps/pps*")
	for _, d := range dirs {
		name, _ := os.ReadFile(filepath.Join(d, "name"))
		path, _ := os.ReadFile(filepath.Join(d, "path"))
		devs = append(devs, ppsDev{Dev: "/dev/" + filepath.Base(d),
			Name: strings.TrimSpace(string(name)), Path: strings.TrimSpace(string(path))})
	}
	return devs
}

// kernelOpen is kedges' "open" answer.
type kernelOpen struct {
	Caps    int      `json:"caps"` // PPS_GETCAP bits
	Mode    int      `json:"mode"` // the mode after OpenKernel
	Devices []ppsDev `json:"devices"`
	// WaitedMs is how long DEV took to appear (pps-gpio binds, then
	// devtmpfs creates the node).
	WaitedMs int64 `json:"waited_ms"`
}

// kedges opens DEV with the daemon's kernel PPS driver and streams N
// edges, as edges does for the GPIO line.
func (a *agent) kedges(id string, args []string) any {
	if len(args) < 3 {
		return errors.New("want DEV N SECONDS [clear]")
	}
	dev := args[0]
	n, err1 := strconv.Atoi(args[1])
	secs, err2 := strconv.Atoi(args[2])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	start := time.Now()
	for {
		_, err := os.Stat(dev)
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			return fmt.Errorf("%s did not appear within 10 s (PPS devices: %+v): %w", dev, ppsDevices(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waited := time.Since(start)
	k, err := pps.OpenKernel(dev, pps.KernelConfig{CaptureClear: len(args) > 3 && args[3] == "clear"})
	if err != nil {
		return err
	}
	return a.stream(id, k, kernelOpen{Caps: k.Caps(), Mode: k.Mode(), Devices: ppsDevices(), WaitedMs: waited.Milliseconds()},
		n, time.Duration(secs)*time.Second)
}
