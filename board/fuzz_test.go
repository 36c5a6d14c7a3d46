package board

import "testing"

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"Raspberry Pi 4 Model B Rev 1.4\x00", "Raspberry Pi 5 Model B Rev 1.0", "", "\x00\x00", " Rev ", "Raspberry Pi 3 Model B Plus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, model string) {
		b, ok := Detect(model)
		if ok != (b.Name != "") {
			t.Fatalf("Detect(%q) = %q, %v", model, b.Name, ok)
		}
		if ok {
			again, ok2 := Detect(b.Models[0] + " Rev 9.9\x00")
			if !ok2 || again.Name != b.Name {
				t.Fatalf("Detect(%q) = %q, but its own model gives %q", model, b.Name, again.Name)
			}
		}
	})
}
