package poolcheck

import (
	"bufio"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// Plot is the score over checks: the observed scores, then the projected
// ones (Projection.Curve), with the Pool's threshold and maximum.
type Plot struct {
	Title     string
	Observed  []float64
	Projected []float64
}

// PlotFor returns the plot of checks and p, the projection shown until it
// has settled: 100 further checks (0.95^100: 0.6 % of the start is left),
// or 20 past the crossing of 10 if that is later.
func PlotFor(title string, checks []Checked, p Projection) Plot {
	pl := Plot{Title: title}
	for _, c := range checks {
		pl.Observed = append(pl.Observed, c.Score)
	}
	n := max(100, p.CrossAt+20)
	pl.Projected = p.Curve[:min(n, len(p.Curve))]
	return pl
}

// The picture's geometry in pixels.
const (
	plotW, plotH           = 800, 400
	marginL, marginR       = 50, 20
	marginT, marginB       = 40, 40
	plotInnerW, plotInnerH = plotW - marginL - marginR, plotH - marginT - marginB
)

// frame maps checks and scores to pixels.
type frame struct {
	n          int // checks on the x axis (0 is the start, score 0)
	yMin, yMax float64
}

func (p Plot) frame() frame {
	f := frame{n: max(len(p.Observed)+len(p.Projected), 1), yMin: -10, yMax: MaxScore}
	for _, v := range append(append([]float64(nil), p.Observed...), p.Projected...) {
		if v < f.yMin {
			f.yMin = math.Floor(v/10) * 10
		}
	}
	return f
}

func (f frame) x(i int) float64 { return marginL + float64(i)*plotInnerW/float64(f.n) }

func (f frame) y(v float64) float64 {
	v = math.Max(f.yMin, math.Min(f.yMax, v))
	return marginT + (f.yMax-v)*plotInnerH/(f.yMax-f.yMin)
}

// yTicks are the scores labelled on the y axis: every 10 in range.
func (f frame) yTicks() []float64 {
	var t []float64
	for v := math.Ceil(f.yMin/10) * 10; v <= f.yMax; v += 10 {
		t = append(t, v)
	}
	return t
}

// points are the curve's pixels: check 0 at score 0, then the observed
// scores, then the projected ones (from the last observed point).
func (p Plot) points(f frame) (obs, proj [][2]float64) {
	obs = append(obs, [2]float64{f.x(0), f.y(0)})
	for i, v := range p.Observed {
		obs = append(obs, [2]float64{f.x(i + 1), f.y(v)})
	}
	proj = append(proj, obs[len(obs)-1])
	for i, v := range p.Projected {
		proj = append(proj, [2]float64{f.x(len(p.Observed) + i + 1), f.y(v)})
	}
	return obs, proj
}

// SVG writes the plot as an SVG document.
func (p Plot) SVG(w io.Writer) error {
	f := p.frame()
	obs, proj := p.points(f)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	// The band where the Pool sends clients (above 10).
	fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#e6f4e6"/>`+"\n", marginL, f.y(MaxScore), plotInnerW, f.y(InThreshold)-f.y(MaxScore))
	for _, v := range f.yTicks() {
		stroke := "#ccc"
		if v == InThreshold {
			stroke = "#2a2"
		}
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", marginL, f.y(v), plotW-marginR, f.y(v), stroke)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", marginL-6, f.y(v)+4, v)
	}
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#2a2">in the Pool above %g</text>`+"\n", plotW-marginR-140, f.y(InThreshold)-4, InThreshold)
	fmt.Fprintf(b, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", marginL, html.EscapeString(p.Title))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">checks (observed: solid, projected: dashed)</text>`+"\n", marginL+plotInnerW/2, plotH-10)
	fmt.Fprintf(b, `<polyline fill="none" stroke="#888" stroke-width="2" stroke-dasharray="6 4" points="%s"/>`+"\n", svgPoints(proj))
	fmt.Fprintf(b, `<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="%s"/>`+"\n", svgPoints(obs))
	for _, pt := range obs[1:] {
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f5fbf"/>`+"\n", pt[0], pt[1])
	}
	fmt.Fprintln(b, `</svg>`)
	return b.Flush()
}

