package mnistdemo

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/plot"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// segmentPlotFile is the picture of the fine-tuning curves.
const segmentPlotFile = "segment.png"

// writeReport saves results.json, the curves, and report.md and
// report.html.
func (d *demo) writeReport(res *Result) error {
	if err := report.WriteJSON(filepath.Join(d.Out, ResultsFile), res); err != nil {
		return err
	}
	study := &ablation.Result{}
	for _, r := range res.Runs {
		study.Rows = append(study.Rows, r.Train)
	}
	if err := ablation.WritePlots(d.Out, study); err != nil {
		return err
	}
	if err := d.segmentPlot(res); err != nil {
		return err
	}
	return document(res).Write(d.Out, ReportName)
}

// segmentPlot draws the fine-tuning runs' mean IoU per epoch and training
// loss per step.
func (d *demo) segmentPlot(res *Result) error {
	iou := plot.Chart{Title: "segmentation: test mean IoU per epoch", XLabel: "epoch", YLabel: "mean IoU"}
	loss := plot.Chart{Title: "segmentation: training loss per step", XLabel: "step", YLabel: "loss"}
	for _, r := range res.Runs {
		if r.Segment == nil {
			continue
		}
		run := filepath.Join(d.Out, segmentDir, r.Run.Name, transfer.RunDir)
		metrics, err := train.ReadMetrics(filepath.Join(run, train.MetricsFile))
		if err != nil {
			return err
		}
		steps, err := train.ReadSteps(filepath.Join(run, train.StepsFile))
		if err != nil {
			return err
		}
		s := plot.Series{Name: r.Run.Name}
		for _, m := range metrics {
			s.X, s.Y = append(s.X, float64(m.Epoch)), append(s.Y, m.MeanIoU)
		}
		iou.Series = append(iou.Series, s)
		s = plot.Series{Name: r.Run.Name}
		for _, st := range steps {
			s.X, s.Y = append(s.X, float64(st.Step)), append(s.Y, st.Loss)
		}
		loss.Series = append(loss.Series, s)
	}
	img, err := plot.PNG(iou, loss)
	if err != nil {
		return err
	}
	return graph.WriteFileAtomic(filepath.Join(d.Out, segmentPlotFile), img)
}

