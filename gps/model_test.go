package gps

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentify(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // bodies, in order
		want  string
	}{
		{"u-blox M8 start-up banner", []string{
			"GNTXT,01,01,02,u-blox AG - www.u-blox.com", "GNTXT,01,01,02,HW UBX-M80xx 00080000",
			"GNTXT,01,01,02,PROTVER=18.00", "GNTXT,01,01,02,MOD=NEO-M8N", "GNTXT,01,01,02,HW UBX-M80xx 00080000",
		}, "u-blox NEO-M8N"},
		{"u-blox HW line only", []string{"GPTXT,01,01,02,HW UBX-G70xx 00070000"}, "u-blox G70xx"},
		{"u-blox PROTVER only", []string{"GNTXT,01,01,02,PROTVER=32.01"}, "u-blox"},
		{"PUBX reply", []string{"PUBX,00,081350.00,4717.113210,N,00833.915187,E"}, "u-blox"},
		{"MTK release string", []string{"PMTK001,604,3", "PMTK705,AXN_2.10_3339_2012072601,5223,PA6H,1.0"}, "MediaTek MT3339"},
		{"MTK ack", []string{"PMTK001,314,3"}, "MediaTek"},
		{"CASIC banner", []string{"GPTXT,01,01,02,MA=CASIC", "GPTXT,01,01,02,IC=AT6558-5N-32-1C510800"}, "CASIC AT6558"},
		{"CASIC antenna", []string{"GPTXT,01,01,01,ANTENNA OK"}, "CASIC"},
		{"Garmin PGRMT", []string{"PGRME,15.0,M,45.0,M,25.0,M", "PGRMT,GPS 15x-W software ver. 4.20,,,,,,,,"}, "Garmin GPS 15x-W"},
		{"a vendor never replaces a model", []string{"PGRMT,GPS 18x,,,,,,,", "PGRMZ,48,f,3"}, "Garmin GPS 18x"},
		{"Quectel", []string{"PQGSV,4,1,15,02,20,116,,03,,,,05,34,137,,07,06,045,,0,4"}, "Quectel"},
		{"SiRF", []string{"PSRF150,1"}, "SiRF"},
		{"Furuno", []string{"PERDAPI,ECLKCNT,9999999.97232,Hz"}, "Furuno"},
		{"Unicore", []string{"PDTINFO,UM621-02,G1B1L1E1,V1.2,R6.0.0.0Build2810,2310414000033,PC12B4"}, "Unicore UM621-02"},
		{"plain NMEA says nothing", []string{"GPRMC,120000.00,A,4404.1306,N,12118.8515,W,0.03,225.97,090710,,,A", "GPTXT,01,01,02,hello"}, ""},
	}
	for _, tc := range tests {
		var in strings.Builder
		for _, b := range tc.lines {
			in.WriteString(nm(b))
		}
		s := NewStream(day(2020, 1, 1))
		s.Feed(nil, []byte(in.String()+nm("GPRMC,120000.00,A,4404.1306,N,12118.8515,W,0.03,225.97,090710,,,A")), 0, 0)
		fixes := s.Flush(nil)
		if len(fixes) != 1 || fixes[0].Receiver != tc.want {
			t.Errorf("%s: Fix.Receiver = %q (%d fixes), want %q", tc.name, fixes[0].Receiver, len(fixes), tc.want)
		}
	}
}

// TestCorpusReceivers: the model named by the last fix of each capture
// whose data tells it (the others name none).
func TestCorpusReceivers(t *testing.T) {
	want := map[string]string{
		"bt451":                   "u-blox ANTARIS ATR062x",
		"ericsson-gru04-02-70sec": "Trimble",
		"furuno_gl_ga":            "Furuno",
		"garmin15x":               "Garmin GPS 15x-W",
		"garmin48":                "Garmin",
		"jl-micro-jlt":            "Jackson Labs",
		"quectel-eg25-g":          "Quectel",
		"quectel-l76k-nmea":       "CASIC",
		"skytraq-dgps":            "SkyTraq",
		"unicore-um621":           "Unicore UM621-02",
	}
	logs, _ := filepath.Glob("testdata/nmea/*.log")
	for _, log := range logs {
		name := strings.TrimSuffix(filepath.Base(log), ".log")
		_, fixes, _ := decodeFile(t, log)
		if len(fixes) == 0 {
			continue
		}
		if got := fixes[len(fixes)-1].Receiver; got != want[name] {
			t.Errorf("%s: Fix.Receiver = %q, want %q", name, got, want[name])
		}
	}
}
