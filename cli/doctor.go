package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

// doctorCommand reports the machine as bot-onnx sees it, to check a set-up
// or to attach to a bug report; a missing ONNX Runtime fails it, after
// the rest is printed.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "report what bot-onnx finds on this machine: Go, cores, memory, ONNX Runtime, OpenBLAS, the data cache",
		UsageText: "bot-onnx doctor [--ort-lib PATH] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library to check (else the usual search: $" + ort.LibraryEnv + ", the user cache, the system's folders)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			r := diagnose(c.String("ort-lib"))
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, r); err != nil {
					return err
				}
			} else if err := r.print(c.App.Writer); err != nil {
				return err
			}
			if r.ORT.Error != "" {
				return errors.New(r.ORT.Error)
			}
			return nil
		},
	}
}

// doctorReport is what doctor finds; its JSON form is --json's.
type doctorReport struct {
	Version    string         `json:"version"`
	Go         string         `json:"go"`
	OS         string         `json:"os"`
	Arch       string         `json:"arch"`
	CPUs       int            `json:"cpus"`
	GOMAXPROCS int            `json:"gomaxprocs"`
	Memory     memoryReport   `json:"memory"`
	ORT        ortReport      `json:"onnx_runtime"`
	Engine     engineReport   `json:"engine"`
	OpenBLAS   openBLASReport `json:"openblas"`
	Data       []dataReport   `json:"data"`
}

// memoryReport is the machine's memory and the process's cgroup limit, in
// bytes.
type memoryReport struct {
	Total       int64  `json:"total,omitempty"`
	Available   int64  `json:"available,omitempty"`
	CgroupLimit int64  `json:"cgroup_limit,omitempty"`
	CgroupFile  string `json:"cgroup_file,omitempty"`
	Error       string `json:"error,omitempty"`
}

// ortReport is the ONNX Runtime library, how it was found, and what it
// offers; Error says why it could not be found or loaded.
type ortReport struct {
	Library   string   `json:"library,omitempty"`
	FoundBy   string   `json:"found_by,omitempty"`
	Version   string   `json:"version,omitempty"`
	Providers []string `json:"providers,omitempty"`
	// Auto is the provider --provider auto starts here, Fallback why it
	// is not CUDA.
	Auto     string `json:"auto_provider,omitempty"`
	Fallback string `json:"fallback,omitempty"`
	Error    string `json:"error,omitempty"`
}

// engineReport is the CPU as the training engine sees it: the features
// it picks kernels by and what its libraries run.
type engineReport struct {
	CPU      string `json:"cpu,omitempty"`
	Features string `json:"cpu_features"`
	// ISA is the widest instruction set the CPU gives the kernels.
	ISA  string `json:"isa"`
	BF16 bool   `json:"bf16"`
	// Convolutions is the instruction set oneDNN's JIT kernels run (its own
	// names), Elementwise the copy of the BatchNorm, ReLU and Add kernels
	// chosen from the features.
	Convolutions string `json:"convolution_isa"`
	Elementwise  string `json:"elementwise_isa"`
	// Warnings name kernels that fall back to a narrower instruction set
	// than ISA, one line each.
	Warnings []string `json:"warnings,omitempty"`
}

// openBLASReport is the OpenBLAS library the training kernels call.
type openBLASReport struct {
	Library   string `json:"library,omitempty"`
	Config    string `json:"config,omitempty"`
	Threads   int    `json:"threads,omitempty"`
	Core      string `json:"core,omitempty"`
	ISA       string `json:"isa,omitempty"`
	CoreFrom  string `json:"core_chosen_by,omitempty"`
	Requested string `json:"core_requested,omitempty"`
	Error     string `json:"error,omitempty"`
}

// dataReport is one data set of the data cache: its folder, and its size
// when it reads, or why it does not.
type dataReport struct {
	Name    string `json:"name"`
	Dir     string `json:"dir,omitempty"`
	Present bool   `json:"present"`
	Train   int    `json:"train,omitempty"`
	Test    int    `json:"test,omitempty"`
	Error   string `json:"error,omitempty"`
}

