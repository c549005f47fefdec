package ablation

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/plot"
)

// write saves the table, the JSON and the plots of res into cfg.Out.
func (cfg Config) write(res *Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := graph.WriteFileAtomic(filepath.Join(cfg.Out, JSONFile), append(b, '\n')); err != nil {
		return err
	}
	if err := graph.WriteFileAtomic(filepath.Join(cfg.Out, TableFile), []byte(cfg.Markdown(res))); err != nil {
		return err
	}
	return WritePlots(cfg.Out, res)
}

// WritePlots draws the rows of res (and the teacher's) into dir: LossPlot,
// AccuracyPlot and LRPlot, one line per run.
func WritePlots(dir string, res *Result) error {
	for name, charts := range map[string][]plot.Chart{
		LossPlot: {
			chart(res, "training loss per step, mean over a quarter epoch (no distillation runs)", "loss", smoothedLoss),
			chart(res, "test loss per epoch", "loss", func(r Row) (x, y []float64) {
				return perEpoch(r, func(m float64, _ float64) float64 { return m })
			}),
		},
		AccuracyPlot: {chart(res, "test top-1 per epoch", "top-1 (%)", func(r Row) (x, y []float64) {
			return perEpoch(r, func(_ float64, top1 float64) float64 { return 100 * top1 })
		})},
		LRPlot: {chart(res, "learning rate per step", "lr", func(r Row) (x, y []float64) {
			for _, s := range r.Steps {
				x, y = append(x, float64(s.Step)), append(y, s.LR)
			}
			return x, y
		})},
	} {
		img, err := plot.PNG(charts...)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := graph.WriteFileAtomic(filepath.Join(dir, name), img); err != nil {
			return err
		}
	}
	return nil
}

// chart draws one line per row (the teacher's last), x against steps.
func chart(res *Result, title, ylabel string, xy func(Row) (x, y []float64)) plot.Chart {
	c := plot.Chart{Title: title, XLabel: "step", YLabel: ylabel}
	rows := res.Rows
	if res.Teacher != nil {
		rows = append(rows[:len(rows):len(rows)], *res.Teacher)
	}
	for _, r := range rows {
		x, y := xy(r)
		if x == nil {
			continue
		}
		c.Series = append(c.Series, plot.Series{Name: r.Step, X: x, Y: y})
	}
	return c
}

// smoothedLoss returns the training loss of each step averaged over the
// quarter epoch that ends there: per-batch losses are too noisy to compare.
// Distillation runs give none: their loss holds T² times the cross-entropy
// of the teacher's softened outputs, hundreds of times the others'.
func smoothedLoss(r Row) (x, y []float64) {
	if r.Distilled {
		return nil, nil
	}
	window := 1
	if len(r.Metrics) > 0 {
		window = max(1, len(r.Steps)/len(r.Metrics)/4)
	}
	sum := 0.0
	for i, s := range r.Steps {
		sum += s.Loss
		if i >= window {
			sum -= r.Steps[i-window].Loss
		}
		x, y = append(x, float64(s.Step)), append(y, sum/float64(min(i+1, window)))
	}
	return x, y
}

// perEpoch returns f(test loss, top-1) at the last step of each epoch.
func perEpoch(r Row, f func(loss, top1 float64) float64) (x, y []float64) {
	for _, m := range r.Metrics {
		x, y = append(x, float64(m.Step-1)), append(y, f(m.TestLoss, m.TestTop1))
	}
	return x, y
}

