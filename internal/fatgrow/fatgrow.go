// Package fatgrow lets a FAT16 file system use the free sectors of its
// partition. gokrazy's boot file system is sized to its contents: 0 bytes
// free in a 100 MiB partition, so not even a configuration file fits. Its
// file allocation table, though, has room for a few hundred more clusters
// than the file system claims. Grow raises the total sector count in the
// boot sector to what that table can address (and the partition holds):
// nothing moves, only free clusters are added. The layout is Microsoft's
// "FAT: General Overview of On-Disk Format" (the BPB fields below).
package fatgrow

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Device is a partition, or a disk image with the partition at an offset.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Grow grows the FAT16 file system at offset on dev to as many clusters
// as its FAT addresses, within partSectors 512-byte sectors. It returns the
// bytes added (0 if there was nothing to gain). Anything that is not a
// FAT16 file system with zeroed FAT entries past its end is refused.
func Grow(dev Device, offset, partSectors int64) (addedBytes int64, err error) {
	var bs [512]byte
	if _, err := dev.ReadAt(bs[:], offset); err != nil {
		return 0, fmt.Errorf("fatgrow: read boot sector: %w", err)
	}
	le := binary.LittleEndian
	bytesPerSector := int64(le.Uint16(bs[0x0B:]))
	perCluster := int64(bs[0x0D])
	reserved := int64(le.Uint16(bs[0x0E:]))
	fats := int64(bs[0x10])
	rootEntries := int64(le.Uint16(bs[0x11:]))
	total16 := int64(le.Uint16(bs[0x13:]))
	fatSectors := int64(le.Uint16(bs[0x16:]))
	total32 := int64(le.Uint32(bs[0x20:]))
	if le.Uint16(bs[510:]) != 0xAA55 || bytesPerSector != 512 || perCluster == 0 || fats == 0 || fatSectors == 0 {
		return 0, fmt.Errorf("fatgrow: not a FAT12/16 file system with 512-byte sectors (signature %#x, %d bytes/sector, %d sectors/FAT)", le.Uint16(bs[510:]), bytesPerSector, fatSectors)
	}
	total := total16
	if total == 0 {
		total = total32
	}
	rootSectors := (rootEntries*32 + bytesPerSector - 1) / bytesPerSector
	dataStart := reserved + fats*fatSectors + rootSectors
	clusters := (total - dataStart) / perCluster
	// The FAT type follows from the cluster count alone.
	if clusters < 4085 || clusters > 65524 {
		return 0, fmt.Errorf("fatgrow: %d clusters: not FAT16", clusters)
	}
	// Two reserved entries, then one per cluster; stay FAT16.
	maxClusters := min(fatSectors*bytesPerSector/2-2, 65524)
	newTotal := min(dataStart+maxClusters*perCluster, partSectors*512/bytesPerSector)
	newClusters := (newTotal - dataStart) / perCluster
	if newClusters <= clusters {
		return 0, nil
	}
	// The entries of the clusters to add must read free (0) in every FAT.
	for i := int64(0); i < fats; i++ {
		from := offset + (reserved+i*fatSectors)*bytesPerSector + (2+clusters)*2
		buf := make([]byte, (newClusters-clusters)*2)
		if _, err := dev.ReadAt(buf, from); err != nil {
			return 0, fmt.Errorf("fatgrow: read FAT %d: %w", i+1, err)
		}
		for j, b := range buf {
			if b != 0 {
				return 0, fmt.Errorf("fatgrow: FAT %d entry %d past the end of the file system is not free", i+1, 2+clusters+int64(j)/2)
			}
		}
	}
	if newTotal > 0xFFFF {
		le.PutUint16(bs[0x13:], 0)
		le.PutUint32(bs[0x20:], uint32(newTotal))
	} else if total16 != 0 {
		le.PutUint16(bs[0x13:], uint16(newTotal))
	} else {
		le.PutUint32(bs[0x20:], uint32(newTotal))
	}
	if _, err := dev.WriteAt(bs[:], offset); err != nil {
		return 0, fmt.Errorf("fatgrow: write boot sector: %w", err)
	}
	return (newClusters - clusters) * perCluster * bytesPerSector, nil
}
