package train

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
)

// What the engine holds for a model. The memory plan (memplan.go) lets
// buffers whose uses do not overlap share storage, so a net holds what is
// live at its peak: for a training net, the activations the backward pass
// reads; for an evaluation net, a few layers' outputs. Measured as the
// plan's storage per value of a node's output per image, after lowering
// ResNet-20 and -56 at 32×32, ResNet-18-D at 64×64 and ResNet-50-A and -D
// at 64×64 and 224×224:
//   - a training net holds 0.71 to 0.75 float32 values, plus the
//     convolutions' shared arena (converted weights and activations of
//     the largest layer during a call), 0.02 to 0.2 more;
//   - an evaluation net 0.03 to 0.15, plus the same arena;
//   - a training net also holds its parameters' gradients and, in the
//     arena, up to about one more copy of the weights.
const (
	trainValuesPerOutput = 0.8
	evalValuesPerOutput  = 0.2
	weightsPerReplica    = 2
	weightsPerEvalNet    = 1
	// weightsShared are the copies a run holds once: the ONNX model's
	// initializers, the trainer's parameters, the momentum and the summed
	// gradient.
	weightsShared = 4
	// weightsSaving are the transient copies of a checkpoint's parameters
	// and momentum, serialised (and, when resuming, read back), and of the
	// final model, stored and encoded: on ResNet-50 the peak comes at the
	// end of the run, about four copies above training's.
	weightsSaving = 4
	// baseBytes is the process without any of the above: Go runtime,
	// code, OpenBLAS's buffers; the peak resident memory (VmHWM) of a
	// run of a 4-wide ResNet-20 on 256 images, less its estimate.
	baseBytes = 32 << 20
)

// MemoryPlan is how a run uses its model: the sizes that multiply what
// the engine holds.
type MemoryPlan struct {
	Batch      int // images a step, and a test batch
	MicroBatch int // images a forward and backward pass (0: Batch)
	Replicas   int // training nets, each on its share of a pass
	// DataBytes are the data set as held in memory and the loaders'
	// batch buffers.
	DataBytes int64
}

// MemoryEstimate is a run's expected peak memory, in bytes, by part.
type MemoryEstimate struct {
	Plan MemoryPlan
	// Weights are the parameters, their momentum and gradients, in every
	// copy the run holds.
	Weights int64
	// Training is the training nets' activations and gradients at a pass
	// of MicroBatch images; Testing the evaluation net's activations at a
	// test batch.
	Training, Testing int64
	Data              int64
	Base              int64
}

// Total returns the estimate's sum.
func (e MemoryEstimate) Total() int64 {
	return e.Weights + e.Training + e.Testing + e.Data + e.Base
}

// String gives the total and its parts in one line.
func (e MemoryEstimate) String() string {
	pass := fmt.Sprintf("batch %d", e.Plan.Batch)
	if e.Plan.MicroBatch > 0 && e.Plan.MicroBatch != e.Plan.Batch {
		pass = fmt.Sprintf("micro-batch %d", e.Plan.MicroBatch)
	}
	return fmt.Sprintf("about %s (weights+grads+momentum %s, activations %s: training %s at %s in %d replicas, testing %s at batch %d; data %s, runtime %s)",
		FormatBytes(e.Total()), FormatBytes(e.Weights), FormatBytes(e.Training+e.Testing), FormatBytes(e.Training), pass, e.Plan.Replicas,
		FormatBytes(e.Testing), e.Plan.Batch, FormatBytes(e.Data), FormatBytes(e.Base))
}

