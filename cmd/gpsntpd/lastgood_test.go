package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/sim"
)

func TestLoadConfigFallback(t *testing.T) {
	dir := t.TempDir()
	conf, last := filepath.Join(dir, "gpsntp.conf"), filepath.Join(dir, "last-good.conf")
	good := "gps /dev/ttyAMA0 baud 9600\npps gpio 4\nclock soft\n"
	os.WriteFile(conf, []byte(good), 0o644)

	// No last good copy yet, good file: it runs, and becomes the last good.
	cfg, alarm, err := loadConfig(conf, last)
	if err != nil || alarm != "" || cfg.PPS.Pin != 4 {
		t.Fatalf("loadConfig(good) = pin %d, alarm %q, err %v", cfg.PPS.Pin, alarm, err)
	}
	if err := saveLastGood(conf, last); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(last); string(b) != good {
		t.Fatalf("last good = %q, want the file", b)
	}
	// Unchanged: not written again (an SD card).
	st1, _ := os.Stat(last)
	time.Sleep(20 * time.Millisecond)
	if err := saveLastGood(conf, last); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(last); !os.SameFile(st1, st2) || !st2.ModTime().Equal(st1.ModTime()) {
		t.Errorf("last good rewritten though unchanged")
	}

	// Broken (as edited in Notepad, with ntpd's spelling of a refclock):
	// the last good one runs, the alarm names file:line.
	os.WriteFile(conf, []byte("gps /dev/ttyAMA0 baud 9600\r\npps gpio banana\r\nserver 127.127.22.0\r\n"), 0o644)
	cfg, alarm, err = loadConfig(conf, last)
	if err != nil {
		t.Fatalf("loadConfig(broken, with last good) = %v", err)
	}
	if cfg.PPS.Pin != 4 {
		t.Errorf("running pps pin %d, want the last good's 4", cfg.PPS.Pin)
	}
	for _, want := range []string{conf + ":2: pps:", conf + ":3: server:", "running the last good one (" + last + ")"} {
		if !strings.Contains(alarm, want) {
			t.Errorf("alarm %q does not say %q", alarm, want)
		}
	}
	if b, _ := os.ReadFile(last); string(b) != good {
		t.Errorf("the broken file replaced the last good one: %q", b)
	}

	// Broken, and no last good copy: fatal, saying both.
	os.Remove(last)
	if _, _, err := loadConfig(conf, last); err == nil || !strings.Contains(err.Error(), conf+":2:") || !strings.Contains(err.Error(), "no last good configuration") {
		t.Errorf("loadConfig(broken, no last good) = %v, want the file's error and no last good", err)
	}
	// Without -config-fallback nothing changes: the error is fatal.
	if _, alarm, err := loadConfig(conf, ""); err == nil || alarm != "" {
		t.Errorf("loadConfig(broken, no fallback) = alarm %q, err %v", alarm, err)
	}
}

// The real daemon: a good file runs and is kept; the same file broken
// later runs the last good one, serving, with the alarm in gpsntpctl.
func TestEndToEndLastGoodConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	dir := t.TempDir()
	slave := simReceiver(t, 0, 7)
	sock := filepath.Join(dir, "ctl.sock")
	conf, last := filepath.Join(dir, "gpsntp.conf"), filepath.Join(dir, "last-good.conf")
	good := fmt.Sprintf("gps %s baud 9600\npps none\nclock soft\nnmeadelay %v\ncontrol %s\n", slave, sim.DefaultDelay, sock)
	os.WriteFile(conf, []byte(good), 0o644)
	port := freePort(t)
	args := []string{"-config", conf, "-config-fallback", last, "-status-interval", "0", "-listen", fmt.Sprintf("127.0.0.1:%d", port)}

	t.Run("good", func(t *testing.T) {
		d := launch(t, args)
		took := waitSynced(t, d, "GPS", 90*time.Second)
		t.Logf("refid GPS after %v", took)
		if b, _ := os.ReadFile(last); string(b) != good {
			t.Errorf("last good = %q, want the file it ran", b)
		}
	})
	t.Run("broken", func(t *testing.T) {
		os.WriteFile(conf, []byte(good+"pps gpio banana\n"), 0o644)
		d := launch(t, args)
		took := waitSynced(t, d, "GPS", 90*time.Second)
		out, err := exec.Command(gpsntpctlBinary(t), "status", "-socket", sock).CombinedOutput()
		flat := strings.Join(strings.Fields(string(out)), " ")
		want := fmt.Sprintf("ALARM: configuration %s rejected (%s:6: pps:", conf, conf)
		if err != nil || !strings.Contains(flat, want) {
			t.Fatalf("gpsntpctl status: %v\n%s\nwant %q", err, out, want)
		}
		t.Logf("serving refid GPS after %v from the last good configuration; gpsntpctl status:\n%s", took, out)
		if b, _ := os.ReadFile(last); string(b) != good {
			t.Errorf("the broken file replaced the last good one: %q", b)
		}
	})
}
