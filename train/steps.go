package train

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
)

// StepRecord is one optimizer step of a run: its learning rate and
// training loss (of the batch as trained: smoothed, mixed, distilled).
// StepsFile holds one a line, as CSV, for plotting curves per step.
type StepRecord struct {
	Step int
	LR   float64
	Loss float64
}

const stepsHeader = "step,lr,loss\n"

// ReadSteps reads a run's StepsFile.
func ReadSteps(path string) ([]StepRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []StepRecord
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if line == 1 && sc.Text()+"\n" == stepsHeader || sc.Text() == "" {
			continue
		}
		fields := strings.Split(sc.Text(), ",")
		var rec StepRecord
		var errs [3]error
		if len(fields) == 3 {
			rec.Step, errs[0] = strconv.Atoi(fields[0])
			rec.LR, errs[1] = strconv.ParseFloat(fields[1], 64)
			rec.Loss, errs[2] = strconv.ParseFloat(fields[2], 64)
		}
		if len(fields) != 3 || errors.Join(errs[:]...) != nil {
			return nil, fmt.Errorf("%s line %d: expected step,lr,loss, found %q", path, line, sc.Text())
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// writeSteps rewrites the StepsFile at path atomically.
func writeSteps(path string, steps []StepRecord) error {
	var b strings.Builder
	b.WriteString(stepsHeader)
	formatSteps(&b, steps)
	return graph.WriteFileAtomic(path, []byte(b.String()))
}

// appendSteps adds steps to the StepsFile at path and syncs it.
func appendSteps(path string, steps []StepRecord) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	var b strings.Builder
	formatSteps(&b, steps)
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func formatSteps(b *strings.Builder, steps []StepRecord) {
	for _, s := range steps {
		fmt.Fprintf(b, "%d,%.8g,%.8g\n", s.Step, s.LR, s.Loss)
	}
}