// diagnose gathers the report; ortLib is --ort-lib.
func diagnose(ortLib string) doctorReport {
	r := doctorReport{
		Version: Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Memory: diagnoseMemory(),
		ORT:    diagnoseORT(ortLib),
		Data:   diagnoseData(),
	}
	r.Engine, r.OpenBLAS = diagnoseEngine()
	return r
}

// diagnoseEngine reads the CPU's features and loads OpenBLAS as training
// does, and warns of kernels narrower than the CPU allows.
func diagnoseEngine() (engineReport, openBLASReport) {
	f := kernel.HostFeatures()
	e := engineReport{CPU: kernel.CPUName(), Features: f.String(), ISA: f.ISA(), BF16: f.HasBF16(),
		Convolutions: kernel.DNNLISA(), Elementwise: kernel.VecISA()}
	for _, k := range []struct{ what, isa string }{
		{"oneDNN (convolutions) " + e.Convolutions, kernel.DNNLISAFamily()},
		{"elementwise kernels", e.Elementwise},
	} {
		if w := kernel.ISAWarning(k.what, k.isa, f); w != "" {
			e.Warnings = append(e.Warnings, w)
		}
	}
	info, err := kernel.LoadBLAS()
	if err != nil {
		return e, openBLASReport{Error: err.Error()}
	}
	if w := kernel.ISAWarning("openblas core "+info.Core, info.ISA, f); w != "" {
		e.Warnings = append(e.Warnings, w)
	}
	return e, openBLASReport{Library: info.Library, Config: info.Config, Threads: kernel.BLASThreads(), Core: info.Core,
		ISA: info.ISA, CoreFrom: info.CoreFrom, Requested: info.Requested}
}

// diagnoseMemory reads the machine's memory and the cgroup limit.
func diagnoseMemory() memoryReport {
	m, err := train.ReadSystemMemory()
	if err != nil {
		return memoryReport{Error: err.Error()}
	}
	return memoryReport{Total: m.Total, Available: m.Available, CgroupLimit: m.CgroupLimit, CgroupFile: m.CgroupFile}
}

// diagnoseORT finds and loads ONNX Runtime as the other commands do, and
// asks it for its version and providers, and which provider auto starts.
func diagnoseORT(ortLib string) ortReport {
	lib, err := ort.LocateLibrary(ortLib)
	if err != nil {
		return ortReport{Error: oneLine(err.Error())}
	}
	r := ortReport{Library: lib.Path, FoundBy: string(lib.Source)}
	if err := ort.Init(lib.Path); err != nil {
		r.Error = oneLine(err.Error())
		return r
	}
	r.Version = ort.Version()
	if r.Providers, err = ort.AvailableProviders(); err != nil {
		r.Error = oneLine(err.Error())
		return r
	}
	r.Auto, r.Fallback, err = autoProvider(lib.Path)
	if err != nil {
		r.Error = oneLine(err.Error())
	}
	return r
}

// autoProvider starts a session of a one-node model with provider auto and
// returns the provider it got and why it fell back, if it did.
func autoProvider(lib string) (provider, fallback string, err error) {
	b := graph.NewBuilder("doctor", graph.DefaultOpset)
	b.Output(b.Relu("relu", b.Input("x", graph.Static(1, 4))), "y")
	m, err := b.Finish("bot-onnx doctor", Version)
	if err != nil {
		return "", "", err
	}
	model, err := m.Encode()
	if err != nil {
		return "", "", err
	}
	s, err := ort.NewSessionFromBytes(model, ort.Options{LibraryPath: lib, Provider: ort.ProviderAuto})
	if err != nil {
		return "", "", fmt.Errorf("starting a session with provider auto: %w", err)
	}
	defer s.Close()
	return string(s.Provider()), s.Fallback(), nil
}

