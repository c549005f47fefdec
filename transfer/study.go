package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/internal/stats"
	"github.com/bot-onnx/bot-onnx/train"
)

// Files of a study folder, beside one transfer folder per backbone.
const (
	StudyTable = "transfer-study.md"
	StudyJSON  = "transfer-study.json"
)

// Study is several backbones moved to one task (the paper's Tables 8 and
// 9): transfer-study.json.
type Study struct {
	Task string `json:"task"`
	// Seeds are the seeds every backbone was transferred with, when more
	// than one.
	Seeds []uint64   `json:"seeds,omitempty"`
	Rows  []StudyRow `json:"rows"`
}

// StudyRow is one backbone's transfer in a study: its Result, the first
// seed's with several seeds.
type StudyRow struct {
	// Name is the backbone's row and its folder in the study.
	Name string `json:"name"`
	Result
	// With several seeds: each seed's result, the mean and standard
	// deviation of ONNX Runtime's figures over them, and for every row but
	// the first the difference of each figure from the first row's, paired
	// by seed (the same head weights and data order), with its 95%
	// interval.
	PerSeed []Result                  `json:"per_seed,omitempty"`
	Mean    Figures                   `json:"mean,omitempty"`
	Std     Figures                   `json:"std,omitempty"`
	Delta   map[string]stats.Interval `json:"delta,omitempty"`
}

// SeedDir is the folder of one seed's transfer inside a backbone's
// folder of a study of several seeds.
func SeedDir(dir string, seed uint64) string {
	return filepath.Join(dir, fmt.Sprintf("seed-%d", seed))
}

// RunStudy transfers every backbone with cfg (its Backbone and Out
// replaced), each into its own folder of cfg.Out, and writes the table.
// With seeds above 1, every backbone is transferred that many times, with
// seeds cfg.Train.Seed, +1, …, each into SeedDir of its folder, and the
// table gives means, spreads and paired intervals. Every transfer is
// checked before the first one trains; with cfg.Resume a finished
// transfer is read back.
func RunStudy(ctx context.Context, cfg Config, backbones []string, seeds int, o Options) (*Study, error) {
	if len(backbones) == 0 {
		return nil, errors.New("a study needs one or more backbones")
	}
	if seeds < 0 {
		return nil, &train.FieldError{Field: "Seeds", Value: seeds, Want: "a count of seeds, 1 or more (0: 1)"}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, StudyJSON)); err == nil && !cfg.Resume {
		return nil, fmt.Errorf("%s %w: resume to continue it, or choose another folder", cfg.Out, ErrStudyExists)
	}
	names := studyNames(backbones)
	runs := max(seeds, 1)
	s := &Study{Task: cfg.Task, Rows: make([]StudyRow, len(backbones))}
	if runs > 1 {
		for k := range runs {
			s.Seeds = append(s.Seeds, cfg.Train.Seed+uint64(k))
		}
	}
	// results[i][k] is backbone i's transfer with seed k; plans[i][k] the
	// transfer still to run (nil when read back).
	results := make([][]Result, len(backbones))
	plans := make([][]*Plan, len(backbones))
	for i, path := range backbones {
		s.Rows[i].Name = names[i]
		results[i], plans[i] = make([]Result, runs), make([]*Plan, runs)
		for k := range runs {
			one := cfg
			one.Backbone, one.Out = path, filepath.Join(cfg.Out, names[i])
			if runs > 1 {
				one.Train.Seed, one.Out = s.Seeds[k], SeedDir(one.Out, s.Seeds[k])
			}
			if cfg.Resume {
				if res, err := ReadResult(filepath.Join(one.Out, MetricsFile)); err == nil {
					results[i][k] = *res
					continue
				} else if !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
			}
			plan, err := NewPlan(one)
			if err != nil {
				return nil, err
			}
			plans[i][k] = plan
		}
	}
	for i := range plans {
		for k, plan := range plans[i] {
			if o.Backbone != nil {
				label := backbones[i]
				if runs > 1 {
					label = fmt.Sprintf("%s, seed %d", backbones[i], s.Seeds[k])
				}
				o.Backbone(i*runs+k+1, len(plans)*runs, label, plan == nil)
			}
			if plan == nil {
				continue
			}
			res, err := plan.Run(ctx, o)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", backbones[i], err)
			}
			results[i][k] = *res
		}
	}
	for i := range s.Rows {
		s.Rows[i].Result = results[i][0]
		if runs > 1 && i == 0 {
			s.Rows[i].seedFigures(results[i], nil)
		} else if runs > 1 {
			s.Rows[i].seedFigures(results[i], results[0])
		}
	}
	if err := report.WriteJSON(filepath.Join(cfg.Out, StudyJSON), s); err != nil {
		return nil, err
	}
	return s, graph.WriteFileAtomic(filepath.Join(cfg.Out, StudyTable), []byte(s.Markdown()))
}