// document lays the results out as the paper's tables at this scale.
func document(res *Result) report.Document {
	b := res.Budget
	doc := report.Document{Title: "bot-onnx demo: the Bag of Tricks on ResNet-20 with MNIST"}
	add := func(blocks ...report.Block) { doc.Blocks = append(doc.Blocks, blocks...) }

	images := "all 60,000 MNIST training images"
	if b.TrainLimit > 0 {
		images = fmt.Sprintf("%s MNIST training images (drawn once with seed %d)", report.Thousands(int64(b.TrainLimit)), b.Seed)
	}
	add(report.Paragraph(fmt.Sprintf("The %s demo (`bot-onnx demo%s`), bot-onnx %s on %d cores: ResNet-20 built as ResNet-A, rewritten into ResNet-D, "+
		"trained on %s for %d epochs with the baseline recipe and with the tricks, exported to ONNX and scored in ONNX Runtime (provider %s) "+
		"on the 10,000 test images, then both D backbones fine-tuned for digit segmentation and detection. This start of the demo took %s "+
		"(stages finished by an earlier start are read back, not redone).",
		b.Mode, map[bool]string{true: " --quick", false: ""}[b.Mode == "quick"], res.Version, res.Cores, images, b.Epochs,
		res.Provider, (time.Duration(res.Seconds) * time.Second).String())))
	if b.Mode == "quick" {
		add(report.Paragraph("This is the quick budget: it shows every stage working, but a few thousand images for a few epochs is too small a sample " +
			"for the differences between rows to mean anything. Run `bot-onnx demo` without `--quick` for figures that do."))
	}
	if res.Fallback != "" {
		add(report.Paragraph("ONNX Runtime fell back to the CPU: " + res.Fallback))
	}

	add(report.Heading{Level: 2, Text: "Model tweaks (the paper's Table 5)"})
	add(report.Paragraph("The tweak passes rewrote ResNet-20-A into ResNet-20-D:"), tweakSummary(res))
	add(variantTable(res))

	add(report.Heading{Level: 2, Text: "Training refinements (the paper's Table 6)"})
	baseline, tricks := classifierRun("d-baseline").Recipe(b), classifierRun("d-tricks").Recipe(b)
	add(report.Paragraph(fmt.Sprintf("Every run starts from its model's seeded weights with the same budget: %d epochs, batch %d, base learning rate %g, "+
		"Nesterov momentum %g, weight decay %g. The baseline decays the learning rate ×%g at epochs %v (the paper's 30, 60, 90 of 120, scaled); "+
		"the tricks are %d epoch(s) of linear warmup, zero γ in the last BatchNorm of every block, no weight decay on biases and BatchNorm, "+
		"cosine decay, label smoothing ε = %g and mixup α = %g (off for the last %d epoch(s)).",
		b.Epochs, b.Batch, b.LR, baseline.Momentum, baseline.WeightDecay, baseline.DecayFactor, baseline.DecayEpochs,
		tricks.WarmupEpochs, tricks.LabelSmoothing, tricks.Mixup, tricks.MixupOffEpochs)))
	add(recipeTable(res))
	add(report.Gallery{
		{Path: ablation.LossPlot, Alt: "training and test loss", Caption: "training loss per step and test loss per epoch"},
		{Path: ablation.AccuracyPlot, Alt: "test top-1", Caption: "test top-1 per epoch"},
		{Path: ablation.LRPlot, Alt: "learning rate", Caption: "learning rate per step"},
	})

	add(report.Heading{Level: 2, Text: "Inference in ONNX Runtime"})
	add(report.Paragraph("Each trained model is exported as a classifier with a dynamic batch, checked against the trained model in ONNX Runtime " +
		"on seeded random input, and scored on the test split by ONNX Runtime with the normalisation it carries."))
	add(inferenceTable(res))

	add(report.Heading{Level: 2, Text: "Transfer to segmentation (the paper's Table 9)"})
	add(report.Paragraph(fmt.Sprintf("Each D backbone is exported with its %s stage (stride 4) at %d×%d and given torchvision's FCN head "+
		"(3×3 conv, BatchNorm, ReLU, 1×1 conv, bilinear upsampling); the whole network is fine-tuned on %s canvases of 1–4 MNIST digits "+
		"(11 classes: background and the ten digits) for %d epochs, batch %d, learning rate %g with cosine decay, and scored in ONNX Runtime "+
		"on %s test canvases made from MNIST's test digits.",
		feature, b.Canvas, b.Canvas, report.Thousands(int64(b.Canvases)), b.SegEpochs, b.SegBatch, b.SegLR, report.Thousands(int64(b.TestCanvases)))))
	add(segmentTable(res))
	add(report.Image{Path: segmentPlotFile, Alt: "segmentation curves", Caption: "fine-tuning: test mean IoU per epoch and training loss per step"})
	add(pictures(res, downstreams[0], "test canvas, ground truth, prediction")...)

	add(report.Heading{Level: 2, Text: "Transfer to detection (the paper's Table 8)"})
	add(report.Paragraph(fmt.Sprintf("Each D backbone's %s stage is given a CenterNet head (heatmap, size and offset branches of 3×3 conv, ReLU "+
		"and 1×1 conv); the whole network is fine-tuned on %s canvases with a box per digit (10 classes) for %d epochs, batch %d, "+
		"learning rate %g with cosine decay, exported with its decoding as detector.onnx and scored in ONNX Runtime on the %s test canvases "+
		"(VOC2007's 11-point AP and COCO's AP over IoU 0.50:0.95).",
		feature, report.Thousands(int64(b.DetCanvases)), b.DetEpochs, b.DetBatch, b.DetLR, report.Thousands(int64(b.TestCanvases)))))
	add(detectTable(res))
	add(pictures(res, downstreams[1], "test canvas: true boxes green, detections red")...)

	add(report.Heading{Level: 2, Text: "The same with single commands"})
	add(report.Code(Commands(res)))
	return doc
}