// Markdown returns the study as a Markdown page: the settings, the table
// in the paper's shape, the recipes and the plots.
func (cfg Config) Markdown(res *Result) string {
	b := cfg.Base
	var s strings.Builder
	fmt.Fprintf(&s, "# Ablation: %s-%s on %s\n\n", cfg.Student.Model, strings.ToUpper(cfg.Variant), b.Data.Set)
	budget := "all training images"
	if b.Data.TrainLimit > 0 {
		budget = fmt.Sprintf("%d training images", b.Data.TrainLimit)
	}
	scaling := ""
	if b.Recipe.LinearScaling {
		scaling = " × batch/256 (linear scaling)"
	}
	fmt.Fprintf(&s, "Every row starts from the same weights (seed %d) with the same budget: %d epochs of %s, batch %d, base learning rate %g%s, "+
		"Nesterov momentum %g, weight decay %g. Top-1 and top-5 are on the test split after the last epoch.\n\n",
		cfg.Student.Seed, b.Recipe.Epochs, budget, b.Recipe.Batch, b.Recipe.LR, scaling, b.Recipe.Momentum, b.Recipe.WeightDecay)
	s.WriteString("| step | top-1 | top-5 | test loss | Δ top-1 | over | train time |\n|---|---|---|---|---|---|---|\n")
	top1 := map[string]float64{}
	for _, r := range res.Rows {
		top1[r.Step] = r.Top1
		delta, over := "", ""
		if p, ok := top1[r.Parent]; ok {
			delta, over = fmt.Sprintf("%+.2f", 100*(r.Top1-p)), r.Parent
		}
		fmt.Fprintf(&s, "| %s | %.2f%% | %.2f%% | %.4f | %s | %s | %s |\n",
			r.Label, 100*r.Top1, 100*r.Top5, r.Loss, delta, over, FormatDuration(r.Seconds))
	}
	if t := res.Teacher; t != nil {
		fmt.Fprintf(&s, "\nTeacher for distillation: %s-%s trained with %s, the same budget: top-1 %.2f%%, top-5 %.2f%%, test loss %.4f.\n",
			cfg.Teacher.Model, strings.ToUpper(cfg.Variant), describe(teacherFeatures), 100*t.Top1, 100*t.Top5, t.Loss)
	}
	fmt.Fprintf(&s, "\nRecipes, each on top of the step it is compared with:\n\n")
	fmt.Fprintf(&s, "- baseline: step decay ×0.1 at epochs %v (the paper's 30, 60, 90 of 120, scaled), weight decay on every parameter;\n", ScaledSteps(b.Recipe.Epochs))
	fmt.Fprintf(&s, "- efficient: linear warmup over %d epoch(s), zero γ in the last BatchNorm of every block, no weight decay on biases and BatchNorm parameters;\n", WarmupEpochs(b.Recipe.Epochs))
	s.WriteString("- cosine: per-step cosine decay after warmup instead of steps;\n")
	fmt.Fprintf(&s, "- label smoothing: ε = %g, ε/K on every class;\n", smoothingEpsilon)
	fmt.Fprintf(&s, "- distillation: the teacher above run by ONNX Runtime on every batch, T = %g, loss %g·CE(labels) + %g·T²·CE(teacher/T, student/T);\n",
		b.Recipe.Distill.T, b.Recipe.Distill.Hard, b.Recipe.Distill.Soft)
	off := ""
	if cfg.MixupOffEpochs > 0 {
		off = fmt.Sprintf(", off for the last %d epoch(s)", cfg.MixupOffEpochs)
	}
	fmt.Fprintf(&s, "- mixup: λ ~ Beta(%g, %g) per batch%s (the paper trains mixup runs 200 epochs instead of 120; here the budget is the same).\n\n",
		mixupAlpha, mixupAlpha, off)
	s.WriteString("The training loss of each run is against its own targets (smoothed, mixed, distilled), so its level is not comparable from run to run; the test loss is.\n\n")
	fmt.Fprintf(&s, "![loss](%s)\n\n![accuracy](%s)\n\n![learning rate](%s)\n", LossPlot, AccuracyPlot, LRPlot)
	return s.String()
}

// FormatDuration formats seconds for a table: tenths under a minute,
// whole seconds above.
func FormatDuration(seconds float64) string {
	if seconds < 60 {
		return fmt.Sprintf("%.1fs", seconds)
	}
	return (time.Duration(seconds) * time.Second).String()
}