// EstimateMemory estimates what training m as p plans holds at its peak:
// shape inference gives every node's output size for one image, whose sum
// times the images of a pass, times the engine's measured factors, gives
// the activations; the parameter count times the copies the run holds
// gives the weights.
func EstimateMemory(m *graph.Model, p MemoryPlan) (MemoryEstimate, error) {
	params, outputs, err := modelValues(m)
	if err != nil {
		return MemoryEstimate{}, err
	}
	pass := p.MicroBatch
	if pass <= 0 {
		pass = p.Batch
	}
	const f32 = 4
	copies := weightsShared + weightsSaving + weightsPerReplica*p.Replicas + weightsPerEvalNet
	return MemoryEstimate{
		Plan:     p,
		Weights:  f32 * params * int64(copies),
		Training: int64(math.Ceil(f32 * trainValuesPerOutput * float64(outputs) * float64(pass))),
		Testing:  int64(math.Ceil(f32 * evalValuesPerOutput * float64(outputs) * float64(p.Batch))),
		Data:     p.DataBytes,
		Base:     baseBytes,
	}, nil
}

// modelValues returns the number of values of m's float initializers and
// the number of values of its node outputs for one image (every
// dimension past the batch dimension).
func modelValues(m *graph.Model) (params, outputs int64, err error) {
	for _, t := range m.GetGraph().GetInitializer() {
		params += graph.NumElements(t.GetDims())
	}
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return 0, 0, err
	}
	for _, n := range m.GetGraph().GetNode() {
		for _, name := range n.GetOutput() {
			s, ok := shapes[name]
			if !ok || len(s) < 1 || !s[1:].Known() {
				return 0, 0, fmt.Errorf("node %q (%s): output %q has no static shape past the batch dimension to estimate memory with", n.GetName(), n.GetOpType(), name)
			}
			size := int64(1)
			for _, d := range s[1:] {
				size *= d.Size
			}
			outputs += size
		}
	}
	return params, outputs, nil
}

// loaderBytes are the batch buffers of a loader with the given workers
// filling batches of batch examples of the given float32 values ahead
// (data.LoaderConfig: Prefetch 2·Workers, Prefetch+1 buffers).
func loaderBytes(batch, workers int, values int64) int64 {
	buffers := int64(1)
	if workers > 0 {
		buffers = int64(2*workers + 1)
	}
	return 4 * buffers * int64(batch) * values
}

// heapInUse returns the bytes of live Go heap objects after a collection:
// what an allocation since an earlier call still holds.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// SystemMemory is what the machine and the process's control group
// allow, in bytes.
type SystemMemory struct {
	Total     int64 // MemTotal
	Available int64 // MemAvailable: what can be had without swapping
	// CgroupLimit is the tightest memory limit of the process's control
	// group and its ancestors (0: none), CgroupUsage the usage of the group
	// that sets it, CgroupFile the file the limit was read from.
	CgroupLimit, CgroupUsage int64
	CgroupFile               string
	Resident                 int64 // this process's resident memory (VmRSS)
}

// ReadSystemMemory reads /proc/meminfo, /proc/self/status and the memory
// limits of the process's control group (v2 memory.max, v1
// memory.limit_in_bytes).
func ReadSystemMemory() (SystemMemory, error) {
	return readSystemMemory("/proc", "/sys/fs/cgroup")
}

// readSystemMemory reads SystemMemory under the given proc and cgroup
// roots (tests give fake ones).
func readSystemMemory(proc, cgroup string) (SystemMemory, error) {
	info, err := readKB(filepath.Join(proc, "meminfo"), "MemTotal", "MemAvailable")
	if err != nil {
		return SystemMemory{}, err
	}
	status, err := readKB(filepath.Join(proc, "self", "status"), "VmRSS")
	if err != nil {
		return SystemMemory{}, err
	}
	m := SystemMemory{Total: info["MemTotal"], Available: info["MemAvailable"], Resident: status["VmRSS"]}
	m.CgroupLimit, m.CgroupUsage, m.CgroupFile = cgroupLimit(filepath.Join(proc, "self", "cgroup"), cgroup)
	return m, nil
}

