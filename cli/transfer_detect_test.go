package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/eval/detector"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// TestTransferDetect fine-tunes a CenterNet head on mnist-det canvases of
// 32×32 and checks what the detect task writes: its files, the engine's
// and ONNX Runtime's figures equal to 1e-6, detector.onnx through
// python3-onnx's full checker with its metadata, and detector.onnx's boxes
// in ONNX Runtime against the engine's forward pass of the fine-tuned
// model decoded by detection.Decode on 100 test canvases. It then scores
// the COCO files the task wrote with eval-detections, which must give
// ONNX Runtime's figures again.
func TestTransferDetect(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, _, b32 := transferFixture(t)
	out := filepath.Join(dir, "det")
	res := transferJSON(t, "--backbone", b32, "--task", "detect", "--data", "mnist-det", "--data-dir", dataDir, "--canvases", "64",
		"--test-canvases", "100", "--epochs", "2", "--batch", "16", "--lr", "0.02", "--out", out)
	t.Logf("detect: engine %v, ONNX Runtime %v", res.Engine, res.ONNXRuntime)
	for _, k := range []string{"voc07_ap50", "voc_ap50", "coco_ap", "coco_ap50", "coco_ap75"} {
		e, okE := res.Engine[k]
		o, okO := res.ONNXRuntime[k]
		if !okE || !okO || math.Abs(e-o) > 1e-6 {
			t.Errorf("%s: engine %v (%v), ONNX Runtime %v (%v)", k, e, okE, o, okO)
		}
	}
	if res.Feature != "c2" || res.Classes != 10 || res.Task != "detect" || len(res.Images) != 4 {
		t.Errorf("feature %s, classes %d, task %s, images %v", res.Feature, res.Classes, res.Task, res.Images)
	}
	for _, f := range append([]string{transfer.DetectorFile, detector.TruthFile, detector.DetectionsFile, train.ModelFile, transfer.MetricsFile}, res.Images...) {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if png, _ := os.ReadFile(filepath.Join(out, "prediction-1.png")); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("prediction-1.png is not a PNG")
	}
	detectorPath := filepath.Join(out, transfer.DetectorFile)
	m, err := graph.Load(detectorPath)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Metadata(export.MetaBoxFormat); f != export.BoxFormat {
		t.Errorf("box format metadata %q", f)
	}
	if names, _ := m.Metadata(export.MetaClassNames); names != "0,1,2,3,4,5,6,7,8,9" {
		t.Errorf("class names metadata %q", names)
	}
	python := testenv.RequirePython(t, "onnx")
	if msg, err := exec.Command(python, "-c", "import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", detectorPath).CombinedOutput(); err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, msg)
	}
	compareDetectorWithEngine(t, detectorPath, filepath.Join(out, train.ModelFile), dataDir)

	code, stdout, stderr := run("eval-detections", "--truth", filepath.Join(out, detector.TruthFile), "--detections", filepath.Join(out, detector.DetectionsFile), "--json")
	if code != 0 {
		t.Fatalf("eval-detections: exit %d: %s", code, stderr)
	}
	var scored detection.Result
	if err := json.Unmarshal([]byte(stdout), &scored); err != nil || scored.VOC07AP50 != res.ONNXRuntime["voc07_ap50"] || scored.COCOAP != res.ONNXRuntime["coco_ap"] {
		t.Errorf("eval-detections of the task's files: %s (%v); the task measured %v", stdout, err, res.ONNXRuntime)
	}
	code, stdout, stderr = run("eval", detectorPath, "--data", "mnist-det", "--data-dir", dataDir, "--test-canvases", "100", "--json", "--provider", "cpu")
	if code != 0 {
		t.Fatalf("eval of the detector: exit %d: %s", code, stderr)
	}
	var evaluated detector.Result
	if err := json.Unmarshal([]byte(stdout), &evaluated); err != nil || evaluated.VOC07AP50 != res.ONNXRuntime["voc07_ap50"] || evaluated.COCOAP != res.ONNXRuntime["coco_ap"] || evaluated.Images != 100 {
		t.Errorf("eval of the detector: %s (%v); the task measured %v", stdout, err, res.ONNXRuntime)
	}
	code, _, stderr = run("eval", filepath.Join(out, train.ModelFile), "--data", "mnist-det", "--data-dir", dataDir, "--provider", "cpu")
	if code == 0 || !strings.Contains(stderr, "expected a detector") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("eval of a model without decoding on mnist-det: exit %d: %q", code, stderr)
	}

	// A study of detection is the paper's Table 8 in shape.
	code, stdout, stderr = run("transfer-study", "--backbones", b32, "--task", "detect", "--data", "mnist-det", "--data-dir", dataDir,
		"--canvases", "32", "--test-canvases", "8", "--epochs", "1", "--batch", "16", "--provider", "cpu", "--threads", "2", "--out", filepath.Join(dir, "study"))
	if code != 0 || !strings.Contains(stdout, "| backbone | its own top-1 | VOC07 AP50 | COCO AP | COCO AP50 | COCO AP75 |") || !strings.Contains(stdout, "| b32 | ") {
		t.Errorf("transfer-study --task detect: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// compareDetectorWithEngine runs the detector in ONNX Runtime and the
// fine-tuned model in the engine, decoded by detection.Decode, on the 100
// test canvases, and checks that they find the same detections: the same
// classes in the same order wherever the scores are apart by more than
// their rounding, scores within 1e-5 and boxes within 1e-3 pixels.
func compareDetectorWithEngine(t *testing.T, detector, model, dataDir string) {
	t.Helper()
	m, err := graph.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	splits, err := train.OpenData(train.Config{Data: train.DataConfig{Set: "mnist-det", Dir: dataDir, Canvas: data.CanvasOptions{Size: 32, Train: 64, Test: n}}}, []int64{n, 1, 32, 32})
	if err != nil {
		t.Fatal(err)
	}
	images := make([]float32, n*32*32)
	labels := make([]int32, 32*32)
	for i := range n {
		if err := splits.DenseTest.Example(i, images[i*32*32:(i+1)*32*32], labels); err != nil {
			t.Fatal(err)
		}
	}
	w, err := train.LoadWeights[float32](m)
	if err != nil {
		t.Fatal(err)
	}
	net, err := train.Lower(m, w, n, train.LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copy(net.Input(), images)
	if err := net.Run(); err != nil {
		t.Fatal(err)
	}
	head := net.Logits()
	s, err := ort.NewSession(detector, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outs, err := s.Run(ort.Tensor{Shape: []int64{n, 1, 32, 32}, Data: images})
	if err != nil {
		t.Fatal(err)
	}
	boxes, scores, classes := outs[0], outs[1], outs[2]
	const k, h, classN = detection.DefaultTopK, 8, 10
	plane := h * h
	per := (classN + 4) * plane
	compared := 0
	for i := range n {
		img := head[i*per : (i+1)*per]
		dets := detection.Decode(img[:classN*plane], img[classN*plane:(classN+2)*plane], img[(classN+2)*plane:], classN, h, h, 4, k)
		for j, d := range dets {
			at := i*k + j
			if math.Abs(float64(d.Score-scores.Data[at])) > 1e-5 {
				t.Fatalf("canvas %d detection %d: engine score %g, ONNX Runtime %g", i, j, d.Score, scores.Data[at])
			}
			// Near-equal scores may come out in either order.
			tied := j > 0 && dets[j-1].Score-d.Score < 1e-5 || j+1 < len(dets) && d.Score-dets[j+1].Score < 1e-5
			if tied || d.Score < 1e-3 {
				continue
			}
			if int64(d.Class) != classes.Ints[at] {
				t.Fatalf("canvas %d detection %d: engine class %d, ONNX Runtime %d", i, j, d.Class, classes.Ints[at])
			}
			for c, v := range []float32{d.X1, d.Y1, d.X2, d.Y2} {
				if math.Abs(float64(v-boxes.Data[at*4+c])) > 1e-3 {
					t.Fatalf("canvas %d detection %d: engine box %v, ONNX Runtime %v", i, j, d, boxes.Data[at*4:at*4+4])
				}
			}
			compared++
		}
	}
	t.Logf("%d detections of score 1e-3 or more compared on %d canvases", compared, n)
	if compared < n {
		t.Errorf("only %d detections compared", compared)
	}
}
