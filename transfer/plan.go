package transfer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// Config is one transfer: a backbone moved to a task.
type Config struct {
	// Backbone is an exported backbone (export.Backbone) with a fixed
	// input size.
	Backbone string
	// Task names an entry of Tasks.
	Task string
	// Feature is the backbone output the head reads ("": the last).
	Feature string
	// Classes is the head's class count (0: the data set's).
	Classes int
	// Freeze keeps the backbone as it is; otherwise it trains at
	// BackboneLRMult times the head's learning rate.
	Freeze         bool
	BackboneLRMult float64
	// Train holds the data, the schedule, the optimiser, the seed, the
	// threads and Log, where the trainer's progress goes; the run sets its
	// Model, Recipe.LRMult, Out and Resume.
	Train train.Config
	// Runtime is where ONNX Runtime verifies and evaluates the fine-tuned
	// model.
	Runtime ort.Options
	// Out is the transfer folder; Resume continues a transfer there.
	Out    string
	Resume bool
	// ProducerVersion is written into the exported model.
	ProducerVersion string
}

// ErrOutHoldsFiles is returned by NewPlan when Config.Out holds files and
// Config.Resume is off, and ErrStudyExists by RunStudy when it holds a
// study.
var (
	ErrOutHoldsFiles = errors.New("holds files already")
	ErrStudyExists   = errors.New("holds a study already")
)

// Plan is a transfer checked against its backbone and data, ready to run;
// nothing is written before Run.
type Plan struct {
	cfg     Config
	task    *Task
	grafted *graph.Model
	splits  *train.Splits
	feature string
	classes int
	mult    map[string]float64
	top1    *float64
}

// NewPlan loads the backbone, opens the data for it, grafts the task's
// head and sets the backbone's learning-rate multipliers, refusing a
// backbone without the feature or with a dynamic input size, a data set
// labelled otherwise than the task trains on, a class count below the
// data's, and an Out that holds another transfer. It also refuses, before
// loading anything, the training settings a transfer cannot start with
// (Train.Recipe.Epochs or Train.Recipe.Batch below 1, a negative
// Train.Data.TrainLimit), which the trainer would refuse only once Run has
// begun writing.
func NewPlan(cfg Config) (*Plan, error) {
	task, err := LookupTask(cfg.Task)
	if err != nil {
		return nil, err
	}
	switch m, r := cfg.BackboneLRMult, cfg.Train.Recipe; {
	case r.Epochs < 1:
		return nil, &train.FieldError{Field: "Train.Recipe.Epochs", Value: r.Epochs, Want: "at least 1"}
	case r.Batch < 1:
		return nil, &train.FieldError{Field: "Train.Recipe.Batch", Value: r.Batch, Want: "at least 1"}
	case cfg.Train.Data.TrainLimit < 0:
		return nil, &train.FieldError{Field: "Train.Data.TrainLimit", Value: cfg.Train.Data.TrainLimit, Want: "0 (all) or more"}
	case cfg.Classes < 0:
		return nil, &train.FieldError{Field: "Classes", Value: cfg.Classes, Want: "a positive count, or 0 for the data set's"}
	case !(m >= 0) || math.IsInf(m, 1):
		return nil, &train.FieldError{Field: "BackboneLRMult", Value: m, Want: "a finite value ≥ 0"}
	}
	// A GPU provider that cannot start would fail the evaluation only
	// after the whole fine-tuning.
	if p := cfg.Runtime.Provider; p != "" && p != ort.ProviderAuto && p != ort.ProviderCPU {
		if _, err := ort.Probe(cfg.Runtime); err != nil {
			return nil, &train.FieldError{Field: "Runtime.Provider", Value: string(p), Err: errors.Unwrap(err)}
		}
	}
	backbone, err := graph.Load(cfg.Backbone)
	if err != nil {
		return nil, &train.FieldError{Field: "Backbone", Err: err}
	}
	in, err := imageInputShape(backbone)
	if err != nil {
		return nil, &train.FieldError{Field: "Backbone", Value: cfg.Backbone, Err: err}
	}
	if !in[1:].Known() {
		return nil, &train.FieldError{Field: "Backbone", Value: cfg.Backbone,
			Err: fmt.Errorf("input [%v] has a dynamic size; training needs it fixed (export the backbone with a fixed input size)", in)}
	}
	p := &Plan{cfg: cfg, task: task, feature: cfg.Feature}
	if p.feature == "" {
		outs := backbone.GetGraph().GetOutput()
		p.feature = outs[len(outs)-1].GetName()
	}
	if train.CanvasSet(p.cfg.Train.Data.Set) && p.cfg.Train.Data.Canvas.Size == 0 {
		p.cfg.Train.Data.Canvas.Size = int(in[2].Size)
	}
	open := p.cfg.Train
	open.Model = cfg.Backbone
	if p.splits, err = train.OpenData(open, in.Sizes()); err != nil {
		return nil, err
	}
	if got := labelling(p.splits); got != task.Labels {
		return nil, &train.FieldError{Field: "Train.Data.Set", Value: open.Data.Set, Err: fmt.Errorf("labelled %s; task %s trains on data labelled %s (%s)", got, task.Name, task.Labels, task.Labels.dataSets())}
	}
	p.classes = cfg.Classes
	if want := p.splits.Classes(); p.classes == 0 {
		p.classes = want
	} else if p.classes < want {
		return nil, &train.FieldError{Field: "Classes", Value: p.classes, Err: fmt.Errorf("data set %s has %d classes; the head needs at least as many", open.Data.Set, want)}
	}
	if p.grafted, err = task.head(backbone, p.feature, p.classes, cfg.Train.Seed); err != nil {
		return nil, &train.FieldError{Field: "Backbone", Value: cfg.Backbone, Err: err}
	}
	if p.mult, err = backboneLRMult(p.grafted, backbone, cfg); err != nil {
		return nil, err
	}
	if v, ok := backbone.Metadata(train.MetaTop1); ok {
		if top1, err := strconv.ParseFloat(v, 64); err == nil {
			p.top1 = &top1
		}
	}
	if g := cfg.Train.Engine.Group; g != nil && g.Rank() != 0 {
		// Only rank 0 reads and writes Out; the others may run on hosts
		// without it.
		return p, nil
	}
	return p, p.checkOut()
}

