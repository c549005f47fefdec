package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/stats"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// transferFixture trains a width-4 ResNet-20 for one epoch on synthetic
// MNIST and exports its backbone twice: at its own 28×28 input and at
// 32×32, the size of the digit canvases the segmentation tests use.
func transferFixture(t *testing.T) (dir, dataDir, b28, b32 string) {
	t.Helper()
	dir, dataDir, model := trainFixture(t, 256, 64)
	trained, _ := trainRun(t, filepath.Join(dir, "run"), 1, "--model", model, "--data", "mnist", "--data-dir", dataDir,
		"--batch", "32", "--lr", "0.05", "--threads", "2")
	b28, b32 = filepath.Join(dir, "b28.onnx"), filepath.Join(dir, "b32.onnx")
	for _, args := range [][]string{{"-o", b28}, {"-o", b32, "--input-size", "32x32"}} {
		if code, _, stderr := run(append([]string{"export", trained, "--head", "none"}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	return dir, dataDir, b28, b32
}

// transferJSON runs `transfer --json` and decodes its result.
func transferJSON(t *testing.T, args ...string) transfer.Result {
	t.Helper()
	code, stdout, stderr := run(append([]string{"transfer", "--json", "--provider", "cpu", "--threads", "2"}, args...)...)
	if code != 0 {
		t.Fatalf("transfer %v: exit %d: %s", args, code, stderr)
	}
	var res transfer.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("transfer --json printed %q: %v", stdout, err)
	}
	return res
}

// checkAgreement checks that ONNX Runtime measured every figure of the
// engine's last evaluation, within 1e-3.
func checkAgreement(t *testing.T, res transfer.Result, keys ...string) {
	t.Helper()
	for _, k := range keys {
		e, okE := res.Engine[k]
		o, okO := res.ONNXRuntime[k]
		if !okE || !okO || math.Abs(e-o) > 1e-3 {
			t.Errorf("%s: engine %v (%v), ONNX Runtime %v (%v)", k, e, okE, o, okO)
		}
	}
	if res.MaxAbsDiff > 1e-3 {
		t.Errorf("max |engine − ONNX Runtime| %g", res.MaxAbsDiff)
	}
}

// initializers returns a model's float initializers by name.
func initializers(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, init := range m.GetGraph().GetInitializer() {
		if v, err := graph.Floats(init); err == nil {
			out[init.GetName()] = v
		}
	}
	return out
}

// TestTransfer fine-tunes the fixture's backbone for segmentation on
// digit canvases (all of it trained) and for classification with the
// backbone frozen: ONNX Runtime's figures on the exported model equal the
// engine's last evaluation; the frozen backbone's weights and BatchNorm
// statistics come out unchanged, the trained one's changed; the files are
// where the README says; a second run with --resume reads the same.
func TestTransfer(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, b28, b32 := transferFixture(t)

	seg := filepath.Join(dir, "seg")
	segArgs := []string{"--backbone", b32, "--task", "segment", "--data", "mnist-seg", "--data-dir", dataDir, "--canvases", "64",
		"--test-canvases", "20", "--epochs", "2", "--batch", "16", "--lr", "0.05", "--out", seg}
	res := transferJSON(t, segArgs...)
	t.Logf("segment: engine %v, ONNX Runtime %v", res.Engine, res.ONNXRuntime)
	checkAgreement(t, res, "pixel_accuracy", "mean_iou", "loss")
	if res.Feature != "c2" || res.Classes != 11 || res.Epochs != 2 || res.Provider != "cpu" || res.BackboneTop1 == nil || len(res.Images) != 4 {
		t.Errorf("feature %s, classes %d, epochs %d, provider %s, backbone top-1 %v, images %v", res.Feature, res.Classes, res.Epochs, res.Provider, res.BackboneTop1, res.Images)
	}
	for _, f := range append([]string{transfer.GraftedFile, train.ModelFile, transfer.MetricsFile, filepath.Join(transfer.RunDir, train.ModelFile)}, res.Images...) {
		if _, err := os.Stat(filepath.Join(seg, f)); err != nil {
			t.Error(err)
		}
	}
	if png, _ := os.ReadFile(filepath.Join(seg, "prediction-1.png")); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("prediction-1.png is not a PNG")
	}
	changed := 0
	fine := initializers(t, filepath.Join(seg, train.ModelFile))
	for name, v := range initializers(t, b32) {
		if w, ok := fine[name]; ok && !slicesEqual(v, w) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("fine-tuning changed no weight of the backbone")
	}
	if again := transferJSON(t, append(segArgs, "--resume")...); again.ONNXRuntime["mean_iou"] != res.ONNXRuntime["mean_iou"] || again.Epochs != 2 {
		t.Errorf("resumed: %v, first run %v", again.ONNXRuntime, res.ONNXRuntime)
	}

	cls := filepath.Join(dir, "cls")
	res = transferJSON(t, "--backbone", b28, "--task", "classify", "--data", "mnist", "--data-dir", dataDir, "--epochs", "1", "--batch", "32",
		"--lr", "0.05", "--freeze-backbone", "--out", cls)
	t.Logf("classify, frozen: engine %v, ONNX Runtime %v", res.Engine, res.ONNXRuntime)
	checkAgreement(t, res, "top1", "top5", "loss")
	if !res.FreezeBackbone || res.BackboneLRMult != 0 || res.Classes != 10 {
		t.Errorf("freeze %v, lr mult %v, classes %d", res.FreezeBackbone, res.BackboneLRMult, res.Classes)
	}
	fine = initializers(t, filepath.Join(cls, train.ModelFile))
	kept := 0
	for name, v := range initializers(t, b28) {
		w, ok := fine[name]
		if !ok {
			t.Fatalf("the fine-tuned model lacks the backbone's %s", name)
		}
		if !slicesEqual(v, w) {
			t.Errorf("%s changed in a frozen backbone", name)
		}
		kept++
	}
	if kept == 0 || len(fine) <= kept {
		t.Errorf("%d backbone initializers, %d in the fine-tuned model: expected the head's beside them", kept, len(fine))
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTransferBadInput: each bad input is one line on stderr, a non-zero
// exit, and no output folder.
func TestTransferBadInput(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, b28, _ := transferFixture(t)
	dynamic := filepath.Join(dir, "dynamic.onnx")
	if code, _, stderr := run("export", b28, "--head", "none", "--input-size", "dynamic", "-o", dynamic); code != 0 {
		t.Fatal(stderr)
	}
	busy := filepath.Join(dir, "busy")
	os.Mkdir(busy, 0o755)
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("mine"), 0o644)
	classify := []string{"--backbone", b28, "--task", "classify", "--data", "mnist", "--data-dir", dataDir, "--epochs", "1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such feature", append(classify, "--feature", "c9"), `the backbone has no output "c9": expected one of its outputs c0, c1, c2`},
		{"unknown task", []string{"--backbone", b28, "--task", "track", "--data", "mnist", "--epochs", "1"}, "--task \"track\": unknown task; expected one of classify, segment, detect"},
		{"too few classes", append(classify, "--classes", "5"), "--classes 5: data set mnist has 10 classes"},
		{"no epochs", append(classify, "--epochs", "0"), "--epochs 0: expected at least 1"},
		{"no batch", append(classify, "--batch", "0"), "--batch 0: expected at least 1"},
		{"negative train limit", append(classify, "--train-limit", "-1"), "--train-limit -1: expected 0 (all) or more"},
		{"segment on per-image data", []string{"--backbone", b28, "--task", "segment", "--data", "mnist", "--data-dir", dataDir}, "--data \"mnist\": labelled per image; task segment trains on data labelled per pixel"},
		{"classify on canvases", []string{"--backbone", b28, "--task", "classify", "--data", "mnist-seg", "--data-dir", dataDir}, "--data \"mnist-seg\": labelled per pixel; task classify trains on data labelled per image"},
		{"dynamic input size", []string{"--backbone", dynamic, "--task", "classify", "--data", "mnist", "--data-dir", dataDir}, "dynamic size"},
		{"frozen and a multiplier", append(classify, "--freeze-backbone", "--backbone-lr-mult", "0.1"), "--backbone-lr-mult has no effect with --freeze-backbone"},
		{"canvas options elsewhere", append(classify, "--canvases", "9"), "--canvases has no effect without --data mnist-seg"},
		{"missing backbone", []string{"--backbone", filepath.Join(dir, "none.onnx"), "--task", "classify", "--data", "mnist"}, "none.onnx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			code, _, stderr := run(append([]string{"transfer", "--out", out}, tc.args...)...)
			if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was created", out)
			}
		})
	}
	code, _, stderr := run(append([]string{"transfer", "--out", busy}, classify...)...)
	if code == 0 || !strings.Contains(stderr, "holds files already") {
		t.Errorf("an --out holding files: exit %d, %q", code, stderr)
	}
	if entries, _ := os.ReadDir(busy); len(entries) != 1 {
		t.Errorf("the busy folder now holds %d entries", len(entries))
	}
}

