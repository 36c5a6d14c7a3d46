package image

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/gpsntp/gpsntp/board"
)

// The SD image's config.txt lines are the board table's, rendered with one
// conditional section per family (board.ImageConfigTxt): one fact, one
// place. Regenerate config.json's BootloaderExtraLines from the table when
// this fails.
func TestImageConfigTxtIsTheBoardTable(t *testing.T) {
	b, err := os.ReadFile("gpsntp/config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct{ BootloaderExtraLines []string }
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("gpsntp/config.json: %v", err)
	}
	if want := board.ImageConfigTxt(); !slices.Equal(cfg.BootloaderExtraLines, want) {
		t.Errorf("gpsntp/config.json BootloaderExtraLines = %q\nwant board.ImageConfigTxt() = %q", cfg.BootloaderExtraLines, want)
	}
	// The image reads PPS through the GPIO character device: the pps-gpio
	// overlay would hold the pin (EBUSY), and gokrazy's kernel has no
	// pps-gpio driver anyway.
	for _, l := range cfg.BootloaderExtraLines {
		if len(l) >= 18 && l[:18] == "dtoverlay=pps-gpio" {
			t.Errorf("config.json BootloaderExtraLines has %q", l)
		}
	}
}
