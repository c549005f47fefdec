package train

import (
	"io"

	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// Config is one training run: the model, the data it trains on, the
// recipe (the paper's baseline of section 2 and its refinements), how the
// engine computes it, and where the run lives. Every field but Out,
// Resume, Log and Engine.MemoryLimit is part of the run's settings, which
// a checkpoint must match to be resumed (Recipe.Epochs aside, so that a
// finished run may be extended).
type Config struct {
	Model string // .onnx file to train
	Init  string // optional .onnx whose weights (matched by name and shape) start the run
	// Seed draws the data order, the training subset (Data.TrainLimit),
	// the augmentation and mixup's λ.
	Seed   uint64
	Data   DataConfig
	Recipe Recipe
	Engine Engine

	Out    string // run folder: model.onnx, metrics.jsonl, checkpoint.bin
	Resume bool
	// Log receives progress and messages.
	Log io.Writer
}

// DataConfig is the data a run trains and evaluates on.
type DataConfig struct {
	Set string // one of DataSets or SegmentationDataSets
	Dir string // "" for the data set's default folder
	// Canvas chooses the canvases of mnist-seg (their seed, size and
	// number in each split; zero fields take the defaults). Other data
	// sets refuse it.
	Canvas data.CanvasOptions
	// Mean and Std standardise every channel, in [0,1] units (nil: the
	// data set's own figures; ImageNet's for image folders).
	Mean, Std []float64
	// Augment is the training augmentation of image folders (nil: the
	// paper's, augment.DefaultTrainOptions); its size, channels and
	// normalisation are set from the model and Mean and Std. Validation
	// images are resized to size/ValCropRatio (0: 0.875) and centre-cropped.
	Augment      *augment.TrainOptions
	ValCropRatio float64
	// SkipBad skips image files that do not decode, with a warning and a
	// count in the metrics, instead of stopping at the first.
	SkipBad bool
	// TrainLimit, when positive, trains on that many training examples
	// drawn once with Config.Seed: a smaller budget for quick studies.
	TrainLimit int
}

// Recipe is how a run trains: the schedule, the optimiser and the paper's
// refinements. recipes/*.yaml hold the paper's, as package ablation
// defines them.
type Recipe struct {
	Epochs        int
	Batch         int
	LR            float64 // base learning rate
	LinearScaling bool    // lr = LR × Batch / 256
	DecayEpochs   []int   // step schedule: multiply by DecayFactor at these epochs
	DecayFactor   float64
	Cosine        bool // cosine decay after warmup instead of steps
	WarmupEpochs  int
	WeightDecay   float64
	Momentum      float64
	// NoWDBias exempts every rank-1 parameter (biases, BatchNorm γ and β)
	// from weight decay.
	NoWDBias bool
	// ZeroGamma starts the last BatchNorm of every residual block at γ = 0.
	ZeroGamma bool
	// Optimizer is "nag" (default) or "lars"; LARSTrust is LARS's η.
	Optimizer string
	LARSTrust float64
	// LRMult multiplies the learning rate of the named parameters (missing:
	// 1), for fine-tuning; 0 freezes a parameter, and a BatchNorm whose γ
	// and β are both frozen keeps its running statistics (see
	// Weights.SetLRMult).
	LRMult map[string]float64
	// LabelSmoothing is ε, spread as Smoothing says.
	LabelSmoothing float64
	Smoothing      Smoothing
	// Mixup is mixup's α (0: off); it stops for the last MixupOffEpochs.
	Mixup          float64
	MixupOffEpochs int
	// Teacher is an .onnx classifier run by ONNX Runtime on every (mixed)
	// batch for knowledge distillation, with Distill's temperature and
	// weights (Engine.TeacherLib names the ONNX Runtime library).
	Teacher string
	Distill Distillation
}

// Engine is how the run is computed: replicas, chunks, arithmetic, the
// data pipeline's goroutines, the teacher's runtime and the memory
// allowed.
type Engine struct {
	// Threads is the number of replicas, each on its share of the batch
	// with one BLAS thread; 0 means one per core Go may use (GOMAXPROCS),
	// and stays 0 in a run's settings, so that the run resumes on a
	// machine with another number of cores.
	Threads int
	// MicroBatch, when set, runs the batch in chunks of this many images
	// and accumulates their gradients before one optimizer step: the
	// batch's gradient with BatchNorm statistics per chunk, for batches
	// that do not fit in memory. It must divide Recipe.Batch.
	MicroBatch int
	// Precision is the arithmetic of the convolutions (kernel.BF16: bfloat16
	// inputs, float32 accumulation; everything else stays float32). Part of
	// a run's settings; omitted from them when FP32, as runs made before it
	// existed were.
	Precision kernel.Precision `json:",omitempty"`
	// Workers is the number of goroutines filling batches ahead of the
	// trainer (0: one per core for image folders, one otherwise).
	Workers int
	// TeacherLib names the ONNX Runtime library that runs Recipe.Teacher
	// ("" to search).
	TeacherLib string
	// MemoryLimit is the memory the run may use, in bytes; a run whose
	// estimate exceeds it is refused before it trains (0: what the system
	// and the process's cgroup leave). Not part of a run's settings, so
	// a resumed run may give another.
	MemoryLimit int64 `json:"-"`
	// Group, when set, is the set of processes this one trains with,
	// data-parallel (an MPI world): Recipe.Batch is their batch together,
	// Threads this process's replicas, and rank 0 alone reads and writes
	// Out. A run's settings hold the replicas of all the processes
	// together in Threads, so that it resumes exactly with another number
	// of processes that has as many.
	Group Group `json:"-"`
}