// tweakSummary lists what each tweak pass changed, or why it changed
// nothing: ResNet-20 is a CIFAR-layout network, whose basic blocks and
// single 3×3 stem leave B and C nothing to do.
func tweakSummary(res *Result) report.List {
	var items []string
	for _, r := range res.Tweaks {
		if len(r.Changes) == 0 {
			items = append(items, fmt.Sprintf("pass %s: %s", r.Pass, r.Note))
			continue
		}
		changes := make([]string, len(r.Changes))
		for i, c := range r.Changes {
			changes[i] = c.Block + ": " + c.What
		}
		items = append(items, fmt.Sprintf("pass %s: %d change(s): %s", r.Pass, len(r.Changes), strings.Join(changes, "; ")))
	}
	return items
}

// variantTable is Table 5's shape: A and D under the baseline recipe.
func variantTable(res *Result) report.Table {
	t := report.Table{Caption: "ResNet-20 variants, baseline recipe",
		Header: []string{"model", "parameters", "MACs", "top-1", "top-5"}}
	for _, r := range res.Runs {
		if len(r.Run.Features) > 0 {
			continue
		}
		v := res.Variants[r.Run.Variant]
		t.Rows = append(t.Rows, []string{v.Name, report.Thousands(v.Params), fmt.Sprintf("%.2f M", float64(v.MACs)/1e6),
			percent(r.Train.Top1), percent(r.Train.Top5)})
	}
	return t
}

// recipeTable is Table 6's shape: every run, with its gain over the run
// it builds on.
func recipeTable(res *Result) report.Table {
	t := report.Table{Caption: "ResNet-20 on MNIST, the same budget for every row",
		Header: []string{"model and recipe", "top-1", "top-5", "test loss", "Δ top-1", "training time", "training images/s"}}
	top1 := map[string]float64{}
	for _, r := range res.Runs {
		top1[r.Run.Name] = r.Train.Top1
		delta := "—"
		if p, ok := top1[r.Run.Parent]; ok {
			delta = fmt.Sprintf("%+.2f over %s", 100*(r.Train.Top1-p), r.Run.Parent)
		}
		t.Rows = append(t.Rows, []string{r.Run.Label, percent(r.Train.Top1), percent(r.Train.Top5), fmt.Sprintf("%.4f", r.Train.Loss),
			delta, ablation.FormatDuration(r.Train.Seconds), fmt.Sprintf("%.0f", r.TrainImagesPerS)})
	}
	return t
}

// inferenceTable lists the exported classifiers as ONNX Runtime scored them.
func inferenceTable(res *Result) report.Table {
	t := report.Table{Caption: "exported classifiers in ONNX Runtime, MNIST test split",
		Header: []string{"model", "provider", "top-1", "top-5", "loss", "images/s", "file", "export max |Δ| vs trained"}}
	for _, r := range res.Runs {
		t.Rows = append(t.Rows, []string{r.Run.Label, r.Eval.Provider, percent(r.Eval.Top1), percent(r.Eval.Top5), fmt.Sprintf("%.4f", r.Eval.Loss),
			fmt.Sprintf("%.0f", r.Eval.ImagesPerSecond), fmt.Sprintf("%.2f MB", float64(r.Export.Bytes)/1e6), maxDiff(r)})
	}
	return t
}

// maxDiff is an export's largest output difference from its source.
func maxDiff(r RunResult) string {
	worst := 0.0
	for _, p := range r.Export.Verified.Outputs {
		worst = math.Max(worst, p.MaxAbsDiff)
	}
	return fmt.Sprintf("%.1e", worst)
}

// segmentTable is Table 9's shape: each backbone's own top-1, then its
// segmentation figures in ONNX Runtime.
func segmentTable(res *Result) report.Table {
	t := report.Table{Caption: "FCN on the " + feature + " stage, digit-canvas segmentation, scored in ONNX Runtime",
		Header: []string{"backbone", "backbone top-1", "pixel accuracy", "mean IoU", "ONNX Runtime vs engine", "training time"}}
	for _, r := range res.Runs {
		s := r.Segment
		if s == nil {
			continue
		}
		t.Rows = append(t.Rows, []string{r.Run.Label, percent(r.Train.Top1), percent(s.ONNXRuntime["pixel_accuracy"]),
			fmt.Sprintf("%.4f", s.ONNXRuntime["mean_iou"]), fmt.Sprintf("%.1e", s.MaxAbsDiff), ablation.FormatDuration(s.TrainSeconds)})
	}
	return t
}