// TestTransferStudy transfers two backbones (one without a top-1 in its
// metadata) to segmentation: a row each with the backbone's top-1 or —
// and ONNX Runtime's figures, in Markdown and JSON; with --resume the
// finished transfers are read back, not trained again.
func TestTransferStudy(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, _, b32 := transferFixture(t)
	bare := filepath.Join(dir, "bare.onnx")
	m, err := graph.Load(b32)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.MetadataProps {
		if p.GetKey() == train.MetaTop1 {
			m.MetadataProps = append(m.MetadataProps[:i], m.MetadataProps[i+1:]...)
			break
		}
	}
	if err := m.Save(bare); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "study")
	args := []string{"transfer-study", "--backbones", b32 + "," + bare, "--task", "segment", "--data", "mnist-seg", "--data-dir", dataDir,
		"--canvases", "32", "--test-canvases", "8", "--epochs", "1", "--batch", "16", "--provider", "cpu", "--threads", "2", "--out", out}
	code, stdout, stderr := run(args...)
	if code != 0 {
		t.Fatal(stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "| b32 ") || strings.HasPrefix(l, "| bare ") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "| b32 | ") || strings.Contains(rows[0], "—") || !strings.HasPrefix(rows[1], "| bare | — |") {
		t.Errorf("table:\n%s", stdout)
	}
	table, err := os.ReadFile(filepath.Join(out, transfer.StudyTable))
	if err != nil || !strings.Contains(string(table), "| backbone | its own top-1 | pixel accuracy | mean IoU | loss |") {
		t.Errorf("%s: %v\n%s", transfer.StudyTable, err, table)
	}
	var s transfer.Study
	b, _ := os.ReadFile(filepath.Join(out, transfer.StudyJSON))
	if err := json.Unmarshal(b, &s); err != nil || len(s.Rows) != 2 || s.Rows[0].ONNXRuntime["mean_iou"] <= 0 {
		t.Fatalf("%s: %v\n%s", transfer.StudyJSON, err, b)
	}
	if code, _, stderr := run(args...); code == 0 || !strings.Contains(stderr, "holds a study already") {
		t.Errorf("a second study into %s: exit %d, %q", out, code, stderr)
	}
	code, again, stderr := run(append(args, "--resume")...)
	if code != 0 || again != stdout || strings.Count(stderr, "done already") != 2 {
		t.Errorf("resumed: exit %d\n%s\n%s", code, again, stderr)
	}
}

