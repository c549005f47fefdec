package detection

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sampleTruth is a small valid truth with a crowd and a category without
// objects.
func sampleTruth() *Truth {
	return &Truth{
		Images: []Image{{ID: 1, FileName: "a.jpg", Width: 640, Height: 480}, {ID: 3, FileName: "b.jpg", Width: 32, Height: 16}},
		Annotations: []Annotation{
			{ID: 7, ImageID: 1, CategoryID: 2, BBox: BBox{1, 2.5, 30, 40}, Area: 1100.5},
			{ID: 8, ImageID: 3, CategoryID: 2, BBox: BBox{0, 0, 10, 10}, Area: 100, IsCrowd: 1},
		},
		Categories: []Category{{ID: 2, Name: "dog", Supercategory: "animal"}, {ID: 5, Name: "cat"}},
	}
}

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestTruthRoundTrip writes a truth and reads it back unchanged, leaving
// no temporary file behind.
func TestTruthRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "instances.json")
	want := sampleTruth()
	if err := WriteTruth(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	if names := files(t, dir); !reflect.DeepEqual(names, []string{"instances.json"}) {
		t.Errorf("folder holds %v, want only instances.json", names)
	}
}

// TestDetectionsRoundTrip writes detections and reads them back unchanged,
// numbers exact.
func TestDetectionsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	want := []Detection{
		{ImageID: 1, CategoryID: 2, BBox: BBox{0.1, 1.0 / 3, 1e-7, 12345.678}, Score: 0.987654321},
		{ImageID: 3, CategoryID: 5, BBox: BBox{0, 0, 0, 0}, Score: -2},
	}
	if err := WriteDetections(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDetections(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %v, want %v", got, want)
	}
	// An empty list is written as [], and read back as no detection.
	if err := WriteDetections(path, nil); err != nil {
		t.Fatal(err)
	}
	if data := string(mustRead(t, path)); data != "[]\n" {
		t.Errorf("empty results written as %q, want %q", data, "[]\n")
	}
	if got, err := ReadDetections(path); err != nil || len(got) != 0 {
		t.Errorf("empty results read as %v, %v", got, err)
	}
}

