package web

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// The history file: the day ring, so that a reboot does not blank the
// 24 h plot. Written rarely (SaveEvery, and at shutdown) for SD-card wear:
// 1440 minutes of sampleBytes, about 80 KB.
//
// Format: magic "GPSNTPH1", uint32 count, count samples (T int64, then
// float32 offset, bound, jitter, freq, missed, requests by Group), then
// the CRC-32 (IEEE) of all that; little-endian.
const fileMagic = "GPSNTPH1"

// Save writes the day's minutes to path atomically (a temporary file in
// the same directory, synced, then renamed over it).
func (h *History) Save(path string) error {
	h.mu.Lock()
	ms := h.minutes(math.MinInt64)
	h.mu.Unlock()
	// The day before the newest: minutes taken before the clock was set
	// (a board that booted in 1970) are of no use after a reboot.
	if n := len(ms); n > 0 {
		from := ms[n-1].T - MinutesKept*60
		ms = slices.DeleteFunc(ms, func(s Sample) bool { return s.T <= from })
	}
	var b bytes.Buffer
	b.WriteString(fileMagic)
	binary.Write(&b, binary.LittleEndian, uint32(len(ms)))
	for _, s := range ms {
		binary.Write(&b, binary.LittleEndian, s)
	}
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing there
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("save history %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save history %s: fsync: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save history %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return nil
}

// ErrCorrupt is a history file that is not one, or was damaged.
var ErrCorrupt = errors.New("not a gpsntp history file, or damaged")

// Load reads a file Save wrote. Its minutes join the day ring at the first
// synchronised snapshot, keeping those within the day before it and none
// after it (the file was written by a clock since corrected, or the
// board booted in 1970). A missing file is fs.ErrNotExist; a damaged one
// ErrCorrupt, and the history stays empty.
func (h *History) Load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load history: %w", err)
	}
	ms, err := decode(data)
	if err != nil {
		return fmt.Errorf("load history %s: %w", path, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending = ms
	return nil
}

func decode(data []byte) ([]Sample, error) {
	hdr := len(fileMagic) + 4
	if len(data) < hdr+4 || string(data[:len(fileMagic)]) != fileMagic {
		return nil, fmt.Errorf("%w: no header", ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(data[len(fileMagic):]))
	if n > MinutesKept || len(data) != hdr+n*sampleBytes+4 {
		return nil, fmt.Errorf("%w: %d bytes for %d samples", ErrCorrupt, len(data), n)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum", ErrCorrupt)
	}
	ms := make([]Sample, n)
	if err := binary.Read(bytes.NewReader(body[hdr:]), binary.LittleEndian, ms); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// Oldest first, strictly: anything else was not written by Save.
	for i := 1; i < n; i++ {
		if ms[i].T <= ms[i-1].T {
			return nil, fmt.Errorf("%w: samples out of order", ErrCorrupt)
		}
	}
	return ms, nil
}
