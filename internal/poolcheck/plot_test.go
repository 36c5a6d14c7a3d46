package poolcheck

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"strings"
	"testing"
)

// checksScoring returns checks scored with steps, as Run would.
func checksScoring(steps ...float64) []Checked {
	var out []Checked
	s := 0.0
	for _, st := range steps {
		s = Next(s, st, MaxScore)
		out = append(out, Checked{Step: st, MaxScore: MaxScore, Score: s})
	}
	return out
}

func TestPlotSVG(t *testing.T) {
	checks := checksScoring(1, 1, 1, -3.5, 1, 1, -5, 1)
	p := PlotFor("poolcheck 127.0.0.1:123 <&>", checks, Project(checks[len(checks)-1].Score, Steps(checks)))
	var b bytes.Buffer
	if err := p.SVG(&b); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	var polylines []string
	var root string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse as XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				for _, a := range se.Attr {
					if a.Name.Local == "points" {
						polylines = append(polylines, a.Value)
					}
				}
			}
		}
	}
	if root != "svg" || len(polylines) != 2 {
		t.Fatalf("SVG: root %q, %d polylines; want svg, 2 (projected, observed)", root, len(polylines))
	}
	// Observed: the start at 0 and one point per check; projected: from
	// the last observed point, 100 further checks.
	if n := len(strings.Fields(polylines[1])); n != len(checks)+1 {
		t.Errorf("observed polyline has %d points, want %d", n, len(checks)+1)
	}
	if n := len(strings.Fields(polylines[0])); n != 101 {
		t.Errorf("projected polyline has %d points, want 101", n)
	}
}

func TestPlotPNG(t *testing.T) {
	checks := checksScoring(-10, 1, 1)
	p := PlotFor("x", checks, Project(checks[len(checks)-1].Score, Steps(checks)))
	var b bytes.Buffer
	if err := p.PNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if r := img.Bounds(); r.Dx() != plotW || r.Dy() != plotH {
		t.Errorf("PNG is %v, want %dx%d", r, plotW, plotH)
	}
	// The observed curve is drawn: its colour at each check's point.
	f := p.frame()
	for i, c := range checks {
		x, y := int(f.x(i+1)), int(f.y(c.Score))
		if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 != uint32(colObs.R) || g>>8 != uint32(colObs.G) || bl>>8 != uint32(colObs.B) {
			t.Errorf("check %d (score %.2f): pixel (%d,%d) is not the observed colour", i+1, c.Score, x, y)
		}
	}
	// The y axis goes down to the lowest score (-10 after a DENY).
	if f.yMin > -10 {
		t.Errorf("y axis from %v, want -10 or lower", f.yMin)
	}
}