func svgPoints(pts [][2]float64) string {
	var s strings.Builder
	for i, p := range pts {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%.1f,%.1f", p[0], p[1])
	}
	return s.String()
}

var (
	colWhite = color.RGBA{255, 255, 255, 255}
	colBand  = color.RGBA{0xe6, 0xf4, 0xe6, 255}
	colGrid  = color.RGBA{0xcc, 0xcc, 0xcc, 255}
	colIn    = color.RGBA{0x22, 0xaa, 0x22, 255}
	colObs   = color.RGBA{0x1f, 0x5f, 0xbf, 255}
	colProj  = color.RGBA{0x88, 0x88, 0x88, 255}
	colText  = color.RGBA{0, 0, 0, 255}
)

// PNG writes the plot as a PNG image: the same picture as SVG, with the
// y axis labelled in a small built-in digit font (the standard library
// has no text rendering) and no other text.
func (p Plot) PNG(w io.Writer) error {
	f := p.frame()
	obs, proj := p.points(f)
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	fill(img, image.Rect(0, 0, plotW, plotH), colWhite)
	fill(img, image.Rect(marginL, int(f.y(MaxScore)), plotW-marginR, int(f.y(InThreshold))), colBand)
	for _, v := range f.yTicks() {
		c := colGrid
		if v == InThreshold {
			c = colIn
		}
		line(img, marginL, f.y(v), plotW-marginR, f.y(v), c, 1, 0, new(float64))
		drawNumber(img, marginL-6, int(f.y(v))-5, int(v), colText)
	}
	var path float64
	for i := 1; i < len(proj); i++ {
		line(img, proj[i-1][0], proj[i-1][1], proj[i][0], proj[i][1], colProj, 2, 6, &path)
	}
	for i := 1; i < len(obs); i++ {
		line(img, obs[i-1][0], obs[i-1][1], obs[i][0], obs[i][1], colObs, 2, 0, &path)
	}
	for _, pt := range obs[1:] {
		fill(img, image.Rect(int(pt[0])-2, int(pt[1])-2, int(pt[0])+3, int(pt[1])+3), colObs)
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws from (x0,y0) to (x1,y1), width px thick. dash > 0 draws
// dashes of that length along the path: *path is the length drawn before
// this segment (polylines carry it over so dashes run across segments).
func line(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA, width, dash int, path *float64) {
	length := math.Hypot(x1-x0, y1-y0)
	steps := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= steps; i++ {
		t := float64(i) / float64(steps)
		if dash > 0 && int(*path+t*length)/dash%2 == 1 {
			continue
		}
		x, y := int(x0+t*(x1-x0)), int(y0+t*(y1-y0))
		fill(img, image.Rect(x-width/2, y-width/2, x-width/2+width, y-width/2+width), c)
	}
	*path += length
}

// digits is a 3×5 pixel font for the axis labels: one string per glyph,
// rows top to bottom, '#' lit.
var digits = map[byte][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"},
	'1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"},
	'3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"},
	'5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"},
	'7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"},
	'9': {"###", "#.#", "###", "..#", "###"},
	'-': {"...", "...", "###", "...", "..."},
}

// drawNumber writes n right-aligned to x with its top at y, each font
// pixel 2×2 (glyphs 6×10, 2 px apart).
func drawNumber(img *image.RGBA, x, y, n int, c color.RGBA) {
	s := fmt.Sprint(n)
	x -= len(s)*8 - 2
	for i := 0; i < len(s); i++ {
		g := digits[s[i]]
		for row, bits := range g {
			for col := range bits {
				if bits[col] == '#' {
					px, py := x+i*8+col*2, y+row*2
					fill(img, image.Rect(px, py, px+2, py+2), c)
				}
			}
		}
	}
}
