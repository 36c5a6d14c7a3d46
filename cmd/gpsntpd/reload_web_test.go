package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// TestReloadWebNeedsRestart: the page's listener is opened once, before
// the privilege drop, so a changed `web` line is reported as needing a
// restart instead of passing silently.
func TestReloadWebNeedsRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ntp.conf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web 127.0.0.1:8123\n")
	cur, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	write("web 127.0.0.1:8124\n")
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	reload(context.Background(), options{configPath: path}, &cur, nil, nil, func(*restrict.Table, *restrict.Discard) {}, log)
	if !strings.Contains(buf.String(), "needs_restart=web") {
		t.Errorf("reload after changing web: log %q, want needs_restart=web", buf.String())
	}
}
