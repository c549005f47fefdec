package ablation

import (
	"encoding/json"
	"fmt"
	"math"
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
		if s, ok := series(r, xy); ok {
			c.Series = append(c.Series, s)
		}
	}
	return c
}

// series is row r's line, x against steps, or for a row of several seeds
// the mean of the seeds' lines over a band from their lowest to their
// highest; false when the row has none (xy gives nil).
func series(r Row, xy func(Row) (x, y []float64)) (plot.Series, bool) {
	if len(r.PerSeed) == 0 {
		x, y := xy(r)
		return plot.Series{Name: r.Step, X: x, Y: y}, x != nil
	}
	var x []float64
	var ys [][]float64
	for _, run := range r.PerSeed {
		xs, y := xy(run)
		if xs == nil {
			return plot.Series{}, false
		}
		if x == nil || len(xs) < len(x) {
			x = xs
		}
		ys = append(ys, y)
	}
	s := plot.Series{Name: r.Step, X: x, Y: make([]float64, len(x)), Lo: make([]float64, len(x)), Hi: make([]float64, len(x))}
	for i := range x {
		s.Lo[i], s.Hi[i] = math.Inf(1), math.Inf(-1)
		for _, y := range ys {
			s.Y[i] += y[i] / float64(len(ys))
			s.Lo[i], s.Hi[i] = math.Min(s.Lo[i], y[i]), math.Max(s.Hi[i], y[i])
		}
	}
	return s, true
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
	seeds := 0
	if len(res.Rows) > 0 {
		seeds = len(res.Rows[0].PerSeed)
	}
	budgetText := fmt.Sprintf("%d epochs of %s, batch %d, base learning rate %g%s, Nesterov momentum %g, weight decay %g",
		b.Recipe.Epochs, budget, b.Recipe.Batch, b.Recipe.LR, scaling, b.Recipe.Momentum, b.Recipe.WeightDecay)
	if seeds == 0 {
		fmt.Fprintf(&s, "Every row starts from the same weights (seed %d) with the same budget: %s. Top-1 and top-5 are on the test split after the last epoch.\n\n",
			cfg.Student.Seed, budgetText)
	} else {
		fmt.Fprintf(&s, "Every row is trained with %d seeds, %d to %d; a seed sets the weights, the data order and the augmentation, and each seed starts every row from the same weights. "+
			"The same budget for all: %s. Top-1 and top-5 are on the test split after the last epoch, as mean ± standard deviation over the seeds. "+
			"Δ top-1 is the mean over the seeds of the difference from the row it builds on, with its 95%% interval (Student's t over the %d paired differences); "+
			"✱ marks an interval that excludes 0: a difference larger than the seeds' noise.\n\n",
			seeds, res.Rows[0].PerSeed[0].Seed, res.Rows[0].PerSeed[seeds-1].Seed, budgetText, seeds)
	}
	s.WriteString("| step | top-1 | top-5 | test loss | Δ top-1 | over | train time |\n|---|---|---|---|---|---|---|\n")
	top1 := map[string]float64{}
	for _, r := range res.Rows {
		top1[r.Step] = r.Top1
		delta, over := "", ""
		if p, ok := top1[r.Parent]; ok {
			delta, over = fmt.Sprintf("%+.2f", 100*(r.Top1-p)), r.Parent
		}
		if r.Delta != nil {
			delta = r.Delta.Format(100, 2)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Label, percent(r.Top1, r.Top1Std, seeds), percent(r.Top5, r.Top5Std, seeds),
			spread(r.Loss, r.LossStd, seeds, "%.4f"), delta, over, FormatDuration(r.Seconds))
	}
	if t := res.Teacher; t != nil {
		fmt.Fprintf(&s, "\nTeacher for distillation: %s-%s trained with %s, the same budget: top-1 %s, top-5 %s, test loss %s.\n",
			cfg.Teacher.Model, strings.ToUpper(cfg.Variant), describe(teacherFeatures), percent(t.Top1, t.Top1Std, seeds), percent(t.Top5, t.Top5Std, seeds),
			spread(t.Loss, t.LossStd, seeds, "%.4f"))
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
	if seeds > 0 {
		s.WriteString("The plots show each row's mean over the seeds, with a band from the lowest to the highest seed.\n\n")
	}
	fmt.Fprintf(&s, "![loss](%s)\n\n![accuracy](%s)\n\n![learning rate](%s)\n", LossPlot, AccuracyPlot, LRPlot)
	return s.String()
}

// percent formats a fraction as a percentage, "± std" after it for a mean
// over seeds.
func percent(v, std float64, seeds int) string {
	if seeds == 0 {
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.2f ± %.2f%%", 100*v, 100*std)
}

// spread formats v with format, "± std" after it for a mean over seeds.
func spread(v, std float64, seeds int, format string) string {
	if seeds == 0 {
		return fmt.Sprintf(format, v)
	}
	return fmt.Sprintf(format+" ± "+format, v, std)
}

// FormatDuration formats seconds for a table: tenths under a minute,
// whole seconds above.
func FormatDuration(seconds float64) string {
	if seconds < 60 {
		return fmt.Sprintf("%.1fs", seconds)
	}
	return (time.Duration(seconds) * time.Second).String()
}
