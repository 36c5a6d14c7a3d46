package poolcheck

import (
	"context"
	"time"
)

// Checked is a check with the monitor's judgement of it.
type Checked struct {
	Check
	Step     float64 `json:"step"`
	MaxScore float64 `json:"max_score"`
	Reason   string  `json:"reason,omitempty"` // why the step is below +1
	Score    float64 `json:"score"`            // after this check
}

// Scored is the step and cap of ch, for Project.
func (ch Checked) Scored() Scored { return Scored{Step: ch.Step, MaxScore: ch.MaxScore} }

// Run makes n checks (n ≤ 0: until ctx ends), one starting every interval
// (0: DefaultInterval; a check that takes longer delays the next), scores
// them from 0 as a new server starts, and calls each (if not nil) after
// every check. It returns the checks made; ctx ending stops it without an
// error.
func (c *Checker) Run(ctx context.Context, sc Scoring, n int, interval time.Duration, each func(Checked)) ([]Checked, error) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	var out []Checked
	score := 0.0
	for i := 0; n <= 0 || i < n; i++ {
		start := time.Now()
		ch, err := c.Check(ctx)
		if ctx.Err() != nil {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		step, maxScore, reason := sc.Step(ch.Result)
		score = Next(score, step, maxScore)
		done := Checked{Check: ch, Step: step, MaxScore: maxScore, Reason: reason, Score: score}
		out = append(out, done)
		if each != nil {
			each(done)
		}
		if n > 0 && i == n-1 {
			break
		}
		if sleep(ctx, time.Until(start.Add(interval))) != nil {
			return out, nil
		}
	}
	return out, nil
}

// Steps lists the scored steps of checks, for Project.
func Steps(checks []Checked) []Scored {
	s := make([]Scored, len(checks))
	for i, c := range checks {
		s[i] = c.Scored()
	}
	return s
}