// imageInputShape returns the shape of the model's one input that is not
// an initializer.
func imageInputShape(m *graph.Model) (graph.Shape, error) {
	inits := graph.NewIndex(m.GetGraph()).Initializers
	for _, in := range m.GetGraph().GetInput() {
		if inits[in.GetName()] == nil {
			if s, _, ok := graph.ShapeOf(in); ok && len(s) == 4 {
				return s, nil
			}
			return nil, fmt.Errorf("input %q: expected images [N C H W]", in.GetName())
		}
	}
	return nil, errors.New("the model has no input")
}

// backboneLRMult returns the learning-rate multiplier of every trainable
// parameter of grafted that comes from backbone: 0 when frozen, else
// BackboneLRMult; the head's parameters keep 1.
func backboneLRMult(grafted, backbone *graph.Model, cfg Config) (map[string]float64, error) {
	w, err := train.LoadWeights[float32](grafted.Clone())
	if err != nil {
		return nil, &train.FieldError{Field: "Backbone", Value: cfg.Backbone, Err: err}
	}
	m := cfg.BackboneLRMult
	if cfg.Freeze {
		m = 0
	}
	mult := map[string]float64{}
	for _, name := range w.Order {
		if backbone.Initializer(name) != nil {
			mult[name] = m
		}
	}
	return mult, nil
}

// checkOut refuses an Out that holds files unless resuming, and a resumed
// one made from another backbone, head or seed.
func (p *Plan) checkOut() error {
	entries, err := os.ReadDir(p.cfg.Out)
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == train.LockFile })
	if err != nil || len(entries) == 0 {
		return nil
	}
	if !p.cfg.Resume {
		return fmt.Errorf("%s %w: resume the transfer there, or choose another folder", p.cfg.Out, ErrOutHoldsFiles)
	}
	if old, err := graph.Load(filepath.Join(p.cfg.Out, GraftedFile)); err == nil && !graph.Equal(old, p.grafted) {
		return fmt.Errorf("%s was made from another backbone, feature, class count or seed; resume with the same ones", filepath.Join(p.cfg.Out, GraftedFile))
	}
	return nil
}