// Room returns the most memory this process may use in all, and what sets
// it: what the system has available or what the control group's limit
// leaves, whichever is less, plus what the process holds already (which
// an estimate of its needs counts too).
func (m SystemMemory) Room() (bytes int64, bound string) {
	bytes, bound = m.Available+m.Resident, "MemAvailable"
	if m.CgroupLimit > 0 {
		if left := m.CgroupLimit - m.CgroupUsage + m.Resident; left < bytes {
			bytes, bound = left, "the cgroup limit "+FormatBytes(m.CgroupLimit)
		}
	}
	return max(bytes, 0), bound
}

// readKB reads the named "Key: N kB" lines of a /proc file, in bytes.
func readKB(path string, keys ...string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading memory figures: %w", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[key] = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("%s: no %s line", path, k)
		}
	}
	return out, nil
}

// unlimited is the smallest limit a v1 control group reports for "no
// limit" (the largest page-aligned int64).
const unlimited = 1 << 62

// cgroupLimit returns the tightest memory limit along the process's
// control group path (procCgroup, /proc/self/cgroup) and its ancestors,
// the usage of the group that sets it and the file it was read from;
// 0 when no group sets one. A group the process cannot see (a path that
// is not under the mount, as in a container) is looked for at its
// ancestors, the mount's root last.
func cgroupLimit(procCgroup, root string) (limit, usage int64, file string) {
	b, err := os.ReadFile(procCgroup)
	if err != nil {
		return 0, 0, ""
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, limitName, usageName string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, limitName, usageName = root, "memory.max", "memory.current"
		case hasController(parts[1], "memory"):
			dir, limitName, usageName = filepath.Join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
		default:
			continue
		}
		for p := filepath.Clean("/" + parts[2]); ; p = filepath.Dir(p) {
			at := filepath.Join(dir, p)
			if l, err := readNumber(filepath.Join(at, limitName)); err == nil && l > 0 && l < unlimited && (limit == 0 || l < limit) {
				limit, file = l, filepath.Join(at, limitName)
				usage, _ = readNumber(filepath.Join(at, usageName))
			}
			if p == "/" {
				break
			}
		}
	}
	return limit, usage, file
}

// hasController reports whether a /proc/self/cgroup controller list
// ("cpu,cpuacct") names c.
func hasController(list, c string) bool {
	for name := range strings.SplitSeq(list, ",") {
		if name == c {
			return true
		}
	}
	return false
}

