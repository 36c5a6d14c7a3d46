package ntpserve

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every outcome has a distinct name and a meaning, and the counters go
// through JSON (the control socket) and back unchanged.
func TestOutcomesNamedOnce(t *testing.T) {
	seen := map[string]Outcome{}
	var st Stats
	st.Received, st.SendErrors, st.RecvErrors = 1000, 3, 4
	for o := range NumOutcomes {
		name := o.String()
		if name == "" || strings.HasPrefix(name, "outcome(") || o.Means() == "" {
			t.Errorf("outcome %d: name %q, meaning %q", uint8(o), name, o.Means())
		}
		if p, dup := seen[name]; dup {
			t.Errorf("outcomes %d and %d are both %q", uint8(p), uint8(o), name)
		}
		seen[name] = o
		if want := strings.HasPrefix(name, "dropped_"); o.Dropped() != want || (o.replies() && want) {
			t.Errorf("%v: Dropped %v, replies %v; its name says dropped = %v", o, o.Dropped(), o.replies(), want)
		}
		st.Outcomes[o] = uint64(10 + o)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back Stats
	if err := json.Unmarshal(b, &back); err != nil || back != st {
		t.Errorf("Stats through JSON = %+v, %v\n%s\nwant %+v", back, err, b, st)
	}
	if !strings.Contains(string(b), `"dropped_rate":20`) || !strings.Contains(string(b), `"received":1000`) {
		t.Errorf("Stats JSON %s: want keys named by outcome", b)
	}
	if got, want := st.Dropped(), uint64(14+15+16+17+18+19+20); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
}