// pictures shows the first two pictures of each run's fine-tuning on
// task.
func pictures(res *Result, task downstream, caption string) []report.Block {
	var out []report.Block
	for _, r := range res.Runs {
		t := *task.result(&r)
		if t == nil || len(t.Images) == 0 {
			continue
		}
		var g report.Gallery
		for _, name := range t.Images[:min(2, len(t.Images))] {
			g = append(g, report.Image{Path: filepath.Join(task.dir, r.Run.Name, name), Alt: r.Run.Name + " " + name, Caption: r.Run.Label + ": " + caption})
		}
		out = append(out, g)
	}
	return out
}

// detectTable is Table 8's shape: each backbone's own top-1, then its
// detector's AP in ONNX Runtime.
func detectTable(res *Result) report.Table {
	t := report.Table{Caption: "CenterNet on the " + feature + " stage, digit-canvas detection, scored in ONNX Runtime",
		Header: []string{"backbone", "backbone top-1", "VOC07 AP50", "COCO AP", "COCO AP50", "ONNX Runtime vs engine", "training time"}}
	for _, r := range res.Runs {
		s := r.Detect
		if s == nil {
			continue
		}
		f := s.ONNXRuntime
		t.Rows = append(t.Rows, []string{r.Run.Label, percent(r.Train.Top1), fmt.Sprintf("%.4f", f["voc07_ap50"]), fmt.Sprintf("%.4f", f["coco_ap"]),
			fmt.Sprintf("%.4f", f["coco_ap50"]), fmt.Sprintf("%.1e", s.MaxAbsDiff), ablation.FormatDuration(s.TrainSeconds)})
	}
	return t
}

// Commands are the single commands that do what the demo did.
func Commands(res *Result) string {
	b := res.Budget
	limit := ""
	if b.TrainLimit > 0 {
		limit = fmt.Sprintf(" --train-limit %d", b.TrainLimit)
	}
	common := fmt.Sprintf("--data mnist%s --seed %d", limit, b.Seed)
	// The runs' recipes as train's flags, from the recipes the demo trained.
	recipe := func(name string) string {
		var flags []string
		for _, s := range ablation.Settings(classifierRun(name).Recipe(b)) {
			if s.Value == "true" {
				flags = append(flags, "--"+s.Key)
			} else {
				flags = append(flags, "--"+s.Key+" "+s.Value)
			}
		}
		return strings.Join(flags, " ")
	}
	lines := []string{
		fmt.Sprintf("bot-onnx build --model resnet20 --input 1x28x28 --variant A --seed %d -o r20a.onnx", b.Seed),
		fmt.Sprintf("bot-onnx tweak --variant D --seed %d r20a.onnx -o r20d.onnx", b.Seed),
		fmt.Sprintf("bot-onnx train --model r20d.onnx %s %s --out runs/d-baseline", common, recipe("d-baseline")),
		fmt.Sprintf("bot-onnx train --model r20d.onnx %s %s --out runs/d-tricks", common, recipe("d-tricks")),
		"bot-onnx export runs/d-tricks -o d-tricks.onnx",
		"bot-onnx eval d-tricks.onnx --data mnist",
		fmt.Sprintf("bot-onnx export runs/d-tricks --head none --features %s --input-size %dx%d -o d-tricks-backbone.onnx", feature, b.Canvas, b.Canvas),
		fmt.Sprintf("bot-onnx transfer --backbone d-tricks-backbone.onnx --task segment --feature %s --data mnist-seg --canvas %d --canvases %d --test-canvases %d "+
			"--data-seed %d --epochs %d --batch %d --lr %g --lr-mode cosine --seed %d --out segment/d-tricks",
			feature, b.Canvas, b.Canvases, b.TestCanvases, b.Seed, b.SegEpochs, b.SegBatch, b.SegLR, b.Seed),
		fmt.Sprintf("bot-onnx transfer --backbone d-tricks-backbone.onnx --task detect --feature %s --data mnist-det --canvas %d --canvases %d --test-canvases %d "+
			"--data-seed %d --epochs %d --batch %d --lr %g --lr-mode cosine --seed %d --out detect/d-tricks",
			feature, b.Canvas, b.DetCanvases, b.TestCanvases, b.Seed, b.DetEpochs, b.DetBatch, b.DetLR, b.Seed),
	}
	return strings.Join(lines, "\n")
}

// percent formats a fraction as a percentage.
func percent(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
