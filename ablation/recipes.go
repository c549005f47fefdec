package ablation

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/train"
)

// Paper is the baseline of the paper's section 2 at the paper's scale:
// 120 epochs of batch 256, lr 0.1 for batch 256 (scaled linearly to the
// batch given), Nesterov momentum 0.9 and weight decay 1e-4 on every
// parameter; distillation, where a recipe uses it, at T = 20 with both
// losses weighted 1, as the paper writes it.
var Paper = train.Recipe{Epochs: 120, Batch: 256, LR: 0.1, LinearScaling: true, WeightDecay: 1e-4, Momentum: 0.9,
	Distill: train.Distillation{T: 20, Hard: 1, Soft: 1}}

// PaperFile is one of the recipe files recipes/*.yaml, which `bot-onnx
// train --config` reads: a step of the study at the paper's scale.
type PaperFile struct {
	Name     string // the file is recipes/<Name>.yaml
	Doc      string // its comment
	Features []Feature
	// Teacher is the distillation teacher's model file, for a file with
	// Distill.
	Teacher string
	// Epochs, when set, replaces the paper's 120 after the schedule is
	// fitted to 120 (the paper trains mixup for 200 epochs with the same
	// 5 warmup epochs).
	Epochs int
}

// PaperFiles are recipes/*.yaml, in the study's order. The files are
// generated from them (TestPaperFiles, with -update, writes them), so
// that a recipe file and the study's step cannot differ.
var PaperFiles = []PaperFile{
	{Name: "baseline", Doc: `The paper's baseline (section 2): Nesterov momentum 0.9, weight decay 1e-4
on every parameter, lr 0.1 for batch 256 divided by 10 at epochs 30, 60, 90
of 120. Scaled here by the linear rule to the batch given.`},
	{Name: "efficient", Features: []Feature{Efficient}, Doc: `Efficient training (section 3, Table 4): baseline + linear scaling, 5
warmup epochs, zero γ, no bias decay. (FP16 is not offered: the engine
trains in float32.)`},
	{Name: "cosine", Features: []Feature{Efficient, Cosine}, Doc: `Efficient training + cosine decay (section 5.1).`},
	{Name: "smoothing", Features: []Feature{Efficient, Cosine, Smoothing}, Doc: `+ label smoothing ε = 0.1 (section 5.2), spread as GluonCV does (ε/K).`},
	{Name: "distill", Features: []Feature{Efficient, Cosine, Smoothing, Distill}, Teacher: "teacher/model.onnx",
		Doc: "+ knowledge distillation (section 5.3): the smoothing recipe with a\n" +
			"teacher run by ONNX Runtime on every batch, T = 20, the loss as the paper\n" +
			"writes it (both weights 1; GluonCV uses 0.5 and 0.5). The paper's teacher\n" +
			"is a deeper model trained with cosine decay and label smoothing: train it\n" +
			"first, e.g. `bot-onnx train --config recipes/smoothing.yaml --model\n" +
			"deeper.onnx --out teacher`, or pass --teacher to point elsewhere."},
	{Name: "mixup", Features: []Feature{Efficient, Cosine, Smoothing, Mixup}, Epochs: 200,
		Doc: `+ mixup α = 0.2 (section 5.4), 200 epochs, as the paper trains with mixup.`},
}

// Recipe returns the file's recipe: [Recipe] of its features on [Paper].
func (f PaperFile) Recipe() train.Recipe {
	r := Recipe(Paper, f.Features, f.Teacher, 0)
	if f.Epochs > 0 {
		r.Epochs = f.Epochs
	}
	return r
}

// YAML returns the file's text: its comment, then the recipe as Settings.
func (f PaperFile) YAML() string {
	var b strings.Builder
	for _, line := range strings.Split(f.Doc, "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	for _, s := range Settings(f.Recipe()) {
		v := s.Value
		if s.List {
			v = "[" + strings.ReplaceAll(v, ",", ", ") + "]"
		}
		fmt.Fprintf(&b, "%s: %s\n", s.Key, v)
	}
	return b.String()
}

// Setting is one setting of a recipe as `bot-onnx train` takes it: the
// flag's name (a recipe file's key) and its value; List says the value is
// a comma-separated list.
type Setting struct {
	Key, Value string
	List       bool
}

// Settings returns r as the flags of `bot-onnx train`, in the order of the
// recipe files: what r's schedule and refinements use, and its epochs,
// batch, learning rate, weight decay and momentum always.
func Settings(r train.Recipe) []Setting {
	var out []Setting
	add := func(key string, v any) {
		s := Setting{Key: key}
		switch v := v.(type) {
		case float64:
			s.Value = strconv.FormatFloat(v, 'g', -1, 64)
		case []int:
			parts := make([]string, len(v))
			for i, n := range v {
				parts[i] = strconv.Itoa(n)
			}
			s.Value, s.List = strings.Join(parts, ","), true
		default:
			s.Value = fmt.Sprint(v)
		}
		out = append(out, s)
	}
	add("epochs", r.Epochs)
	add("batch", r.Batch)
	add("lr", r.LR)
	if r.LinearScaling {
		add("linear-scaling", true)
	}
	if r.Cosine {
		add("lr-mode", "cosine")
	} else {
		add("lr-mode", "step")
		if len(r.DecayEpochs) > 0 {
			add("lr-steps", r.DecayEpochs)
		}
		add("lr-factor", r.DecayFactor)
	}
	if r.WarmupEpochs > 0 {
		add("warmup-epochs", r.WarmupEpochs)
	}
	if r.ZeroGamma {
		add("zero-gamma", true)
	}
	if r.NoWDBias {
		add("no-wd-bias", true)
	}
	add("wd", r.WeightDecay)
	add("momentum", r.Momentum)
	if r.Optimizer != "" && r.Optimizer != "nag" {
		add("optimizer", r.Optimizer)
		add("lars-trust", r.LARSTrust)
	}
	if r.LabelSmoothing > 0 {
		add("label-smoothing", r.LabelSmoothing)
		add("smoothing", string(r.Smoothing))
	}
	if r.Mixup > 0 {
		add("mixup", r.Mixup)
		if r.MixupOffEpochs > 0 {
			add("mixup-off-epochs", r.MixupOffEpochs)
		}
	}
	if r.Teacher != "" {
		add("teacher", r.Teacher)
		add("temperature", r.Distill.T)
		add("hard-weight", r.Distill.Hard)
		add("distill-weight", r.Distill.Soft)
	}
	return out
}
