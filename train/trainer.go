package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/progress"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/structure"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// Metrics are one epoch's figures, one line of metrics.jsonl.
type Metrics struct {
	Epoch     int     `json:"epoch"`
	Step      int     `json:"step"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	// TestLoss is the mean softmax cross-entropy over the test images, or
	// over their labelled pixels for a model with per-pixel logits.
	TestLoss float64 `json:"test_loss"`
	// TestTop1 and TestTop5 are a classifier's; absent for per-pixel models.
	TestTop1 float64 `json:"test_top1,omitempty"`
	TestTop5 float64 `json:"test_top5,omitempty"`
	// PixelAccuracy and MeanIoU are a per-pixel model's test figures over
	// every pixel of the test split (package segment's definitions).
	PixelAccuracy float64 `json:"pixel_accuracy,omitempty"`
	MeanIoU       float64 `json:"mean_iou,omitempty"`
	// VOC07AP50 … COCOAP75 are a detector's test figures over the test
	// split (package detection's definitions, VOC's at IoU 0.5), and
	// TestLoss its mean CenterNet loss per object.
	VOC07AP50   float64 `json:"voc07_ap50,omitempty"`
	VOCAP50     float64 `json:"voc_ap50,omitempty"`
	COCOAP      float64 `json:"coco_ap,omitempty"`
	COCOAP50    float64 `json:"coco_ap50,omitempty"`
	COCOAP75    float64 `json:"coco_ap75,omitempty"`
	ImagesPerS  float64 `json:"images_per_second"`
	EpochSecond float64 `json:"epoch_seconds"`
	// AllreduceSeconds is the mean time per step spent summing the
	// gradients across the processes of a Group (absent without one).
	AllreduceSeconds float64 `json:"allreduce_seconds_per_step,omitempty"`
	// Skipped counts the image files found bad so far (with SkipBad).
	Skipped int `json:"skipped_files,omitempty"`
}

// Files of a run folder.
const (
	ModelFile      = "model.onnx"
	MetricsFile    = "metrics.jsonl"
	CheckpointFile = "checkpoint.bin"
	StepsFile      = "steps.csv"
)

// ModelPath returns the model file that path names: path itself when it is
// a file, or the ModelFile a run wrote when it is a run folder (Config.Out),
// so that commands taking a trained model accept either. A path that does
// not exist, or a folder without ModelFile, is refused.
func ModelPath(path string) (string, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s does not exist (expected a run folder or an .onnx file)", path)
	} else if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return path, nil
	}
	model := filepath.Join(path, ModelFile)
	if _, err := os.Stat(model); err != nil {
		return "", fmt.Errorf("run folder %s has no %s (expected the model a training run writes there)", path, ModelFile)
	}
	return model, nil
}

// run is a training run in progress.
type run struct {
	cfg      Config
	model    *graph.Model
	input    []int64 // the model's input shape, [N C H W]
	w        *Weights[float32]
	replicas []*Net[float32]
	shares   []int // images per replica
	// micro is the number of images in each chunk of a batch shared out
	// to every replica of the run (the whole batch without MicroBatch),
	// and offset the first of this process's replicas' images in it.
	micro, offset int
	grads         []float32 // every parameter's gradient, end to end
	sum           []float64 // the sum grads is rounded from (trainStep)
	commTime      time.Duration
	eval          *Net[float32]
	opt           Optimizer
	sched         Schedule
	train         *data.Loader
	test          data.Dataset
	// denseTest is the test split of a set labelled per pixel, which a
	// model with per-pixel logits trains on (test is nil then).
	denseTest data.DenseDataset
	// det is the data of a detection set, which a model ending in a
	// CenterNet head trains on (test and denseTest are nil then).
	det     *detectionData
	classes int
	step    int
	epoch   int       // epochs completed
	config  string    // settings(cfg), which a checkpoint must match
	targets []float32 // the batch's target distributions, [batch, classes]
	teacher *ort.Session
	soft    [][]float32 // each replica's buffer of the teacher's softened distributions
	softAll []float32   // the whole batch's
	folders []*data.FolderSet
	steps   []StepRecord // the steps of the epoch in progress, not yet in StepsFile
	memory  int64        // the memory the run may use (checkMemory; 0: unknown)
}

// Train runs cfg to the end (or until ctx is cancelled, after which a run
// with Resume continues from the last completed epoch) and returns every
// epoch's metrics: of every epoch done, at least cfg.Recipe.Epochs, when it
// returns no error. It holds the run folder's lock (LockDir) throughout,
// so a second run into the same folder is refused at once.
func Train(ctx context.Context, cfg Config) (_ []Metrics, err error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Out == "" {
		return nil, refuse("Out", cfg.Out, "a run folder")
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if cfg.Engine.Group == nil || cfg.Engine.Group.Rank() == 0 {
		unlock, err := LockDir(cfg.Out)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}
	r, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	defer limitGoMemory(r.memory)()
	if r.teacher != nil {
		defer r.teacher.Close()
	}
	metrics, err := r.resume()
	if err != nil {
		return nil, err
	}
	if err := r.shareState(); err != nil {
		return nil, err
	}
	for r.epoch < cfg.Recipe.Epochs {
		m, err := r.trainEpoch(ctx)
		if err != nil {
			return metrics, err
		}
		metrics = append(metrics, m)
		if !r.writer() {
			// Wait, without spinning, for rank 0 to evaluate and save.
			if err := cfg.Engine.Group.Barrier(); err != nil {
				return metrics, err
			}
			continue
		}
		if err := r.checkpoint(metrics); err != nil {
			return metrics, err
		}
		if cfg.Engine.Group != nil {
			if err := cfg.Engine.Group.Barrier(); err != nil {
				return metrics, err
			}
		}
		score := fmt.Sprintf("top-1 %.2f%%", 100*m.TestTop1)
		switch {
		case r.denseTest != nil:
			score = fmt.Sprintf("pixel accuracy %.2f%%, mean IoU %.4f", 100*m.PixelAccuracy, m.MeanIoU)
		case r.det != nil:
			score = fmt.Sprintf("VOC07 AP50 %.4f, COCO AP %.4f", m.VOC07AP50, m.COCOAP)
		}
		fmt.Fprintf(cfg.Log, "epoch %d/%d: train loss %.4f, test loss %.4f, %s, %.0f images/s\n",
			m.Epoch, cfg.Recipe.Epochs, m.TrainLoss, m.TestLoss, score, m.ImagesPerS)
		if m.Skipped > 0 {
			fmt.Fprintf(cfg.Log, "%d bad image files skipped so far\n", m.Skipped)
		}
	}
	if !r.writer() {
		return metrics, nil
	}
	r.w.Store(r.model)
	r.model.SetMetadata("bot-onnx.trained", fmt.Sprintf("%s, %d epochs, batch %d, lr %g", cfg.Data.Set, cfg.Recipe.Epochs, cfg.Recipe.Batch, r.sched.Base))
	r.model.SetMetadata(MetaTricks, Tricks(cfg))
	last := metrics[len(metrics)-1]
	if r.denseTest != nil || r.det != nil {
		// A model grafted onto a trained backbone carries the backbone's
		// top-1, which says nothing of this model.
		r.model.MetadataProps = slices.DeleteFunc(r.model.MetadataProps, func(p *onnx.StringStringEntryProto) bool { return p.GetKey() == MetaTop1 })
	}
	switch {
	case r.det != nil:
		r.model.SetMetadata(MetaVOC07AP50, strconv.FormatFloat(last.VOC07AP50, 'g', 6, 64))
		r.model.SetMetadata(MetaCOCOAP, strconv.FormatFloat(last.COCOAP, 'g', 6, 64))
	case r.denseTest != nil:
		r.model.SetMetadata(MetaPixelAccuracy, strconv.FormatFloat(last.PixelAccuracy, 'g', 6, 64))
		r.model.SetMetadata(MetaMeanIoU, strconv.FormatFloat(last.MeanIoU, 'g', 6, 64))
	default:
		r.model.SetMetadata(MetaTop1, strconv.FormatFloat(last.TestTop1, 'g', 6, 64))
	}
	return metrics, r.model.Save(filepath.Join(cfg.Out, ModelFile))
}

// close frees the nets' memory outside Go's heap, so that a program that
// trains again (an ablation's next row) does not hold two runs' worth.
func (r *run) close() {
	for _, net := range r.replicas {
		net.Close()
	}
	if r.eval != nil {
		r.eval.Close()
	}
}

func prepare(cfg Config) (*run, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if cfg.Engine.Precision == kernel.BF16 {
		if err := kernel.BF16Support(); err != nil {
			return nil, err
		}
	}
	if cfg.Recipe.Smoothing == "" {
		cfg.Recipe.Smoothing = SmoothUniform
	}
	config, askedThreads := settings(cfg), cfg.Engine.Threads
	if cfg.Engine.Threads == 0 {
		cfg.Engine.Threads = runtime.GOMAXPROCS(0)
	}
	cfg.Engine.Threads = min(cfg.Engine.Threads, cfg.Recipe.Batch)
	model, err := graph.Load(cfg.Model)
	if err != nil {
		return nil, err
	}
	if err := graph.Validate(model); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	if err := checkTrainable(model); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	if cfg.Init != "" {
		if err := initFrom(model, cfg.Init); err != nil {
			return nil, err
		}
	}
	if cfg.Recipe.ZeroGamma {
		if err := zeroGamma(model); err != nil {
			return nil, &FieldError{Field: "Recipe.ZeroGamma", Value: true, Err: fmt.Errorf("%s: %w", cfg.Model, err)}
		}
	}
	r := &run{cfg: cfg, model: model, input: inputShape(model), config: config}
	if r.w, err = LoadWeights[float32](model); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	if err := r.w.SetLRMult(cfg.Recipe.LRMult); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	heap := heapInUse()
	if err := r.openData(); err != nil {
		return nil, err
	}
	dataBytes := max(heapInUse()-heap, 0)
	r.sched = cfg.Recipe.Schedule(r.train.Batches())
	if err := r.sched.Validate(); err != nil {
		return nil, scheduleField(err, cfg)
	}
	if cfg.Recipe.LinearScaling {
		r.sched.Base = LinearScaling(cfg.Recipe.LR, cfg.Recipe.Batch)
	}
	micro := cfg.Recipe.Batch
	if cfg.Engine.MicroBatch > 0 {
		micro = cfg.Engine.MicroBatch
	}
	if r.memory, err = r.checkMemory(dataBytes, micro, min(cfg.Engine.Threads, micro)); err != nil {
		return nil, err
	}
	// The evaluation net comes first: its output is what checkTask checks
	// against the data, before the training nets attach their loss to it.
	if r.eval, err = Lower(model, r.w, cfg.Recipe.Batch, LowerOptions{}); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Model, err)
	}
	if err := r.checkTask(); err != nil {
		return nil, err
	}
	total, err := r.placeReplicas(micro, min(cfg.Engine.Threads, micro))
	if err != nil {
		return nil, err
	}
	if cfg.Engine.Group != nil {
		if askedThreads != 0 {
			c := cfg
			c.Engine.Threads = total
			r.config = settings(c)
		}
		fmt.Fprintf(cfg.Log, "data-parallel over %d processes: %d replicas in all, %d images a step\n", cfg.Engine.Group.Size(), total, cfg.Recipe.Batch)
	}
	sizes, ranks := make([]int, len(r.w.Order)), make([]int, len(r.w.Order))
	for i, name := range r.w.Order {
		sizes[i], ranks[i] = len(r.w.Params[name]), len(r.w.Shapes[name])
		if cfg.Recipe.NoWDBias {
			r.w.Decay[name] = ranks[i] > 1
		}
	}
	if cfg.Recipe.Optimizer == "lars" {
		r.opt = NewLARS(cfg.Recipe.Momentum, cfg.Recipe.WeightDecay, cfg.Recipe.LARSTrust, sizes, ranks)
	} else {
		r.opt = NewNAG(cfg.Recipe.Momentum, cfg.Recipe.WeightDecay, sizes)
	}
	if r.denseTest == nil && r.det == nil {
		r.targets = make([]float32, cfg.Recipe.Batch*r.classes)
	}
	if cfg.Recipe.Teacher != "" {
		if err := r.openTeacher(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// scheduleField renames the Schedule fields a *FieldError from
// Schedule.Validate names (its Field, With, and Want's mentions of them)
// to the Config fields that set them: Base is Recipe.LR, Factor
// Recipe.DecayFactor, and the others Recipe's of the same name.
// StepsPerEpoch, which the data set's size sets, keeps its name.
func scheduleField(err error, cfg Config) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	rename := func(f string) string {
		switch f {
		case "Base":
			return "Recipe.LR"
		case "Factor":
			return "Recipe.DecayFactor"
		case "StepsPerEpoch":
			return f
		}
		return "Recipe." + f
	}
	if fe.Field == "Base" {
		fe.Value = cfg.Recipe.LR
	}
	fe.Field = rename(fe.Field)
	for i, f := range fe.With {
		fe.With[i] = rename(f)
		fe.Want = regexp.MustCompile(`\b`+regexp.QuoteMeta(f)+`\b`).ReplaceAllLiteralString(fe.Want, fe.With[i])
	}
	return fe
}

// checkTask checks that the model's output fits the data set: logits
// [N, K] for a set labelled per image, per-pixel logits [N, K, H, W] of the
// label maps' size for a set labelled per pixel, K at least the data set's
// classes; and refuses the tricks defined on per-image targets (label
// smoothing, mixup, distillation) for per-pixel logits.
func (r *run) checkTask() error {
	shape := r.eval.logits.Shape()
	r.classes = shape[1]
	perPixel := len(shape) == 4
	if r.det != nil {
		return r.checkDetector(shape)
	}
	switch {
	case perPixel && r.denseTest == nil:
		return refuse("Data.Set", r.cfg.Data.Set, fmt.Sprintf("a set labelled per pixel (%s): %s: the model's logits are per pixel, [N %d %d %d]",
			SegmentationDataSets, r.cfg.Model, shape[1], shape[2], shape[3]))
	case !perPixel && r.denseTest != nil:
		return refuse("Data.Set", r.cfg.Data.Set, fmt.Sprintf("a set labelled per image (%s): %s: the model's logits are [N %d], one label an image (a model for a set labelled per pixel ends in per-pixel logits [N K H W], as package transfer's segment task makes)",
			DataSets, r.cfg.Model, shape[1]))
	}
	classes := 0
	if perPixel {
		classes = r.denseTest.Classes()
		if _, h, w := r.denseTest.Shape(); shape[2] != h || shape[3] != w {
			return fmt.Errorf("%s: the model's per-pixel logits are %d×%d, the label maps of %s %d×%d", r.cfg.Model, shape[2], shape[3], r.cfg.Data.Set, h, w)
		}
		if r.cfg.Recipe.LabelSmoothing > 0 || r.cfg.Recipe.Mixup > 0 || r.cfg.Recipe.Teacher != "" {
			return fmt.Errorf("%s: label smoothing, mixup and distillation act on per-image targets; the model's logits are per pixel [N %d %d %d]",
				r.cfg.Model, shape[1], shape[2], shape[3])
		}
	} else {
		classes = r.test.Classes()
	}
	if r.classes != classes {
		return fmt.Errorf("%s: the model has %d classes, the data set %d: a model for it has %d outputs (its classes would never be trained otherwise)",
			r.cfg.Model, r.classes, classes, classes)
	}
	return nil
}

// openTeacher loads the distillation teacher into ONNX Runtime and checks
// that it takes the student's input and gives as many classes.
func (r *run) openTeacher() error {
	s, err := ort.NewSession(r.cfg.Recipe.Teacher, ort.Options{LibraryPath: r.cfg.Engine.TeacherLib, Provider: ort.ProviderCPU, Threads: runtime.NumCPU()})
	if err != nil {
		return &FieldError{Field: "Recipe.Teacher", Value: r.cfg.Recipe.Teacher, Err: err}
	}
	in, out := s.Inputs(), s.Outputs()
	student := r.input
	if len(in) != 1 || len(out) != 1 || len(out[0].Shape) != 2 || out[0].Shape[1] != int64(r.classes) ||
		len(in[0].Shape) != 4 || !slices.Equal(in[0].Shape[1:], student[1:]) {
		s.Close()
		return refuse("Recipe.Teacher", r.cfg.Recipe.Teacher, fmt.Sprintf("a classifier with input [N %d %d %d] and output [N %d] like the student's, found %v and %v",
			student[1], student[2], student[3], r.classes, in[0].Shape, out[0].Shape))
	}
	r.teacher = s
	for _, net := range r.replicas {
		buf, err := net.SetDistillation(r.cfg.Recipe.Distill)
		if err != nil {
			return err
		}
		r.soft = append(r.soft, buf)
	}
	r.softAll = make([]float32, r.cfg.Recipe.Batch*r.classes)
	return nil
}

// zeroGamma sets γ of the last BatchNorm of every residual block to 0.
func zeroGamma(m *graph.Model) error {
	bns, err := structure.LastBlockNorms(m)
	if err != nil {
		return err
	}
	ix := graph.NewIndex(m.GetGraph())
	for _, bn := range bns {
		t := ix.Constant(bn.GetInput()[1])
		if t == nil {
			return fmt.Errorf("BatchNorm %q: γ is not an initializer", bn.GetName())
		}
		m.SetInitializer(graph.FloatTensor(t.GetName(), t.GetDims(), make([]float32, graph.NumElements(t.GetDims()))))
	}
	return nil
}

// addReplicas lowers one training net per thread, each for its share of
// each chunk of micro images, with one BLAS thread each: two replicas beat
// one replica with two BLAS threads on a ResNet's small products
// (docs/design-notes.md). This process's replicas are numbers first to
// first+threads-1 of the run's total (replicaLayout). Only the run's first
// replica updates the BatchNorm running statistics, from its share, so
// that they do not depend on how the replicas are spread over processes.
func (r *run) addReplicas(micro, first, threads, total int) error {
	if _, err := kernel.LoadBLAS(); err != nil {
		return err
	}
	kernel.SetBLASThreads(1)
	share := func(i int) int {
		if i < micro%total {
			return micro/total + 1
		}
		return micro / total
	}
	r.micro = micro
	for i := range first {
		r.offset += share(i)
	}
	for i := first; i < first+threads; i++ {
		share := share(i)
		o := LowerOptions{Training: true, UpdateStats: i == 0, Precision: r.cfg.Engine.Precision}
		if r.det != nil {
			o.Detect = r.det.classes
		}
		net, err := Lower(r.model, r.w, share, o)
		if err != nil {
			return err
		}
		r.replicas, r.shares = append(r.replicas, net), append(r.shares, share)
	}
	return nil
}

// optimizerInputs returns the parameters in order, their decay flags,
// learning-rate multipliers and gradient buffers for trainStep: slices of
// r.grads, which holds them end to end for one sum across processes.
func (r *run) optimizerInputs() (params, grads [][]float32, decay []bool, mult []float64) {
	n := 0
	for _, name := range r.w.Order {
		n += len(r.w.Params[name])
	}
	r.grads, r.sum = make([]float32, n), make([]float64, n)
	n = 0
	for _, name := range r.w.Order {
		params = append(params, r.w.Params[name])
		size := len(r.w.Params[name])
		grads = append(grads, r.grads[n:n+size:n+size])
		n += size
		decay = append(decay, r.w.Decay[name])
		mult = append(mult, r.w.LRMult(name))
	}
	return params, grads, decay, mult
}

// inputShape returns m's declared data input shape, [N C H W] with -1
// for symbolic sizes.
func inputShape(m *graph.Model) []int64 {
	if ins := graph.DataInputs(m.GetGraph()); len(ins) > 0 {
		s, _, _ := graph.ShapeOf(ins[0])
		return s.Sizes()
	}
	return []int64{-1, -1, -1, -1}
}

// resume restores the last checkpoint when asked, and refuses to start
// over an existing run otherwise. It returns the metrics of the epochs
// already done.
func (r *run) resume() ([]Metrics, error) {
	if !r.writer() {
		return nil, nil
	}
	ckpt := filepath.Join(r.cfg.Out, CheckpointFile)
	_, statErr := os.Stat(ckpt)
	if err := os.MkdirAll(r.cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if statErr != nil {
		if r.cfg.Resume {
			fmt.Fprintf(r.cfg.Log, "no checkpoint in %s: starting from the first epoch\n", r.cfg.Out)
		}
		if err := writeSteps(filepath.Join(r.cfg.Out, StepsFile), nil); err != nil {
			return nil, err
		}
		return nil, os.WriteFile(filepath.Join(r.cfg.Out, MetricsFile), nil, 0o644)
	}
	if !r.cfg.Resume {
		return nil, refuse("Out", r.cfg.Out, fmt.Sprintf("a folder without a run, or Resume to continue the run it holds (%s)", CheckpointFile), "Resume")
	}
	c, err := LoadCheckpoint(ckpt)
	if err != nil {
		return nil, err
	}
	if c.Config != r.config {
		if err := r.compareSettings(ckpt, c.Config); err != nil {
			return nil, r.inAll(err)
		}
	}
	restore := func(name string, dst []float32) error {
		src, ok := c.Tensors[name]
		if !ok || len(src) != len(dst) {
			return fmt.Errorf("%s: tensor %q missing or of the wrong size", ckpt, name)
		}
		copy(dst, src)
		return nil
	}
	for i, name := range r.w.Order {
		if err := restore(name, r.w.Params[name]); err != nil {
			return nil, err
		}
		if err := restore("velocity/"+name, r.opt.Velocity()[i]); err != nil {
			return nil, err
		}
	}
	for name, v := range r.w.Stats {
		if err := restore(name, v); err != nil {
			return nil, err
		}
	}
	r.epoch, r.step = c.Epoch, c.Step
	metrics, err := ReadMetrics(filepath.Join(r.cfg.Out, MetricsFile))
	if err != nil {
		return nil, err
	}
	metrics = slices.DeleteFunc(metrics, func(m Metrics) bool { return m.Epoch > c.Epoch })
	if len(metrics) != c.Epoch {
		// Train writes an epoch's metrics before its checkpoint, so the file
		// was cut or removed since: the run's record cannot be completed.
		return nil, fmt.Errorf("%s holds the metrics of %d epochs where %s has done %d: the run's record is incomplete; train it again into another folder",
			filepath.Join(r.cfg.Out, MetricsFile), len(metrics), CheckpointFile, c.Epoch)
	}
	steps, err := ReadSteps(filepath.Join(r.cfg.Out, StepsFile))
	if err != nil {
		return nil, err
	}
	steps = slices.DeleteFunc(steps, func(s StepRecord) bool { return s.Step >= c.Step })
	if err := writeSteps(filepath.Join(r.cfg.Out, StepsFile), steps); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.cfg.Log, "resuming %s after epoch %d (step %d)\n", r.cfg.Out, c.Epoch, c.Step)
	return metrics, writeMetrics(filepath.Join(r.cfg.Out, MetricsFile), metrics)
}

// checkpoint saves the steps and the metrics of an epoch, then the state
// after it.
func (r *run) checkpoint(metrics []Metrics) error {
	// The checkpoint goes last: after a crash before it is replaced,
	// resume drops the steps and epochs past the previous one and trains
	// them again. Metrics written after it would be lost for good by a
	// crash in between: resume would go on from the checkpoint without
	// that epoch's line.
	if err := appendSteps(filepath.Join(r.cfg.Out, StepsFile), r.steps); err != nil {
		return fmt.Errorf("saving the steps of epoch %d: %w", r.epoch, err)
	}
	r.steps = r.steps[:0]
	if err := writeMetrics(filepath.Join(r.cfg.Out, MetricsFile), metrics); err != nil {
		return fmt.Errorf("saving the metrics of epoch %d: %w", r.epoch, err)
	}
	c := &Checkpoint{Epoch: r.epoch, Step: r.step, Config: r.config, Tensors: map[string][]float32{}}
	for i, name := range r.w.Order {
		c.Tensors[name] = r.w.Params[name]
		c.Tensors["velocity/"+name] = r.opt.Velocity()[i]
	}
	for name, v := range r.w.Stats {
		c.Tensors[name] = v
	}
	if err := c.Save(filepath.Join(r.cfg.Out, CheckpointFile)); err != nil {
		return fmt.Errorf("saving the checkpoint of epoch %d: %w", r.epoch, err)
	}
	return nil
}

// trainEpoch runs one epoch and evaluates on the test set.
func (r *run) trainEpoch(ctx context.Context) (Metrics, error) {
	start := time.Now()
	r.commTime = 0
	it, err := r.train.Epoch(ctx, r.epoch, 0)
	if err != nil {
		return Metrics{}, err
	}
	defer it.Close()
	bar := progress.New(r.cfg.Log, fmt.Sprintf("epoch %d/%d", r.epoch+1, r.cfg.Recipe.Epochs), int64(r.train.Batches()*r.cfg.Recipe.Batch), "images")
	params, grads, decay, mult := r.optimizerInputs()
	var lossSum float64
	batches := 0
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Metrics{}, err
		}
		loss, err := r.trainStep(b)
		if err != nil {
			return Metrics{}, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return Metrics{}, fmt.Errorf("step %d (epoch %d, batch %d): the loss is %g; stopping with the last good checkpoint in %s",
				r.step, r.epoch+1, b.Index, loss, filepath.Join(r.cfg.Out, CheckpointFile))
		}
		lr := r.sched.LR(r.step)
		if err := r.opt.Step(lr, params, grads, decay, mult); err != nil {
			return Metrics{}, err
		}
		r.steps = append(r.steps, StepRecord{Step: r.step, LR: lr, Loss: loss})
		r.step++
		lossSum += loss
		batches++
		bar.Add(int64(b.N), fmt.Sprintf("loss %.4f lr %.4g", loss, lr))
	}
	elapsed := time.Since(start)
	r.epoch++
	m := Metrics{Epoch: r.epoch, Step: r.step, LR: r.sched.LR(r.step - 1), TrainLoss: lossSum / float64(max(batches, 1)),
		ImagesPerS: float64(batches*r.cfg.Recipe.Batch) / elapsed.Seconds(), EpochSecond: elapsed.Seconds()}
	if r.cfg.Engine.Group != nil {
		m.AllreduceSeconds = r.commTime.Seconds() / float64(max(batches, 1))
	}
	if !r.writer() {
		return m, nil
	}
	err = r.evaluate(ctx, &m)
	m.Skipped = r.skipped()
	return m, err
}

// trainStep runs the replicas on their shares of batch b and leaves the
// mean of their gradients in r.grads, each replica weighted by its share
// of the batch's images (or of its labelled pixels, for per-pixel logits),
// across the processes of a Group too. It returns the batch's mean loss.
//
// The weighted gradients are float32, summed in float64 and rounded once:
// a float64 sum of float32 terms is exact unless their exponents at one
// element differ by more than about 2^27, so the step does not depend on
// the order of the terms, and a run gives the same weights however its
// replicas are spread over processes and whatever order MPI sums in.
// Summed in float32, the last bits would change with the order, and
// training amplifies them (docs/distributed.md).
func (r *run) trainStep(b *data.Batch) (float64, error) {
	per := len(b.Images) / b.N
	k := r.classes
	dense := r.denseTest != nil
	plane := len(b.Dense) / b.N
	if !dense && r.det == nil {
		r.fillTargets(b, per)
	}
	if r.teacher != nil {
		shape := append([]int64{int64(b.N)}, r.input[1:]...)
		out, err := r.teacher.Run(ort.Tensor{Shape: shape, Data: b.Images[:b.N*per]})
		if err != nil {
			return 0, fmt.Errorf("teacher: %w", err)
		}
		SoftenedTargets(out[0].Data, k, r.cfg.Recipe.Distill.T, r.softAll)
	}
	// Each chunk of the batch (one micro-batch, or the whole batch) is
	// shared out to the replicas of every process; gradients accumulate
	// weighted by share.
	micro := r.micro
	if b.N%micro != 0 {
		return 0, fmt.Errorf("batch of %d images does not split into micro-batches of %d", b.N, micro)
	}
	loss := 0.0
	errs := make([]error, len(r.replicas))
	labelled := 0
	switch {
	case dense:
		labelled = countLabelled(b.Dense[:b.N*plane])
	case r.det != nil:
		n, err := r.det.gather(b)
		if err != nil {
			return 0, err
		}
		labelled = n
	}
	for start := 0; start < b.N; start += micro {
		offset := start + r.offset
		var wg sync.WaitGroup
		for i, net := range r.replicas {
			share := r.shares[i]
			copy(net.Input(), b.Images[offset*per:(offset+share)*per])
			switch {
			case dense:
				copy(net.PixelLabels(), b.Dense[offset*plane:(offset+share)*plane])
			case r.det != nil:
				if err := net.SetObjects(r.det.batch[offset : offset+share]); err != nil {
					return 0, err
				}
			default:
				copy(net.Targets(), r.targets[offset*k:(offset+share)*k])
			}
			if r.teacher != nil {
				copy(r.soft[i], r.softAll[offset*k:(offset+share)*k])
			}
			offset += share
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = net.Run()
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
		for i, net := range r.replicas {
			weight := float64(r.shares[i]) / float64(b.N)
			switch {
			case dense:
				// The batch's loss is the mean over all its labelled pixels.
				weight = 0
				if labelled > 0 {
					weight = float64(net.PixelCount()) / float64(labelled)
				}
			case r.det != nil && labelled > 0:
				// CenterNet's loss is normalised by the batch's objects.
				weight = float64(net.ObjectCount()) / float64(labelled)
			}
			loss += weight * net.Loss()
			weight32 := float32(weight)
			first := start == 0 && i == 0
			at := 0
			for _, g := range net.Grads() {
				dst := r.sum[at : at+len(g)]
				at += len(g)
				if first {
					for j, v := range g {
						dst[j] = float64(weight32 * v)
					}
					continue
				}
				for j, v := range g {
					dst[j] += float64(weight32 * v)
				}
			}
		}
	}
	loss, err := r.sumAcrossGroup(loss)
	for j, v := range r.sum {
		r.grads[j] = float32(v)
	}
	return loss, err
}

// fillTargets sets the target distributions of batch b's classification
// loss: its labels one-hot or smoothed, then mixed with the images when
// mixup is on in this epoch.
func (r *run) fillTargets(b *data.Batch, per int) {
	k := r.classes
	for i, l := range b.Labels[:b.N] {
		SmoothedTarget(r.targets[i*k:(i+1)*k], int(l), r.cfg.Recipe.LabelSmoothing, r.cfg.Recipe.Smoothing)
	}
	if r.cfg.Recipe.Mixup > 0 && r.epoch < r.cfg.Recipe.Epochs-r.cfg.Recipe.MixupOffEpochs {
		rng := rand.New(rand.NewPCG(r.cfg.Seed^0x6d69787570, uint64(r.step)))
		Mixup(b.Images[:b.N*per], per, r.targets[:b.N*k], k, Beta(rng, r.cfg.Recipe.Mixup))
	}
}

// evaluate runs the evaluation net over the test set and sets m's test
// figures: the mean loss, and top-1 and top-5 accuracy (top-5 only for
// more than 5 classes), or pixel accuracy and mean IoU for per-pixel
// logits.
func (r *run) evaluate(ctx context.Context, m *Metrics) error {
	kernel.SetBLASThreads(runtime.NumCPU())
	defer kernel.SetBLASThreads(1)
	o := eval.Options{Workers: Workers(r.cfg)}
	if r.det != nil {
		return r.det.evaluate(ctx, evalNet{r.eval}, o, r.input, m)
	}
	if r.denseTest != nil {
		s := eval.NewSegmentation(r.denseTest.Classes(), IgnoreLabel)
		if _, err := eval.Run(ctx, evalNet{r.eval}, r.denseTest, o, s); err != nil {
			return err
		}
		sm := s.Metrics()
		if sm.Labelled == 0 {
			return errors.New("the test split has no labelled pixel to evaluate")
		}
		m.TestLoss, m.PixelAccuracy, m.MeanIoU = s.Loss(), sm.PixelAccuracy, sm.MeanIoU
		return nil
	}
	c := eval.NewClassification(r.test.Classes())
	if _, err := eval.Run(ctx, evalNet{r.eval}, r.test, o, c); err != nil {
		return err
	}
	m.TestLoss, m.TestTop1, m.TestTop5 = c.Loss(), c.Top1(), c.Top5()
	return nil
}

// initFrom copies into m every initializer of the model at path that has
// the same name, element type and shape.
func initFrom(m *graph.Model, path string) error {
	src, err := graph.Load(path)
	if err != nil {
		return err
	}
	copied := 0
	for _, t := range src.GetGraph().GetInitializer() {
		if old := m.Initializer(t.GetName()); old != nil && old.GetDataType() == t.GetDataType() && slices.Equal(old.GetDims(), t.GetDims()) {
			m.SetInitializer(t)
			copied++
		}
	}
	if copied == 0 {
		return &FieldError{Field: "Init", Value: path, Err: errors.New("no initializer matches the model's by name and shape")}
	}
	return nil
}

// ReadMetrics reads a run's MetricsFile, one epoch a line.
func ReadMetrics(path string) ([]Metrics, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Metrics
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m Metrics
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %v", path, i+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// writeMetrics rewrites metrics.jsonl atomically, one JSON object a line.
func writeMetrics(path string, metrics []Metrics) error {
	var b strings.Builder
	for _, m := range metrics {
		line, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return graph.WriteFileAtomic(path, []byte(b.String()))
}