// TestReadTruthCOCOExtras reads an instances file as COCO writes it, with
// keys this package does not keep and without iscrowd.
func TestReadTruthCOCOExtras(t *testing.T) {
	path := filepath.Join(t.TempDir(), "instances.json")
	text := `{
  "info": {"year": 2017, "version": "1.0"},
  "licenses": [{"id": 1, "name": "CC"}],
  "images": [{"id": 42, "file_name": "x.jpg", "width": 640, "height": 427, "license": 1, "coco_url": "u"}],
  "annotations": [{"id": 1, "image_id": 42, "category_id": 18, "bbox": [10.5, 20, 30, 40.25],
                   "area": 1000.5, "segmentation": [[10.5, 20, 40.5, 20, 40.5, 60.25]]}],
  "categories": [{"id": 18, "name": "dog", "supercategory": "animal"}]
}`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &Truth{
		Images:      []Image{{ID: 42, FileName: "x.jpg", Width: 640, Height: 427}},
		Annotations: []Annotation{{ID: 1, ImageID: 42, CategoryID: 18, BBox: BBox{10.5, 20, 30, 40.25}, Area: 1000.5}},
		Categories:  []Category{{ID: 18, Name: "dog", Supercategory: "animal"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}
}

// TestReadRefusals checks the one-line message of each refusal: the file,
// then the element and value at fault.
func TestReadRefusals(t *testing.T) {
	const (
		img = `"images": [{"id": 1}]`
		cat = `"categories": [{"id": 2, "name": "dog"}]`
	)
	truth := func(anns string) string { return `{` + img + `, "annotations": [` + anns + `], ` + cat + `}` }
	for _, tc := range []struct {
		name, text string
		detections bool // read with ReadDetections, else ReadTruth
		want       string
	}{
		{"truth is a list", `[]`, false,
			"expected a JSON object with images, annotations and categories, found a list"},
		{"truth without annotations", `{` + img + `, ` + cat + `}`, false,
			`expected key "annotations", a JSON list, found none`},
		{"images an object", `{"images": {}, "annotations": [], ` + cat + `}`, false,
			`expected "images" to be a JSON list, found an object`},
		{"negative width", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, -3, 4]}`), false,
			"annotation 7: bbox [1 2 -3 4]: expected a width and height of 0 or more"},
		{"three numbers", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3]}`), false,
			"annotations[0]: bbox [1, 2, 3]: expected a list of 4 finite numbers [x y width height]"},
		{"bbox of strings", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": ["1", 2, 3, 4]}`), false,
			`annotations[0]: bbox ["1", 2, 3, 4]: expected a list of 4 finite numbers [x y width height]`},
		{"no image_id", truth(`{"id": 7, "category_id": 2, "bbox": [1, 2, 3, 4]}`), false,
			`annotations[0]: expected key "image_id", found none`},
		{"image_id a string", truth(`{"id": 7, "image_id": "1", "category_id": 2, "bbox": [1, 2, 3, 4]}`), false,
			`annotations[0]: image_id: expected an integer, found a string`},
		{"image_id a fraction", truth(`{"id": 7, "image_id": 1.5, "category_id": 2, "bbox": [1, 2, 3, 4]}`), false,
			`annotations[0]: image_id: expected an integer, found 1.5`},
		{"unknown image", truth(`{"id": 7, "image_id": 99, "category_id": 2, "bbox": [1, 2, 3, 4]}`), false,
			"annotation 7: image_id 99 is not an image of the truth"},
		{"unknown category", truth(`{"id": 7, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}`), false,
			"annotation 7: category_id 3 is not a category of the truth"},
		{"duplicate annotation", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]},
			{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]}`), false,
			"annotation 7: listed twice in annotations (entries 0 and 1)"},
		{"duplicate image", `{"images": [{"id": 1}, {"id": 4}, {"id": 1}], "annotations": [], ` + cat + `}`, false,
			"image 1: listed twice in images (entries 0 and 2)"},
		{"duplicate category", `{` + img + `, "annotations": [], "categories": [{"id": 2, "name": "a"}, {"id": 2, "name": "b"}]}`, false,
			"category 2: listed twice in categories (entries 0 and 1)"},
		{"duplicate name", `{` + img + `, "annotations": [], "categories": [{"id": 2, "name": "a"}, {"id": 3, "name": "a"}]}`, false,
			`category 3: name "a" is also category 2's: expected unique names`},
		{"iscrowd 2", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "iscrowd": 2}`), false,
			"annotation 7: iscrowd 2: expected 0 or 1"},
		{"negative area", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "area": -1}`), false,
			"annotation 7: area -1: expected a finite number, 0 or more"},
		{"NaN in the truth", truth(`{"id": 7, "image_id": 1, "category_id": 2, "bbox": [NaN, 2, 3, 4]}`), false,
			"line 1, column 93: expected a finite number, found NaN"},
		{"cut short", `{"images": [`, false,
			"not JSON: unexpected end of JSON input"},
		{"results an object", `{"image_id": 1}`, true,
			"expected a JSON list of detections, found an object"},
		{"results a number", `5`, true,
			"expected a JSON list of detections, found a number"},
		{"detection not an object", `[5]`, true,
			"detection 0: expected an object, found a number"},
		{"no score", `[{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]}]`, true,
			`detection 0: expected key "score", found none`},
		{"score too large", `[{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 1e400}]`, true,
			"detection 0: score: expected a finite number, found 1e400"},
		{"minus infinity", "[\n{\"image_id\": 1, \"category_id\": 2, \"bbox\": [1, 2, 3, 4], \"score\": -Infinity}]", true,
			"line 2, column 66: expected a finite number, found -Infinity"},
		{"negative height", `[{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 1},
			{"image_id": 1, "category_id": 2, "bbox": [1, 2, 3, -4], "score": 1}]`, true,
			"detection 1: bbox [1 2 3 -4]: expected a width and height of 0 or more"},
		{"not JSON", "[\n  {\"image_id\": 1,,}]", true,
			"not JSON: line 2, column 18: invalid character ',' looking for beginning of object key string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.json")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.detections {
				_, err = ReadDetections(path)
			} else {
				_, err = ReadTruth(path)
			}
			if want := path + ": " + tc.want; err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
		})
	}
}

// TestWriteRefusals: a value JSON cannot hold, or a truth Validate
// refuses, is refused with its element named, and no file is left.
func TestWriteRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	bad := sampleTruth()
	bad.Annotations[1].BBox[0] = math.NaN()
	err := WriteTruth(path, bad)
	if want := path + ": annotation 8: bbox [NaN 0 10 10]: expected finite numbers"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	err = WriteDetections(path, []Detection{{ImageID: 1, CategoryID: 2, BBox: BBox{0, 0, 1, 1}, Score: math.Inf(-1)}})
	if want := path + ": detection 0: score -Inf: expected a finite number"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	err = WriteTruth(filepath.Join(dir, "missing", "out.json"), sampleTruth())
	if err == nil {
		t.Error("writing into a missing folder: no error")
	}
	if names := files(t, dir); len(names) != 0 {
		t.Errorf("folder holds %v after refusals, want nothing", names)
	}
}

// TestWriteReplaces: writing over an existing file replaces it whole.
func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	if err := os.WriteFile(path, []byte("old content, longer than the new one ................"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteDetections(path, []Detection{{ImageID: 1, CategoryID: 2, BBox: BBox{1, 2, 3, 4}, Score: 0.5}}); err != nil {
		t.Fatal(err)
	}
	want := `[{"image_id":1,"category_id":2,"bbox":[1,2,3,4],"score":0.5}]` + "\n"
	if got := string(mustRead(t, path)); got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	if names := files(t, dir); !reflect.DeepEqual(names, []string{"results.json"}) {
		t.Errorf("folder holds %v, want only results.json", names)
	}
}

// mustRead is the content of path.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
