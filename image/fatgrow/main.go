// Command fatgrow grows the FAT16 boot file system in partition 1 of a disk
// image to the room its FAT addresses (internal/fatgrow), so that
// image/build.sh can put gpsntp.conf on it: gok sizes it to its contents.
//
//	fatgrow IMAGE START_SECTOR SECTORS
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/gpsntp/gpsntp/internal/fatgrow"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: fatgrow IMAGE START_SECTOR SECTORS")
		os.Exit(2)
	}
	start, err1 := strconv.ParseInt(os.Args[2], 10, 64)
	sectors, err2 := strconv.ParseInt(os.Args[3], 10, 64)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "fatgrow: START_SECTOR and SECTORS are numbers of 512-byte sectors")
		os.Exit(2)
	}
	f, err := os.OpenFile(os.Args[1], os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fatgrow:", err)
		os.Exit(1)
	}
	added, err := fatgrow.Grow(f, start*512, sectors)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatgrow %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	fmt.Printf("fatgrow: boot file system grown by %d bytes\n", added)
}
