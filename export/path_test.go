package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/models"
)

// TestFromPath exports a file into another, refuses to write over the
// source (which stays as it was), and names the source in File's errors.
func TestFromPath(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src.onnx"), filepath.Join(dir, "out.onnx")
	if err := resnet(t, models.Config{Model: "resnet20", BaseWidth: 4}, "A").Save(src); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(src)
	if _, err := export.FromPath(src, filepath.Join(dir, ".", "src.onnx"), export.Options{}); !errors.Is(err, export.ErrOutputIsSource) {
		t.Errorf("out = src: %v, want ErrOutputIsSource", err)
	}
	if after, _ := os.ReadFile(src); string(after) != string(before) {
		t.Error("the refused export changed the source")
	}
	res, err := export.FromPath(src, out, export.Options{FoldBN: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != src || res.Output != out || res.Fold == nil || res.Fold.Folded == 0 {
		t.Errorf("result %+v", res)
	}
	if _, err := export.FromPath(src, out, export.Options{Opset: 12}); err == nil || !strings.HasPrefix(err.Error(), "export "+src+": ") {
		t.Errorf("opset 12: %v, want File's error after the source", err)
	}
	if _, err := export.FromPath(filepath.Join(dir, "none.onnx"), out, export.Options{}); err == nil || strings.HasPrefix(err.Error(), "export ") {
		t.Errorf("a missing source: %v, want graph.Load's error", err)
	}
}
