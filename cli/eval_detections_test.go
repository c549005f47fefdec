package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalDetections scores a hand-worked case through the command (one
// object, a true detection at 0.9 below a false one at 0.95: precision ½
// at full recall, so every AP is ½) and refuses bad files in one line.
func TestEvalDetections(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	truth := write("truth.json", `{"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
		"annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 20, 20], "area": 400}],
		"categories": [{"id": 3, "name": "three"}]}`)
	dets := write("results.json", `[{"image_id": 1, "category_id": 3, "bbox": [10, 10, 20, 20], "score": 0.9},
		{"image_id": 1, "category_id": 3, "bbox": [40, 40, 10, 10], "score": 0.95}]`)
	code, stdout, stderr := run("eval-detections", "--truth", truth, "--detections", dets, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	for _, key := range []string{"voc07_ap50", "voc_ap50", "coco_ap", "coco_ap50", "coco_ap75"} {
		if v, ok := got[key].(float64); !ok || v < 0.5-1e-12 || v > 0.5+1e-12 {
			t.Errorf("%s = %v, want 0.5", key, got[key])
		}
	}
	for _, tc := range []struct {
		name, truth, dets, want string
	}{
		{"negative width", write("bad.json", `{"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, -20, 20]}], "categories": [{"id": 3, "name": "three"}]}`),
			dets, "annotation 1: bbox [10 10 -20 20]: expected a width and height of 0 or more"},
		{"unknown image", truth, write("unknown.json", `[{"image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.5}]`),
			"detection 0: image_id 99 is not an image of the truth"},
		{"not COCO's format", truth, write("object.json", `{"a": 1}`), "expected a JSON list of detections, found an object"},
	} {
		code, stdout, stderr := run("eval-detections", "--truth", tc.truth, "--detections", tc.dets)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want one line containing %q", tc.name, code, stdout, stderr, tc.want)
		}
	}
}
