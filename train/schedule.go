package train

import (
	"fmt"
	"math"
	"slices"
)

// Schedule gives the learning rate of every step (batch). Steps are
// counted from 0 across epochs.
type Schedule struct {
	// Base is the learning rate after warmup, before any decay.
	Base float64
	// StepsPerEpoch converts epochs to steps.
	StepsPerEpoch int
	// WarmupEpochs of linear warmup from 0 to Base, counted in batches:
	// step t of m warmup steps uses Base·(t+1)/m, so no step trains with 0.
	WarmupEpochs int
	// DecayEpochs are the epochs at whose start the rate is multiplied by
	// Factor (step mode, e.g. 30, 60, 90 with factor 0.1).
	DecayEpochs []int
	Factor      float64
	// Cosine replaces the step decay by the paper's cosine decay over the
	// steps after warmup: η_t = ½(1 + cos(π·t/T))·Base, t counted from the
	// end of warmup, T the steps left from there to the end of Epochs.
	Cosine bool
	Epochs int
}

// LinearScaling is the paper's linear scaling rule: lr = base·batch/256.
func LinearScaling(base float64, batch int) float64 { return base * float64(batch) / 256 }

// Validate checks the schedule's settings.
func (s Schedule) Validate() error {
	switch {
	case s.Base <= 0 || math.IsNaN(s.Base) || math.IsInf(s.Base, 0):
		return fmt.Errorf("learning rate must be positive, found %g", s.Base)
	case s.StepsPerEpoch < 1:
		return fmt.Errorf("steps per epoch must be positive, found %d", s.StepsPerEpoch)
	case s.WarmupEpochs < 0:
		return fmt.Errorf("warmup epochs must be 0 or more, found %d", s.WarmupEpochs)
	case len(s.DecayEpochs) > 0 && (s.Factor <= 0 || s.Factor > 1):
		return fmt.Errorf("decay factor must be in (0, 1], found %g", s.Factor)
	case !slices.IsSorted(s.DecayEpochs):
		return fmt.Errorf("decay epochs must be increasing, found %v", s.DecayEpochs)
	case s.Cosine && len(s.DecayEpochs) > 0:
		return fmt.Errorf("the cosine schedule takes no decay epochs, found %v", s.DecayEpochs)
	case s.Cosine && s.Epochs <= s.WarmupEpochs:
		return fmt.Errorf("the cosine schedule needs more epochs (%d) than warmup epochs (%d)", s.Epochs, s.WarmupEpochs)
	}
	return nil
}

// LR returns the learning rate of step t.
func (s Schedule) LR(t int) float64 {
	if warm := s.WarmupEpochs * s.StepsPerEpoch; t < warm {
		return s.Base * float64(t+1) / float64(warm)
	}
	if s.Cosine {
		warm := s.WarmupEpochs * s.StepsPerEpoch
		total := s.Epochs*s.StepsPerEpoch - warm
		return s.Base * (1 + math.Cos(math.Pi*float64(min(t-warm, total))/float64(total))) / 2
	}
	epoch := t / s.StepsPerEpoch
	lr := s.Base
	for _, e := range s.DecayEpochs {
		if epoch >= e {
			lr *= s.Factor
		}
	}
	return lr
}
