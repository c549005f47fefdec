package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// TestMain lets a test start this test binary as the bot-onnx command, to
// kill it like a user's process.
func TestMain(m *testing.M) {
	if os.Getenv("BOT_ONNX_AS_MAIN") == "1" {
		if dir := os.Getenv("BOT_ONNX_PID_DIR"); dir != "" {
			// TestMPIRankKilled kills one rank by the PID it leaves here.
			os.WriteFile(filepath.Join(dir, "rank-"+os.Getenv("OMPI_COMM_WORLD_RANK")), []byte(strconv.Itoa(os.Getpid())), 0o644)
		}
		os.Exit(Main(append([]string{"bot-onnx"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// killsPerCommand is how many SIGKILLs each command takes before the
// resume that finishes it.
const killsPerCommand = 20

// killEpochs is the length of the killed runs: enough epochs of a tiny
// fixture that most of the 20 kills land inside training and its saves,
// not after it.
const killEpochs = 10

// killCase is a command that TestSIGKILLAndResume runs to its end through
// kills and resumes.
type killCase struct {
	name string
	// setup makes the fixture and returns the command line writing into out.
	setup func(t *testing.T) (args func(out string) []string)
	// runDir is the training run's folder inside out ("" for out itself).
	runDir                string
	epochs, stepsPerEpoch int
	// check, when set, checks a finished out beyond its run folder against
	// the uninterrupted run's folder whole.
	check func(t *testing.T, out, whole string)
}

// TestSIGKILLAndResume kills `bot-onnx train` and `bot-onnx transfer` with
// SIGKILL killsPerCommand times each, at random points (seeded; rerun one
// with BOT_ONNX_KILL_SEED): during start-up, mid-epoch, within 2 ms after
// each write of an epoch's save (steps, metrics, then the checkpoint), and
// after training. Each kill is followed by a start with --resume. After every kill the files on disk
// must be whole and agree with each other; after the last resume, the run
// must hold every epoch once and every step once, and its weights and
// figures must equal those of an uninterrupted run with the same seed.
func TestSIGKILLAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains each command about 25 times")
	}
	if raceEnabled {
		// The killed processes would be race-instrumented, training about
		// 25 times slower; task test runs this test without -race.
		t.Skip("run without -race (task test does)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BOT_ONNX_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("BOT_ONNX_KILL_SEED: %v", err)
		}
	}
	t.Logf("kill seed %d (rerun with BOT_ONNX_KILL_SEED=%d)", seed, seed)
	cases := []killCase{
		{
			name: "train",
			setup: func(t *testing.T) func(string) []string {
				_, dataDir, model := trainFixture(t, 128, 32)
				return func(out string) []string {
					return []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--epochs", strconv.Itoa(killEpochs), "--batch", "32",
						"--lr", "0.05", "--lr-steps", "6", "--seed", "9", "--threads", "2", "--out", out}
				}
			},
			epochs: killEpochs, stepsPerEpoch: 128 / 32,
		},
		{
			name: "transfer",
			setup: func(t *testing.T) func(string) []string {
				requireORT(t)
				_, dataDir, _, b32 := transferFixture(t)
				return func(out string) []string {
					return []string{"transfer", "--backbone", b32, "--task", "segment", "--data", "mnist-seg", "--data-dir", dataDir,
						"--canvases", "48", "--test-canvases", "8", "--epochs", strconv.Itoa(killEpochs), "--batch", "16", "--lr", "0.05", "--seed", "3",
						"--provider", "cpu", "--threads", "2", "--out", out}
				}
			},
			runDir: transfer.RunDir, epochs: killEpochs, stepsPerEpoch: 48 / 16,
			check: checkTransferOut,
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.killAndResume(t, rand.New(rand.NewPCG(seed, uint64(i))))
		})
	}
}

// killAndResume runs c uninterrupted, then again through killsPerCommand
// kills and a last resume, and compares the two.
func (c killCase) killAndResume(t *testing.T, rng *rand.Rand) {
	args := c.setup(t)
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole")
	ref := runUntilKilled(t, args(whole), filepath.Join(whole, c.runDir), nil)
	if ref.killed || ref.ready == 0 || len(ref.checkpoints) != c.epochs {
		t.Fatalf("uninterrupted run: ready at %v, checkpoints at %v: %s", ref.ready, ref.checkpoints, ref.stderr)
	}
	last := ref.checkpoints[c.epochs-1]
	tm := timings{startup: ref.ready, epoch: (last - ref.ready) / time.Duration(c.epochs), tail: ref.elapsed - last}
	t.Logf("uninterrupted: %v (start-up %v, epochs of %v, tail %v)", ref.elapsed.Round(time.Millisecond),
		tm.startup.Round(time.Millisecond), tm.epoch.Round(time.Millisecond), tm.tail.Round(time.Millisecond))

	out := filepath.Join(dir, "killed")
	run := filepath.Join(out, c.runDir)
	snapshot := filepath.Join(dir, "snapshot")
	landed := map[string]int{}
	retryBefore := time.Duration(0)
	for kills, starts := 0, 0; kills < killsPerCommand; starts++ {
		if starts == 5*killsPerCommand {
			t.Fatalf("%d starts for %d kills: the runs end before the kills", starts, kills)
		}
		done := c.checkKilled(t, out, run)
		plan := tm.choosePlan(rng, kills, c.epochs-done)
		if retryBefore > 0 {
			plan = &killPlan{at: randDuration(rng, 0, retryBefore)}
		}
		// A run that ends before its kill is put back as it was, to be
		// killed again earlier.
		copyDir(t, out, snapshot)
		cmd := args(out)
		// A kill before the output folder was made leaves no run to
		// resume, and --resume refuses a folder that does not exist.
		if _, err := os.Stat(out); err == nil {
			cmd = append(cmd, "--resume")
		}
		a := runUntilKilled(t, cmd, run, plan)
		if !a.killed {
			t.Logf("start %d ended after %v, before its kill (%s): retrying earlier", starts, a.elapsed.Round(time.Millisecond), plan)
			retryBefore = a.elapsed * 4 / 5
			copyDir(t, snapshot, out)
			continue
		}
		retryBefore = 0
		kills++
		// Start-up time varies with what the machine does besides:
		// aim the next kills by the last one seen.
		if a.ready > 0 {
			tm.startup = a.ready
		}
		where := c.where(a, run, done)
		landed[where]++
		t.Logf("kill %2d: %s; landed at %v, %s; %d epochs checkpointed before",
			kills, plan, a.elapsed.Round(time.Millisecond), where, done)
	}
	c.checkKilled(t, out, run)
	t.Logf("kills landed: %v", landed)

	if a := runUntilKilled(t, append(args(out), "--resume"), run, nil); a.killed {
		t.Fatal("the last resume was killed")
	}
	c.checkFinished(t, run, filepath.Join(whole, c.runDir))
	if c.check != nil {
		c.check(t, out, whole)
	}
	// A kill between a temporary file's creation and its rename leaves it
	// behind; the next start sweeps its folders once it holds their locks.
	if temps := globAll(t, out, run, ".*.tmp-*"); len(temps) > 0 {
		t.Errorf("temporary files of killed writes left after the last resume: %v", temps)
	}
}

// timings are where the uninterrupted run spent its time: start-up until
// it replaces the metrics file, each epoch, and the tail after the last
// checkpoint (saving the model; for transfer, export and evaluation).
type timings struct{ startup, epoch, tail time.Duration }

// saveEvent is a write of an epoch's save, in the order the trainer does
// them, as the test sees it in the run folder.
type saveEvent int

const (
	stepsAppended saveEvent = iota + 1
	metricsReplaced
	checkpointBegun // its temporary file appeared
	checkpointReplaced
)

var saveEvents = [...]string{stepsAppended: "the steps were appended", metricsReplaced: "the metrics were replaced",
	checkpointBegun: "the checkpoint's temporary file appeared", checkpointReplaced: "the checkpoint was replaced"}

// killPlan says when to SIGKILL a process: at a time after its start, or
// a delay after it is first seen doing a write of an epoch's save.
type killPlan struct {
	at    time.Duration
	after saveEvent // 0: kill at at
	delay time.Duration
}

func (p *killPlan) String() string {
	if p.after != 0 {
		return fmt.Sprintf("aimed %v after %s", p.delay.Round(10*time.Microsecond), saveEvents[p.after])
	}
	return fmt.Sprintf("aimed at %v", p.at.Round(time.Millisecond))
}

// choosePlan aims the kill-th kill of a start that has epochsLeft to
// train, in turn: at its start-up, just after a write of its first
// epoch's save, in its first epoch, again at the save, or in its first
// two epochs (in the tail once no epoch is left). About one kill in four
// gets past a checkpoint, so that the kills spread over every epoch and
// the tail.
func (tm timings) choosePlan(rng *rand.Rand, kill, epochsLeft int) *killPlan {
	var epochs time.Duration
	switch {
	case kill%5 == 0:
		return &killPlan{at: randDuration(rng, 0, tm.startup)}
	case epochsLeft == 0:
		return &killPlan{at: randDuration(rng, tm.startup, tm.startup+tm.tail)}
	case kill%5 == 1 || kill%5 == 3:
		// The writes take a few milliseconds each (they sync): a kill
		// within 2 ms of one mostly lands before the next.
		return &killPlan{after: saveEvent(1 + rng.IntN(len(saveEvents)-1)), delay: randDuration(rng, 0, 2*time.Millisecond)}
	case kill%5 == 2:
		epochs = tm.epoch
	default:
		epochs = 2 * tm.epoch
	}
	return &killPlan{at: randDuration(rng, tm.startup, tm.startup+epochs)}
}

func randDuration(rng *rand.Rand, from, to time.Duration) time.Duration {
	if to <= from {
		return from
	}
	return from + time.Duration(rng.Int64N(int64(to-from)))
}

// attempt is what one start of the command did, as seen by polling its
// run folder every millisecond.
type attempt struct {
	killed  bool
	elapsed time.Duration
	// ready is when the process first replaced the metrics file (start-up
	// done: training begins); zero if it did not.
	ready time.Duration
	// checkpoints are the times the checkpoint file was replaced;
	// lastSave the last time the process was seen saving an epoch.
	checkpoints []time.Duration
	lastSave    time.Duration
	// checkpointing says the kill left the checkpoint's temporary file.
	checkpointing bool
	stderr        string
}

// where names the part of the run that kill a landed in, from what it
// saw and what is on disk; done is the epochs checkpointed before.
func (c killCase) where(a attempt, run string, done int) string {
	epoch := 0
	if ckpt, err := train.LoadCheckpoint(filepath.Join(run, train.CheckpointFile)); err == nil {
		epoch = ckpt.Epoch
	}
	metrics, _ := train.ReadMetrics(filepath.Join(run, train.MetricsFile))
	steps, _ := train.ReadSteps(filepath.Join(run, train.StepsFile))
	switch {
	case a.ready == 0:
		return "startup"
	case a.lastSave == 0 || a.elapsed-a.lastSave > 20*time.Millisecond:
		if epoch == c.epochs {
			return "after training"
		}
		return "mid-epoch"
	case a.checkpointing:
		return "saving: writing the checkpoint"
	case len(metrics) > epoch:
		return "saving: metrics written, checkpoint not"
	case len(steps) > epoch*c.stepsPerEpoch:
		return "saving: steps written, metrics not"
	case epoch > done:
		return "just after a checkpoint"
	}
	return "mid-epoch"
}

// runUntilKilled starts this test binary as bot-onnx with args, watches
// the run folder run, and kills the process as plan says (a nil plan lets
// it run to its end). It fails the test if the process exits with an
// error of its own.
func runUntilKilled(t *testing.T, args []string, run string, plan *killPlan) attempt {
	t.Helper()
	metricsPath, ckptPath := filepath.Join(run, train.MetricsFile), filepath.Join(run, train.CheckpointFile)
	stepsPath, ckptTemps := filepath.Join(run, train.StepsFile), filepath.Join(run, "."+train.CheckpointFile+".tmp-*")
	metrics, _ := os.Stat(metricsPath)
	ckpt, _ := os.Stat(ckptPath)
	steps, _ := os.Stat(stepsPath)
	// Temporary files that earlier kills left behind are not this
	// process's writes.
	stale, _ := filepath.Glob(ckptTemps)

	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var a attempt
	var deadline time.Duration
	armed := false
	if plan != nil && plan.after == 0 {
		deadline, armed = plan.at, true
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for alive := true; alive; {
		select {
		case <-exited:
			alive = false
			continue
		case <-tick.C:
		}
		now := time.Since(start)
		saving := func(e saveEvent) {
			a.lastSave = now
			if plan != nil && plan.after == e && !armed {
				deadline, armed = now+plan.delay, true
			}
		}
		// Start-up rewrites the steps, then the metrics (ready); after
		// that, a change to either is an epoch being saved.
		wasReady := a.ready > 0
		if fi, _ := os.Stat(stepsPath); replaced(steps, fi) {
			steps = fi
			if wasReady {
				saving(stepsAppended)
			}
		}
		if fi, _ := os.Stat(metricsPath); replaced(metrics, fi) {
			metrics = fi
			if wasReady {
				saving(metricsReplaced)
			} else {
				a.ready = now
			}
		}
		if temps, _ := filepath.Glob(ckptTemps); len(temps) > len(stale) {
			saving(checkpointBegun)
		}
		if fi, _ := os.Stat(ckptPath); replaced(ckpt, fi) {
			ckpt = fi
			a.checkpoints = append(a.checkpoints, now)
			saving(checkpointReplaced)
		}
		if armed && now >= deadline {
			cmd.Process.Signal(syscall.SIGKILL)
			a.elapsed = now
			<-exited
			alive = false
		}
	}
	if a.elapsed == 0 {
		a.elapsed = time.Since(start)
	}
	a.stderr = stderr.String()
	temps, _ := filepath.Glob(ckptTemps)
	a.checkpointing = len(temps) > len(stale)
	// A kill sent just after the process exited on its own finds a zombie
	// and does nothing: the wait status says which came first.
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	a.killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	if !a.killed && ws.ExitStatus() != 0 {
		t.Fatalf("bot-onnx %s: exit %d: %s", strings.Join(args, " "), ws.ExitStatus(), a.stderr)
	}
	return a
}

// replaced reports whether the file now differs from the one seen before:
// created, replaced by a rename, or rewritten in place.
func replaced(before, now os.FileInfo) bool {
	if before == nil || now == nil {
		return now != nil
	}
	return !os.SameFile(before, now) || !before.ModTime().Equal(now.ModTime()) || before.Size() != now.Size()
}

// checkKilled checks the folder out and its run folder run as a kill left
// them: models load and JSON files parse; the checkpoint, if any, loads
// and is of a whole epoch; the steps file holds whole lines of steps 0,
// 1, … and the metrics file whole lines of epochs 1, 2, …, each up to the
// checkpoint's or an epoch more (an epoch's steps, then its metrics, are
// written before its checkpoint). It returns the epochs the checkpoint
// holds.
func (c killCase) checkKilled(t *testing.T, out, run string) (done int) {
	t.Helper()
	for _, f := range globAll(t, out, run, "*.onnx") {
		if _, err := graph.Load(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range globAll(t, out, run, "*.json") {
		if b, _ := os.ReadFile(f); !json.Valid(b) {
			t.Fatalf("%s is not JSON: %q", f, b)
		}
	}
	if _, err := os.Stat(filepath.Join(run, train.CheckpointFile)); err == nil {
		ckpt, err := train.LoadCheckpoint(filepath.Join(run, train.CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		if ckpt.Epoch < 1 || ckpt.Epoch > c.epochs || ckpt.Step != ckpt.Epoch*c.stepsPerEpoch {
			t.Fatalf("checkpoint of epoch %d, step %d; want a whole epoch of %d steps", ckpt.Epoch, ckpt.Step, c.stepsPerEpoch)
		}
		done = ckpt.Epoch
	}
	for _, name := range []string{train.MetricsFile, train.StepsFile} {
		if b, _ := os.ReadFile(filepath.Join(run, name)); len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s ends in a partial line: %q", name, b[bytes.LastIndexByte(b, '\n')+1:])
		}
	}
	metrics, err := train.ReadMetrics(filepath.Join(run, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range metrics {
		if m.Epoch != i+1 {
			t.Fatalf("line %d of %s is epoch %d", i+1, train.MetricsFile, m.Epoch)
		}
	}
	if n := len(metrics); n != done && n != done+1 {
		t.Fatalf("%d epochs in %s, %d in the checkpoint", n, train.MetricsFile, done)
	}
	steps, err := train.ReadSteps(filepath.Join(run, train.StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	checkStepNumbers(t, steps)
	if n := len(steps); n != max(done, len(metrics))*c.stepsPerEpoch && n != (done+1)*c.stepsPerEpoch {
		t.Fatalf("%d steps in %s, %d epochs of %d in the checkpoint, %d in %s", n, train.StepsFile, done, c.stepsPerEpoch, len(metrics), train.MetricsFile)
	}
	return done
}

// checkFinished compares the finished run folder run with the
// uninterrupted one, whole: the model loads and validates, and its
// weights, the metrics (but their timings) and the steps are the same.
func (c killCase) checkFinished(t *testing.T, run, whole string) {
	t.Helper()
	checkSameModel(t, filepath.Join(run, train.ModelFile), filepath.Join(whole, train.ModelFile))
	got, err := train.ReadMetrics(filepath.Join(run, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := train.ReadMetrics(filepath.Join(whole, train.MetricsFile))
	untimed := func(m train.Metrics) train.Metrics {
		m.ImagesPerS, m.EpochSecond = 0, 0
		return m
	}
	if len(got) != c.epochs || !slices.EqualFunc(got, want, func(a, b train.Metrics) bool { return untimed(a) == untimed(b) }) {
		t.Errorf("metrics after kills and resumes:\n%v\nuninterrupted:\n%v", got, want)
	}
	gotSteps, err := train.ReadSteps(filepath.Join(run, train.StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	wantSteps, _ := train.ReadSteps(filepath.Join(whole, train.StepsFile))
	checkStepNumbers(t, gotSteps)
	if len(gotSteps) != c.epochs*c.stepsPerEpoch || !slices.Equal(gotSteps, wantSteps) {
		t.Errorf("%d steps after kills and resumes, %d uninterrupted; want %d, equal", len(gotSteps), len(wantSteps), c.epochs*c.stepsPerEpoch)
	}
}

// checkTransferOut checks what a finished transfer writes beside its run
// folder against the uninterrupted transfer's: the exported model, and
// metrics.json with the same figures.
func checkTransferOut(t *testing.T, out, whole string) {
	t.Helper()
	checkSameModel(t, filepath.Join(out, train.ModelFile), filepath.Join(whole, train.ModelFile))
	read := func(dir string) transfer.Result {
		var res transfer.Result
		b, err := os.ReadFile(filepath.Join(dir, transfer.MetricsFile))
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	got, want := read(out), read(whole)
	if got.Epochs != want.Epochs || !maps.Equal(got.Engine, want.Engine) || !maps.Equal(got.ONNXRuntime, want.ONNXRuntime) {
		t.Errorf("%s after kills and resumes: %d epochs, engine %v, ONNX Runtime %v; uninterrupted: %d, %v, %v",
			transfer.MetricsFile, got.Epochs, got.Engine, got.ONNXRuntime, want.Epochs, want.Engine, want.ONNXRuntime)
	}
	for _, img := range want.Images {
		if _, err := os.Stat(filepath.Join(out, img)); err != nil {
			t.Error(err)
		}
	}
}

// checkSameModel checks that the model at path loads and validates, and
// that its initializers are those of the model at want, bit for bit.
func checkSameModel(t *testing.T, path, want string) {
	t.Helper()
	got, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Validate(got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ref, err := graph.Load(want)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(got.GetGraph().GetInitializer()), len(ref.GetGraph().GetInitializer()); n != m {
		t.Fatalf("%s: %d initializers, %d uninterrupted", path, n, m)
	}
	for _, init := range ref.GetGraph().GetInitializer() {
		if other := got.Initializer(init.GetName()); other == nil || !bytes.Equal(other.GetRawData(), init.GetRawData()) {
			t.Errorf("%s: %s differs from the uninterrupted run's", path, init.GetName())
		}
	}
}

// TestCheckpointWriteFailureKeepsThePreviousOne runs epoch 2 of a run
// under a file-size limit that a checkpoint cannot fit in (as on a full
// disk): the run fails with a message, and epoch 1's checkpoint is intact
// and still resumes.
func TestCheckpointWriteFailureKeepsThePreviousOne(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, model := trainFixture(t, 256, 64)
	out := filepath.Join(dir, "run")
	args := []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--batch", "32", "--out", out}
	if code, _, stderr := run(append(args, "--epochs", "1")...); code != 0 {
		t.Fatal(stderr)
	}
	ckpt := filepath.Join(out, train.CheckpointFile)
	before, _ := os.ReadFile(ckpt)
	// ulimit -f counts 512-byte blocks: 64 KiB, less than the checkpoint.
	script := `ulimit -f 128 && exec "$0" "$@"`
	cmd := exec.Command("bash", append([]string{"-c", script, os.Args[0]}, append(args, "--epochs", "2", "--resume")...)...)
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	output, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(output, []byte("checkpoint of epoch 2")) {
		t.Fatalf("expected the run to fail saving epoch 2's checkpoint: %v\n%s", err, output)
	}
	after, _ := os.ReadFile(ckpt)
	if !bytes.Equal(before, after) {
		t.Fatal("the previous checkpoint changed")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	if c, err := train.LoadCheckpoint(ckpt); err != nil || c.Epoch != 1 {
		t.Fatalf("checkpoint after the failure: %+v, %v", c, err)
	}
	if code, _, stderr := run(append(args, "--epochs", "2", "--resume")...); code != 0 {
		t.Fatalf("resuming after the failure: %s", stderr)
	}
}

// trainFixture writes a synthetic MNIST-format data set of trainN and
// testN images and a narrow ResNet-20 for it into a temporary folder.
func trainFixture(t *testing.T, trainN, testN int) (dir, dataDir, model string) {
	t.Helper()
	dir = t.TempDir()
	dataDir = filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, trainN, testN, 1); err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	return dir, dataDir, model
}

// checkStepNumbers checks that steps are numbered 0, 1, … once each.
func checkStepNumbers(t *testing.T, steps []train.StepRecord) {
	t.Helper()
	for i, s := range steps {
		if s.Step != i {
			t.Fatalf("line %d of %s is step %d", i+2, train.StepsFile, s.Step)
		}
	}
}

// globAll returns the files in out and in its run folder run (which may
// be out itself) that match pattern.
func globAll(t *testing.T, out, run, pattern string) []string {
	t.Helper()
	var found []string
	for _, dir := range slices.Compact([]string{out, run}) {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, matches...)
	}
	return found
}

// copyDir makes dst a copy of the folder tree src (empty if src is
// absent).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		return
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}
