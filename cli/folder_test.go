package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
)

// folderFixture writes an image-folder data set, DIR/{train,val}/<class>,
// of two classes told apart by which half of the picture is bright, at
// varied sizes, alternately JPEG and PNG; and an RGB ResNet-20 for it.
func folderFixture(t *testing.T, perClass int) (dir, model string) {
	t.Helper()
	dir = t.TempDir()
	for _, split := range []string{"train", "val"} {
		for label, class := range []string{"left", "right"} {
			folder := filepath.Join(dir, "data", split, class)
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range perClass {
				h, w := 36+3*i, 40+5*(i%4)
				img := image.NewRGBA(image.Rect(0, 0, w, h))
				for y := range h {
					for x := range w {
						v := uint8(40 + 3*((x+y+i)%7))
						if (x < w/2) == (label == 0) {
							v += 160
						}
						img.Set(x, y, color.RGBA{v, v / 2, 255 - v, 255})
					}
				}
				var buf bytes.Buffer
				name := fmt.Sprintf("%03d.png", i)
				if i%2 == 0 {
					png.Encode(&buf, img)
				} else {
					name = fmt.Sprintf("%03d.JPG", i)
					jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
				}
				if err := os.WriteFile(filepath.Join(folder, name), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	m, err := models.Build(models.Config{Model: "resnet20", Classes: 2, BaseWidth: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	return dir, model
}

// TestTrainOnImageFolder trains on JPEG and PNG folders through the
// augmentation pipeline and checks the run's files and the class names
// the model keeps.
func TestTrainOnImageFolder(t *testing.T) {
	dir, model := folderFixture(t, 12)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := run("train", "--model", model, "--data", "folder:"+filepath.Join(dir, "data"), "--epochs", "2", "--batch", "8",
		"--lighting", "0.05", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "2 epochs") {
		t.Errorf("stdout %q", stdout)
	}
	metrics, err := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if err != nil || strings.Count(string(metrics), "\n") != 2 {
		t.Fatalf("metrics %q, %v", metrics, err)
	}
	m, err := graph.Load(filepath.Join(out, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{train.MetaClasses: "left,right", train.MetaMean: "0.5,0.5,0.5", train.MetaStd: "0.25,0.25,0.25",
		train.MetaTricks: "none"} {
		if got, _ := m.Metadata(key); got != want {
			t.Errorf("metadata %s: %q, want %q", key, got, want)
		}
	}
}

// TestTrainFolderBadInput: a file that is not an image and a truncated
// JPEG stop the run by default, naming the file, and are skipped and
// counted with --skip-bad; an empty class folder is named; augmentation
// and normalisation flags that do not fit are refused in one line.
func TestTrainFolderBadInput(t *testing.T) {
	dir, model := folderFixture(t, 8)
	data := filepath.Join(dir, "data")
	left := filepath.Join(data, "train", "left")
	os.WriteFile(filepath.Join(left, "notes.jpg"), []byte("not an image"), 0o644)
	whole, err := os.ReadFile(filepath.Join(left, "001.JPG"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(left, "cut.jpg"), whole[:len(whole)/3], 0o644)

	base := []string{"train", "--model", model, "--data", "folder:" + data, "--epochs", "1", "--batch", "4"}
	out := filepath.Join(dir, "stop")
	code, _, stderr := run(append(base, "--out", out)...)
	// The error follows the run's log (the memory estimate) on stderr.
	_, msg, _ := strings.Cut(stderr, "bot-onnx: ")
	if code == 0 || strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, ".jpg") {
		t.Errorf("bad file without --skip-bad: exit %d, stderr %q; want one line naming the file", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, train.ModelFile)); err == nil {
		t.Error("a model was written by the failed run")
	}

	out = filepath.Join(dir, "skip")
	code, _, stderr = run(append(base, "--skip-bad", "--out", out)...)
	if code != 0 {
		t.Fatalf("--skip-bad: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "notes.jpg") || !strings.Contains(stderr, "cut.jpg") || !strings.Contains(stderr, "2 bad image files skipped") {
		t.Errorf("--skip-bad: stderr %q; want a warning for each file and the count", stderr)
	}
	var m train.Metrics
	metrics, _ := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if err := json.Unmarshal(metrics, &m); err != nil || m.Skipped != 2 {
		t.Errorf("metrics %q: skipped_files %d, want 2 (%v)", metrics, m.Skipped, err)
	}

	empty := filepath.Join(data, "val", "right")
	files, _ := filepath.Glob(filepath.Join(empty, "*"))
	for _, f := range files {
		os.Remove(f)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty class folder", []string{"--skip-bad"}, empty},
		{"augmentation on MNIST", []string{"--data", "mnist", "--flip=false"}, "augmentation applies to image folders"},
		{"mean of two channels", []string{"--mean", "0.5,0.5", "--std", "0.2,0.2"}, "normalising 3 channel(s) with 2 means"},
		{"mean without std", []string{"--mean", "0.5,0.5,0.5"}, "--std"},
		{"crop area", []string{"--crop-area", "0.5"}, `--crop-area "0.5": expected 2 numbers`},
		{"crop area range", []string{"--crop-area", "0.9,0.1"}, "expected 0 < min ≤ max ≤ 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			code, _, stderr := run(append(append(base, tc.args...), "--out", out)...)
			if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, train.ModelFile)); err == nil {
				t.Error("a model was written")
			}
		})
	}
}

// TestBenchTrainWithLoader: bench train --data measures the image-folder
// loader alone and feeding the trainer, and refuses a folder with fewer
// images than a batch.
func TestBenchTrainWithLoader(t *testing.T) {
	dir, _ := folderFixture(t, 12)
	data := "folder:" + filepath.Join(dir, "data")
	code, stdout, stderr := run("bench", "train", "--model", "resnet20", "--input", "3x32x32", "--batch", "8", "--steps", "2", "--warmup", "1",
		"--data", data, "--workers", "2", "--peer", "none", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got bench.TrainResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	if got.Data != data || got.Workers != 2 || !(got.LoaderImagesPerSecond > 0) || !(got.FedImagesPerSecond > 0) || !(got.ImagesPerSecond > 0) {
		t.Errorf("bench: %+v", got)
	}
	code, _, stderr = run("bench", "train", "--batch", "64", "--steps", "1", "--data", data, "--peer", "none")
	if code == 0 || !strings.Contains(stderr, "fewer than one batch of 64") {
		t.Errorf("a folder smaller than a batch: exit %d, %q", code, stderr)
	}
}