// diagnoseData reads each data set of the data cache.
func diagnoseData() []dataReport {
	sets := []struct {
		name string
		dir  func() (string, error)
		read func(string) (data.Dataset, data.Dataset, error)
	}{
		{"mnist", data.DefaultDir, data.MNIST},
		{"fashion-mnist", data.FashionMNISTDefaultDir, data.FashionMNIST},
		{"cifar10", data.CIFAR10DefaultDir, data.CIFAR10},
	}
	out := make([]dataReport, len(sets))
	for i, s := range sets {
		out[i] = dataReport{Name: s.name}
		dir, err := s.dir()
		var trainSet, testSet data.Dataset
		if err == nil {
			out[i].Dir = dir
			trainSet, testSet, err = s.read(dir)
		}
		if err != nil {
			out[i].Error = oneLine(err.Error())
			continue
		}
		out[i].Present, out[i].Train, out[i].Test = true, trainSet.Len(), testSet.Len()
	}
	return out
}

// print writes the report as an aligned key: value listing.
func (r doctorReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", key, fmt.Sprintf(format, args...))
	}
	line("bot-onnx", "%s", r.Version)
	line("go", "%s %s/%s", r.Go, r.OS, r.Arch)
	line("cores", "%d (GOMAXPROCS %d)", r.CPUs, r.GOMAXPROCS)
	r.Memory.print(line)
	r.ORT.print(line)
	r.Engine.print(line)
	r.OpenBLAS.print(line)
	for _, d := range r.Data {
		if d.Present {
			line(d.Name, "%s (%s training, %s test images)", d.Dir, thousands(int64(d.Train)), thousands(int64(d.Test)))
		} else {
			line(d.Name, "missing: %s", d.Error)
		}
	}
	return tw.Flush()
}

// print writes the engine's lines of the listing.
func (e engineReport) print(line func(key, format string, args ...any)) {
	if e.CPU != "" {
		line("cpu", "%s", e.CPU)
	}
	line("cpu features", "%s", e.Features)
	bf16 := "no bfloat16 arithmetic (train --precision bf16 is refused)"
	if e.BF16 {
		bf16 = "bfloat16 arithmetic (train --precision bf16)"
	}
	line("engine isa", "%s, %s", e.ISA, bf16)
	line("convolutions", "oneDNN %s (JIT kernels oneDNN picks from CPUID)", e.Convolutions)
	line("elementwise", "%s (BatchNorm, ReLU, Add: the copy picked from the features)", e.Elementwise)
	for _, w := range e.Warnings {
		line("warning", "%s", w)
	}
}

// print writes the OpenBLAS lines of the listing.
func (o openBLASReport) print(line func(key, format string, args ...any)) {
	if o.Error != "" {
		line("openblas", "missing: %s", o.Error)
		return
	}
	line("openblas", "%s (%s)", o.Config, o.Library)
	from := o.CoreFrom
	if o.Requested != "" && !strings.EqualFold(o.Requested, o.Core) {
		from += ", which asked for " + o.Requested
	}
	line("openblas core", "%s: %s kernels, chosen by %s", o.Core, o.ISA, from)
	line("openblas threads", "%d", o.Threads)
}

// print writes the memory lines of the listing.
func (m memoryReport) print(line func(key, format string, args ...any)) {
	if m.Error != "" {
		line("memory", "unknown: %s", m.Error)
		return
	}
	line("memory", "%s total, %s available", train.FormatBytes(m.Total), train.FormatBytes(m.Available))
	if m.CgroupLimit > 0 {
		line("cgroup limit", "%s (%s)", train.FormatBytes(m.CgroupLimit), m.CgroupFile)
	} else {
		line("cgroup limit", "none")
	}
}

// print writes the ONNX Runtime lines of the listing: the library and
// what it offers, or why it is missing or does not load.
func (o ortReport) print(line func(key, format string, args ...any)) {
	if o.Library == "" {
		line("onnx runtime", "missing: %s", o.Error)
		return
	}
	line("onnx runtime", "%s (found by %s)", o.Library, o.FoundBy)
	if o.Version == "" {
		line("onnx runtime error", "%s", o.Error)
		return
	}
	line("onnx runtime version", "%s", o.Version)
	line("providers", "%s", strings.Join(o.Providers, ", "))
	switch {
	case o.Auto == "":
		line("auto provider", "unknown: %s", o.Error)
	case o.Fallback != "":
		line("auto provider", "%s (%s)", o.Auto, o.Fallback)
	default:
		line("auto provider", "%s", o.Auto)
	}
}