// seedFigures fills a row of several seeds from its results and those of
// the study's first row, with which it is compared (nil for the first row
// itself).
func (r *StudyRow) seedFigures(results, first []Result) {
	r.PerSeed, r.Mean, r.Std = results, Figures{}, Figures{}
	values := func(rs []Result, key string) []float64 {
		v := make([]float64, len(rs))
		for k, res := range rs {
			v[k] = res.ONNXRuntime[key]
		}
		return v
	}
	for key := range results[0].ONNXRuntime {
		r.Mean[key], r.Std[key] = stats.MeanStd(values(results, key))
	}
	if first == nil {
		return
	}
	r.Delta = map[string]stats.Interval{}
	for key := range results[0].ONNXRuntime {
		r.Delta[key] = stats.PairedInterval(values(results, key), values(first, key))
	}
}

// studyNames names each backbone's folder after its file, without .onnx;
// a name taken already gets the backbone's position appended.
func studyNames(paths []string) []string {
	names := make([]string, len(paths))
	seen := map[string]bool{}
	for i, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".onnx")
		if seen[name] {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		seen[name], names[i] = true, name
	}
	return names
}

// Markdown renders the study as the paper's Tables 8 and 9 lay it out:
// one row per backbone, its own top-1, then the task's figures measured
// in ONNX Runtime.
func (s *Study) Markdown() string {
	var columns []Column
	if task, err := LookupTask(s.Task); err == nil {
		columns = task.Columns
	}
	var b strings.Builder
	if len(s.Rows) > 0 {
		r := s.Rows[0]
		epochs := "epochs"
		if r.Epochs == 1 {
			epochs = "epoch"
		}
		fmt.Fprintf(&b, "Transfer to %s on %s: feature %s, %d classes, %d %s, %s; downstream figures measured in ONNX Runtime (%s) on the test split.\n\n",
			s.Task, r.Data, r.Feature, r.Classes, r.Epochs, epochs, r.backboneTraining(), r.Provider)
	}
	seeds := len(s.Seeds) > 1
	if seeds && len(s.Rows) > 0 && len(columns) > 0 {
		fmt.Fprintf(&b, "Every backbone is transferred with %d seeds, %d to %d (the head's weights and the data order); figures are mean ± standard deviation over the seeds. "+
			"Δ is the mean over the seeds of the difference of %s from %s's, with its 95%% interval (Student's t over the paired seeds); ✱ marks an interval that excludes 0.\n\n",
			len(s.Seeds), s.Seeds[0], s.Seeds[len(s.Seeds)-1], columns[0].Header, s.Rows[0].Name)
	}
	b.WriteString("| backbone | its own top-1 |")
	for _, c := range columns {
		b.WriteString(" " + c.Header + " |")
	}
	if seeds && len(columns) > 0 {
		b.WriteString(" Δ " + columns[0].Header + " |")
	}
	extra := 0
	if seeds && len(columns) > 0 {
		extra = 1
	}
	b.WriteString("\n| --- | ---: |" + strings.Repeat(" ---: |", len(columns)+extra) + "\n")
	for _, r := range s.Rows {
		top1 := "—"
		if r.BackboneTop1 != nil {
			top1 = fmt.Sprintf("%.2f%%", 100**r.BackboneTop1)
		}
		fmt.Fprintf(&b, "| %s | %s |", r.Name, top1)
		for _, c := range columns {
			if seeds {
				b.WriteString(" " + c.FormatSpread(r.Mean, r.Std) + " |")
			} else {
				b.WriteString(" " + c.Format(r.ONNXRuntime) + " |")
			}
		}
		if extra > 0 {
			d := ""
			if iv, ok := r.Delta[columns[0].Key]; ok {
				d = columns[0].FormatInterval(iv)
			}
			b.WriteString(" " + d + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