// readNumber reads a control group file holding one number; "max" (no
// limit) and a missing file are errors.
func readNumber(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// byteUnits are the suffixes ParseBytes takes, largest first within each
// family; the SI ones are powers of 1000.
var byteUnits = []struct {
	suffix string
	size   float64
}{
	{"tib", 1 << 40}, {"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"tb", 1e12}, {"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3},
	{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1},
}

// ParseBytes reads a memory size such as "4GiB", "512MiB", "1.5G" (a
// single letter is binary, as in free(1)), "2GB" (decimal) or a plain
// number of bytes.
func ParseBytes(s string) (int64, error) {
	text := strings.ToLower(strings.TrimSpace(s))
	scale := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(text, u.suffix) {
			text, scale = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.size
			break
		}
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || !(v > 0) || v*scale >= math.MaxInt64 {
		return 0, fmt.Errorf("memory size %q: expected a positive size like 4GiB, 512MiB or 1.5G", s)
	}
	return int64(v * scale), nil
}

// FormatBytes writes a size in MiB below 1 GiB, in GiB with two decimals
// below 10 GiB and with one above: three figures, so that a need and a
// limit that differ by 1% read apart.
func FormatBytes(n int64) string {
	switch gib := float64(n) / (1 << 30); {
	case gib >= 10:
		return fmt.Sprintf("%.1f GiB", gib)
	case gib >= 1:
		return fmt.Sprintf("%.2f GiB", gib)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// checkMemory estimates what the run needs and refuses it, before
// anything big is allocated, when that exceeds cfg.Engine.MemoryLimit or else
// what the system leaves; otherwise it logs the estimate and returns the
// memory the run may use (0: unknown). dataBytes are what opening the
// data set kept.
func (r *run) checkMemory(dataBytes int64, micro, replicas int) (room int64, err error) {
	values := r.input[1] * r.input[2] * r.input[3]
	workers := Workers(r.cfg)
	// The training loader and the test loader each fill batches ahead.
	data := dataBytes + 2*loaderBytes(r.cfg.Recipe.Batch, workers, values)
	e, err := EstimateMemory(r.model, MemoryPlan{Batch: r.cfg.Recipe.Batch, MicroBatch: micro, Replicas: replicas, DataBytes: data})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.cfg.Model, err)
	}
	room, bound := r.cfg.Engine.MemoryLimit, "Engine.MemoryLimit"
	if room == 0 {
		sys, err := ReadSystemMemory()
		if err != nil {
			// Not a reason to refuse a run: say what is missing, and train.
			fmt.Fprintf(r.cfg.Log, "memory: needs %s; the memory available is unknown (%v)\n", e, err)
			return 0, nil
		}
		room, bound = sys.Room()
	}
	if e.Total() > room {
		return 0, &MemoryError{Model: r.cfg.Model, Need: e, Room: room, Bound: bound,
			MicroBatchHelps: micro == r.cfg.Recipe.Batch && e.Training > e.Testing}
	}
	fmt.Fprintf(r.cfg.Log, "memory: needs %s of %s available (%s)\n", e, FormatBytes(room), bound)
	return room, nil
}

// CheckRoom refuses, as a *FieldError on field, a setting (value) that
// would make the process allocate need bytes for what (e.g. "the input
// tensor") when fewer are left (SystemMemory.Room): a clear refusal rather
// than the Go runtime's fatal out-of-memory error and its stack trace. It
// refuses nothing when the memory available cannot be read.
func CheckRoom(field string, value any, need float64, what string) error {
	sys, err := ReadSystemMemory()
	if err != nil {
		return nil
	}
	if room, bound := sys.Room(); need > float64(room) {
		return &FieldError{Field: field, Value: value, Want: fmt.Sprintf("a smaller one: the %s would need %s, and %s leaves %s",
			what, FormatBytes(int64(min(need, math.MaxInt64))), bound, FormatBytes(room))}
	}
	return nil
}

// MemoryError refuses a run whose estimate exceeds the memory it may use.
type MemoryError struct {
	Model string
	Need  MemoryEstimate
	Room  int64
	// Bound names what sets Room: the field Engine.MemoryLimit, or the system's
	// figure (MemAvailable, a cgroup's limit).
	Bound string
	// MicroBatchHelps says that running the batch in micro-batches would
	// need less: the training activations are the larger part.
	MicroBatchHelps bool
}

func (e *MemoryError) Error() string { return e.Describe(func(field string) string { return field }) }

// Describe gives the refusal with the fields it names (Bound when it is
// Engine.MemoryLimit, Recipe.Batch, Engine.MicroBatch) named by name, as FieldError.Describe.
func (e *MemoryError) Describe(name func(field string) string) string {
	hint := "lower " + name("Recipe.Batch")
	if e.MicroBatchHelps {
		hint += " or use " + name("Engine.MicroBatch")
	}
	return fmt.Sprintf("training %s needs %s but %s is available (%s); %s", e.Model, e.Need, FormatBytes(e.Room), name(e.Bound), hint)
}

// limitGoMemory lowers the Go runtime's soft memory limit to room while a
// run trains, so that the collector reclaims garbage before the process
// outgrows what checkMemory counted on: by default Go lets garbage grow
// as large as the live heap before collecting it, and the estimate counts
// live memory. It returns what restores the previous limit.
func limitGoMemory(room int64) (restore func()) {
	prev := debug.SetMemoryLimit(-1)
	if room <= 0 || room >= prev {
		return func() {}
	}
	debug.SetMemoryLimit(room)
	return func() { debug.SetMemoryLimit(prev) }
}
