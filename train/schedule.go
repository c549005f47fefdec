package train

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/bot-onnx/bot-onnx/internal/plot"
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

// Schedule is the recipe's learning-rate schedule over steps of
// stepsPerEpoch, at the rate as given: Base is LR before linear scaling,
// so that a refused rate is the one the caller gave.
func (r Recipe) Schedule(stepsPerEpoch int) Schedule {
	return Schedule{Base: r.LR, StepsPerEpoch: stepsPerEpoch, WarmupEpochs: r.WarmupEpochs, DecayEpochs: r.DecayEpochs,
		Factor: r.DecayFactor, Cosine: r.Cosine, Epochs: r.Epochs}
}

// WriteText writes the rate at the first and last step of every epoch,
// under a line giving the base rate and the steps.
func (s Schedule) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "base lr %g, %d steps per epoch, %d steps\n", s.Base, s.StepsPerEpoch, s.Epochs*s.StepsPerEpoch)
	for e := range s.Epochs {
		first, last := e*s.StepsPerEpoch, (e+1)*s.StepsPerEpoch-1
		if _, err := fmt.Fprintf(w, "epoch %3d: lr %.6g → %.6g\n", e+1, s.LR(first), s.LR(last)); err != nil {
			return err
		}
	}
	return nil
}

// PNG plots the rate at every step, as a line named name.
func (s Schedule) PNG(name string) ([]byte, error) {
	series := plot.Series{Name: name}
	for t := range s.Epochs * s.StepsPerEpoch {
		series.X, series.Y = append(series.X, float64(t)), append(series.Y, s.LR(t))
	}
	return plot.PNG(plot.Chart{Title: "learning rate per step", XLabel: "step", YLabel: "lr", Series: []plot.Series{series}})
}

// WriteCSV writes step,epoch,lr for every step.
func (s Schedule) WriteCSV(w io.Writer) error {
	fmt.Fprintln(w, "step,epoch,lr")
	for t := range s.Epochs * s.StepsPerEpoch {
		if _, err := fmt.Fprintf(w, "%d,%.6f,%.8g\n", t, float64(t)/float64(s.StepsPerEpoch), s.LR(t)); err != nil {
			return err
		}
	}
	return nil
}

// LinearScaling is the paper's linear scaling rule: lr = base·batch/256.
func LinearScaling(base float64, batch int) float64 { return base * float64(batch) / 256 }

// Validate checks the schedule's settings; a refused one comes back as a
// *FieldError naming the Schedule field.
func (s Schedule) Validate() error {
	switch {
	case !(s.Base > 0) || math.IsInf(s.Base, 0):
		return refuse("Base", s.Base, "a positive learning rate")
	case s.StepsPerEpoch < 1:
		return refuse("StepsPerEpoch", s.StepsPerEpoch, "at least 1")
	case s.Epochs < 1:
		return refuse("Epochs", s.Epochs, "at least 1")
	case s.WarmupEpochs < 0 || s.WarmupEpochs > s.Epochs:
		return refuse("WarmupEpochs", s.WarmupEpochs, fmt.Sprintf("0 to Epochs (%d)", s.Epochs), "Epochs")
	case (len(s.DecayEpochs) > 0 || s.Factor != 0) && !(s.Factor > 0 && s.Factor <= 1):
		return refuse("Factor", s.Factor, "a value in (0, 1] with DecayEpochs", "DecayEpochs")
	case !slices.IsSorted(s.DecayEpochs):
		return refuse("DecayEpochs", s.DecayEpochs, "increasing epochs")
	case s.Cosine && len(s.DecayEpochs) > 0:
		return refuse("DecayEpochs", s.DecayEpochs, "none with Cosine", "Cosine")
	case s.Cosine && s.Epochs <= s.WarmupEpochs:
		return refuse("Epochs", s.Epochs, fmt.Sprintf("more than WarmupEpochs (%d) with Cosine", s.WarmupEpochs), "WarmupEpochs", "Cosine")
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
