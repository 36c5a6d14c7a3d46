package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpsntp/gpsntp/config"
)

// loadConfig reads and validates -config. With -config-fallback (the
// appliance: the user's gpsntp.conf on the boot partition, and the last
// good copy on /perm), a file that does not load or validate is not fatal:
// the last good one runs instead, and alarm says why, file:line, until the
// file is fixed and the daemon restarted; the caller then keeps a good file
// as the last good one (saveLastGood). Without a fallback, an error is
// fatal, as it always was.
func loadConfig(path, fallback string) (cfg config.Config, alarm string, err error) {
	cfg, err = config.Load(path)
	if err == nil {
		err = validateConfig(cfg)
	}
	if fallback == "" {
		return cfg, "", err
	}
	if err == nil {
		return cfg, "", nil
	}
	fb, ferr := config.Load(fallback)
	if ferr == nil {
		ferr = validateConfig(fb)
	}
	if ferr != nil {
		return cfg, "", fmt.Errorf("%w\n(no last good configuration to run instead: %v)", err, ferr)
	}
	why := strings.ReplaceAll(err.Error(), "\n", "; ")
	return fb, fmt.Sprintf("configuration %s rejected (%s): running the last good one (%s) until it is fixed and gpsntpd restarted", path, why, fallback), nil
}

// saveLastGood copies the configuration at path to fallback when they
// differ (an SD card is written only when the user changed something),
// through a temporary file and a rename, so a power cut leaves either the
// old copy or the new one.
func saveLastGood(path, fallback string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("last good configuration: %w", err)
	}
	if old, err := os.ReadFile(fallback); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(fallback), ".last-good-*")
	if err != nil {
		return fmt.Errorf("last good configuration: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), fallback)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("last good configuration %s: %w", fallback, err)
	}
	return nil
}
