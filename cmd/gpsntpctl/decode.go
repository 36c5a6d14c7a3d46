package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gpsntp/gpsntp/gps"
)

// runDecode implements "gpsntpctl decode [-date YYYY-MM-DD] FILE...": it
// decodes captures with exactly the pipeline the daemon runs on the serial
// port (gps.Stream: framer, go-nmea decoder, epoch assembler) and prints one
// line per epoch with a trusted UTC time and a 2D/3D fix:
//
//	2019-04-12T00:39:56.000Z 3
//
// Lines starting with '#' are skipped. The reference date is -date, else
// the capture's "# Date:" header; as either is only an approximate date,
// the GPS week rollover floor is placed half a rollover period (≈9.8 years)
// before it (gps.FloorFromApproxDate). A capture with neither is an error:
// the year of a two-digit date cannot be guessed safely.
func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dateFlag := fs.String("date", "", "reference date `YYYY-MM-DD` (default: the capture's \"# Date:\" header)")
	verbose := fs.Bool("v", false, "print decoder counters to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gpsntpctl decode [-date YYYY-MM-DD] [-v] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var ref time.Time
	if *dateFlag != "" {
		d, err := gps.ParseDate(*dateFlag)
		if err != nil {
			fmt.Fprintf(stderr, "gpsntpctl decode: -date: %v\n", err)
			return 2
		}
		ref = d
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	status := 0
	for _, name := range fs.Args() {
		if err := decodeFile(w, stderr, name, ref, *verbose); err != nil {
			fmt.Fprintf(stderr, "gpsntpctl decode: %v\n", err)
			status = 1
		}
	}
	return status
}

func decodeFile(w io.Writer, stderr io.Writer, name string, ref time.Time, verbose bool) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	c, err := gps.ParseCapture(b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ref.IsZero() {
		ref = c.Date
	}
	if ref.IsZero() {
		return fmt.Errorf("%s: no \"# Date:\" header; give -date YYYY-MM-DD", name)
	}
	fixes, st := gps.DecodeCapture(c.Data, gps.FloorFromApproxDate(ref))
	for _, f := range fixes {
		if f.TimeValid && f.Mode >= gps.Mode2D {
			fmt.Fprintln(w, gps.FormatFix(f))
		}
	}
	if verbose {
		fmt.Fprintf(stderr, "%s: framer %+v\n%s: decoder %+v\n%s: assembler %+v\n", name, st.Framer, name, st.Decoder, name, st.Assembler)
	}
	return nil
}