// TestTransferStudySeeds transfers a backbone and its copy with 2 seeds
// each: every transfer in its seed's folder, the rows' means and spreads
// of ONNX Runtime's figures over the seeds, and the second row's paired
// interval against the first (0 exactly), in JSON and in the table.
func TestTransferStudySeeds(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, _, b32 := transferFixture(t)
	// The same backbone twice: with the same seeds the transfers are the
	// same, so the paired differences are 0 exactly.
	same := filepath.Join(dir, "same.onnx")
	if b, err := os.ReadFile(b32); err != nil || os.WriteFile(same, b, 0o644) != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "study")
	code, stdout, stderr := run("transfer-study", "--backbones", b32+","+same, "--task", "segment", "--data", "mnist-seg", "--data-dir", dataDir,
		"--canvas", "32", "--canvases", "32", "--test-canvases", "8", "--epochs", "1", "--batch", "16", "--provider", "cpu", "--threads", "2",
		"--seed", "4", "--seeds", "2", "--out", out)
	if code != 0 {
		t.Fatal(stderr)
	}
	var s transfer.Study
	b, _ := os.ReadFile(filepath.Join(out, transfer.StudyJSON))
	if err := json.Unmarshal(b, &s); err != nil || len(s.Rows) != 2 || !slices.Equal(s.Seeds, []uint64{4, 5}) {
		t.Fatalf("%s: %v\n%s", transfer.StudyJSON, err, b)
	}
	iou := func(rs []transfer.Result) []float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, r.ONNXRuntime["mean_iou"])
		}
		return v
	}
	for i, r := range s.Rows {
		if len(r.PerSeed) != 2 {
			t.Fatalf("row %s: %d seeds", r.Name, len(r.PerSeed))
		}
		mean, std := stats.MeanStd(iou(r.PerSeed))
		if r.Mean["mean_iou"] != mean || r.Std["mean_iou"] != std {
			t.Errorf("row %s: mean IoU %g ± %g, its seeds %v", r.Name, r.Mean["mean_iou"], r.Std["mean_iou"], iou(r.PerSeed))
		}
		for _, seed := range s.Seeds {
			if _, err := os.Stat(filepath.Join(transfer.SeedDir(filepath.Join(out, r.Name), seed), transfer.MetricsFile)); err != nil {
				t.Error(err)
			}
		}
		if (r.Delta != nil) != (i == 1) {
			t.Errorf("row %s: delta %v", r.Name, r.Delta)
		}
	}
	if got := s.Rows[1].Delta["mean_iou"]; got != (stats.Interval{N: 2}) {
		t.Errorf("paired mean IoU of a backbone and its copy: %+v, want 0 [0, 0] over 2 seeds", got)
	}
	if a := iou(s.Rows[0].PerSeed); a[0] == a[1] {
		t.Errorf("seeds 4 and 5 give the same mean IoU %g: the seed changes nothing", a[0])
	}
	for _, line := range []string{"Every backbone is transferred with 2 seeds, 4 to 5", "| Δ pixel accuracy |",
		"| same | "} {
		if !strings.Contains(stdout, line) {
			t.Errorf("the table lacks %q:\n%s", line, stdout)
		}
	}
	if !strings.Contains(stdout, " ± ") {
		t.Errorf("the table shows no spread:\n%s", stdout)
	}
}
