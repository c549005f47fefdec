package detection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// BBox is a box as COCO writes it: [x, y, width, height] in pixels, (x, y)
// its top-left corner. It is read from a JSON list of exactly four finite
// numbers.
type BBox [4]float64

// UnmarshalJSON reads a box from a JSON list of four numbers and refuses
// any other length, which encoding/json would otherwise pad with zeros or
// cut short without a word.
func (b *BBox) UnmarshalJSON(data []byte) error {
	var v []float64
	if err := json.Unmarshal(data, &v); err != nil || len(v) != 4 {
		return fmt.Errorf("bbox %s: expected a list of 4 finite numbers [x y width height]", excerpt(data))
	}
	copy(b[:], v)
	return nil
}

// check refuses a box that is not a region: a coordinate that is NaN or
// infinite, or a negative width or height.
func (b BBox) check() error {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bbox %v: expected finite numbers", b)
		}
	}
	if b[2] < 0 || b[3] < 0 {
		return fmt.Errorf("bbox %v: expected a width and height of 0 or more", b)
	}
	return nil
}

// Truth is the ground truth of a detection data set as a COCO instances
// file holds it (instances_val2017.json and the like). Keys this package
// has no use for (info, licenses, segmentation, …) are accepted on reading
// and not kept, so WriteTruth of a file read with ReadTruth drops them.
type Truth struct {
	Images      []Image      `json:"images"`
	Annotations []Annotation `json:"annotations"`
	Categories  []Category   `json:"categories"`
}

// Image is one image of a Truth; its ID is what annotations and detections
// refer to.
type Image struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// Annotation is one object of a Truth: its box in an image and its
// category. Area is the file's own area field (for COCO, that of the
// segmentation mask), which COCO's metrics use only to sort objects into
// area ranges; 0 when the file has none. IsCrowd is 1 for a region of many
// objects labelled as one, 0 otherwise (and when the file says nothing).
type Annotation struct {
	ID         int64   `json:"id"`
	ImageID    int64   `json:"image_id"`
	CategoryID int64   `json:"category_id"`
	BBox       BBox    `json:"bbox"`
	Area       float64 `json:"area"`
	IsCrowd    int     `json:"iscrowd"`
}

// Category is one class of a Truth. Names must be unique, since results
// are reported per name.
type Category struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory,omitempty"`
}

// Detection is one box a detector found, as a COCO results file lists it.
type Detection struct {
	ImageID    int64   `json:"image_id"`
	CategoryID int64   `json:"category_id"`
	BBox       BBox    `json:"bbox"`
	Score      float64 `json:"score"`
}

// ReadTruth reads a COCO instances file and checks it as Validate does.
// Errors name the file, then the element and value at fault: an element
// by its id once read ("annotation 7"), by its position in its list when
// it could not be read ("annotations[3]", from 0).
func ReadTruth(path string) (*Truth, error) { return readParsed(path, parseTruth) }

// readParsed reads the file at path and parses it, naming the file in a
// parse error.
func readParsed[T any](path string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, err
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// WriteTruth writes t to path as a COCO instances file, after checking it
// as Validate does. The file appears whole or not at all: it is written to
// a temporary file in the same folder, then renamed over path.
func WriteTruth(path string, t *Truth) error {
	if t == nil {
		return fmt.Errorf("%s: no truth to write", path)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	data, err := json.Marshal(struct {
		Images      []Image      `json:"images"`
		Annotations []Annotation `json:"annotations"`
		Categories  []Category   `json:"categories"`
	}{nonNil(t.Images), nonNil(t.Annotations), nonNil(t.Categories)})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, append(data, '\n'))
}

// ReadDetections reads a COCO results file: a JSON list of detections.
// Each box and score is checked to be finite and each box to have a width
// and height of 0 or more; whether the image and category exist is for
// Evaluate to check, against a truth. Errors name the file, then the
// detection by its position in the list (from 0).
func ReadDetections(path string) ([]Detection, error) { return readParsed(path, parseDetections) }

// WriteDetections writes dets to path as a COCO results file, after the
// checks ReadDetections makes. Like WriteTruth, it writes a temporary file
// in the same folder and renames it over path.
func WriteDetections(path string, dets []Detection) error {
	for i, d := range dets {
		if err := d.check(); err != nil {
			return fmt.Errorf("%s: detection %d: %w", path, i, err)
		}
	}
	data, err := json.Marshal(nonNil(dets))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, append(data, '\n'))
}

// Validate checks what a COCO evaluation relies on: image, annotation and
// category ids each listed once, category names unique, every annotation
// on an image and of a category of t, boxes of finite numbers with a
// width and height of 0 or more, areas finite and 0 or more, iscrowd 0 or
// 1, image sizes 0 or more. Its error names the first element at fault by
// its id.
func (t *Truth) Validate() error {
	_, err := t.index()
	return err
}

// truthIndex finds images and categories of a Truth by id.
type truthIndex struct {
	images     map[int64]int // image id → position in Truth.Images
	categories map[int64]int // category id → position in Truth.Categories
}

// index checks t as Validate documents and returns its lookups.
func (t *Truth) index() (*truthIndex, error) {
	ix := &truthIndex{images: map[int64]int{}, categories: map[int64]int{}}
	for i, im := range t.Images {
		if j, ok := ix.images[im.ID]; ok {
			return nil, fmt.Errorf("image %d: listed twice in images (entries %d and %d)", im.ID, j, i)
		}
		ix.images[im.ID] = i
		if im.Width < 0 || im.Height < 0 {
			return nil, fmt.Errorf("image %d: size %d×%d: expected a width and height of 0 or more", im.ID, im.Width, im.Height)
		}
	}
	names := map[string]int64{}
	for i, c := range t.Categories {
		if j, ok := ix.categories[c.ID]; ok {
			return nil, fmt.Errorf("category %d: listed twice in categories (entries %d and %d)", c.ID, j, i)
		}
		ix.categories[c.ID] = i
		if other, ok := names[c.Name]; ok {
			return nil, fmt.Errorf("category %d: name %q is also category %d's: expected unique names", c.ID, c.Name, other)
		}
		names[c.Name] = c.ID
	}
	seen := map[int64]int{}
	for i, a := range t.Annotations {
		if j, ok := seen[a.ID]; ok {
			return nil, fmt.Errorf("annotation %d: listed twice in annotations (entries %d and %d)", a.ID, j, i)
		}
		seen[a.ID] = i
		if _, ok := ix.images[a.ImageID]; !ok {
			return nil, fmt.Errorf("annotation %d: image_id %d is not an image of the truth", a.ID, a.ImageID)
		}
		if _, ok := ix.categories[a.CategoryID]; !ok {
			return nil, fmt.Errorf("annotation %d: category_id %d is not a category of the truth", a.ID, a.CategoryID)
		}
		if err := a.BBox.check(); err != nil {
			return nil, fmt.Errorf("annotation %d: %w", a.ID, err)
		}
		if !(a.Area >= 0) || math.IsInf(a.Area, 1) {
			return nil, fmt.Errorf("annotation %d: area %v: expected a finite number, 0 or more", a.ID, a.Area)
		}
		if a.IsCrowd != 0 && a.IsCrowd != 1 {
			return nil, fmt.Errorf("annotation %d: iscrowd %d: expected 0 or 1", a.ID, a.IsCrowd)
		}
	}
	return ix, nil
}

// check refuses a detection whose box or score is not usable; the caller
// names the detection.
func (d Detection) check() error {
	if err := d.BBox.check(); err != nil {
		return err
	}
	if math.IsNaN(d.Score) || math.IsInf(d.Score, 0) {
		return fmt.Errorf("score %v: expected a finite number", d.Score)
	}
	return nil
}

// The wire types mirror the public ones with a pointer for each field a
// COCO file must have, so that a missing one is refused rather than read
// as zero.
type (
	wireTruth struct {
		Images      json.RawMessage `json:"images"`
		Annotations json.RawMessage `json:"annotations"`
		Categories  json.RawMessage `json:"categories"`
	}
	wireImage struct {
		ID       *int64 `json:"id"`
		FileName string `json:"file_name"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	}
	wireAnnotation struct {
		ID         *int64  `json:"id"`
		ImageID    *int64  `json:"image_id"`
		CategoryID *int64  `json:"category_id"`
		BBox       *BBox   `json:"bbox"`
		Area       float64 `json:"area"`
		IsCrowd    int     `json:"iscrowd"`
	}
	wireCategory struct {
		ID            *int64  `json:"id"`
		Name          *string `json:"name"`
		Supercategory string  `json:"supercategory"`
	}
	wireDetection struct {
		ImageID    *int64   `json:"image_id"`
		CategoryID *int64   `json:"category_id"`
		BBox       *BBox    `json:"bbox"`
		Score      *float64 `json:"score"`
	}
)

// parseTruth reads and validates an instances file's bytes.
func parseTruth(data []byte) (*Truth, error) {
	if err := checkSyntax(data); err != nil {
		return nil, err
	}
	if tok := firstToken(data); tok != json.Delim('{') {
		return nil, fmt.Errorf("expected a JSON object with images, annotations and categories, found %s", describeToken(tok))
	}
	var w wireTruth
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		key string
		raw json.RawMessage
	}{{"images", w.Images}, {"annotations", w.Annotations}, {"categories", w.Categories}} {
		if len(l.raw) == 0 {
			return nil, fmt.Errorf("expected key %q, a JSON list, found none", l.key)
		}
		if tok := firstToken(l.raw); tok != json.Delim('[') {
			return nil, fmt.Errorf("expected %q to be a JSON list, found %s", l.key, describeToken(tok))
		}
	}
	images, err := decodeList(w.Images, entry("images"), func(v wireImage) (Image, error) {
		if v.ID == nil {
			return Image{}, missing("id")
		}
		return Image{ID: *v.ID, FileName: v.FileName, Width: v.Width, Height: v.Height}, nil
	})
	if err != nil {
		return nil, err
	}
	anns, err := decodeList(w.Annotations, entry("annotations"), func(v wireAnnotation) (Annotation, error) {
		switch {
		case v.ID == nil:
			return Annotation{}, missing("id")
		case v.ImageID == nil:
			return Annotation{}, missing("image_id")
		case v.CategoryID == nil:
			return Annotation{}, missing("category_id")
		case v.BBox == nil:
			return Annotation{}, missing("bbox")
		}
		return Annotation{ID: *v.ID, ImageID: *v.ImageID, CategoryID: *v.CategoryID, BBox: *v.BBox, Area: v.Area, IsCrowd: v.IsCrowd}, nil
	})
	if err != nil {
		return nil, err
	}
	cats, err := decodeList(w.Categories, entry("categories"), func(v wireCategory) (Category, error) {
		switch {
		case v.ID == nil:
			return Category{}, missing("id")
		case v.Name == nil:
			return Category{}, missing("name")
		}
		return Category{ID: *v.ID, Name: *v.Name, Supercategory: v.Supercategory}, nil
	})
	if err != nil {
		return nil, err
	}
	t := &Truth{Images: images, Annotations: anns, Categories: cats}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// parseDetections reads and checks a results file's bytes.
func parseDetections(data []byte) ([]Detection, error) {
	if err := checkSyntax(data); err != nil {
		return nil, err
	}
	if tok := firstToken(data); tok != json.Delim('[') {
		return nil, fmt.Errorf("expected a JSON list of detections, found %s", describeToken(tok))
	}
	name := func(i int) string { return fmt.Sprintf("detection %d", i) }
	dets, err := decodeList(data, name, func(v wireDetection) (Detection, error) {
		switch {
		case v.ImageID == nil:
			return Detection{}, missing("image_id")
		case v.CategoryID == nil:
			return Detection{}, missing("category_id")
		case v.BBox == nil:
			return Detection{}, missing("bbox")
		case v.Score == nil:
			return Detection{}, missing("score")
		}
		d := Detection{ImageID: *v.ImageID, CategoryID: *v.CategoryID, BBox: *v.BBox, Score: *v.Score}
		return d, d.check()
	})
	if err != nil {
		return nil, err
	}
	return dets, nil
}

// entry names the elements of an instances file's list key as key[i],
// by position, since an element that could not be read has no id.
func entry(key string) func(int) string {
	return func(i int) string { return fmt.Sprintf("%s[%d]", key, i) }
}

// missing is the error of an element that lacks a key COCO's format
// requires (or has null there).
func missing(key string) error {
	return fmt.Errorf("expected key %q, found none", key)
}

// decodeList decodes raw, a JSON list, one element at a time into W and
// converts each with conv, so that an error names its element as name
// does.
func decodeList[W, T any](raw []byte, name func(i int) string, conv func(W) (T, error)) ([]T, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []T
	for i := 0; dec.More(); i++ {
		var w W
		if err := dec.Decode(&w); err != nil {
			return nil, fmt.Errorf("%s: %w", name(i), describeDecodeError(err))
		}
		v, err := conv(w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name(i), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// checkSyntax refuses bytes that are not one JSON value, saying where, and
// naming NaN and infinities, which Python's json module writes but JSON
// has no number for.
func checkSyntax(data []byte) error {
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err
	}
	off := int(se.Offset)
	if off <= 0 || off > len(data) || se.Error() == "unexpected end of JSON input" {
		return fmt.Errorf("not JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:off-1], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off-1], '\n') - 1
	rest := data[off-1:]
	for _, word := range []string{"NaN", "Infinity"} {
		if bytes.HasPrefix(rest, []byte(word)) {
			if off >= 2 && data[off-2] == '-' {
				word = "-" + word
				col--
			}
			return fmt.Errorf("line %d, column %d: expected a finite number, found %s", line, col, word)
		}
	}
	return fmt.Errorf("not JSON: line %d, column %d: %w", line, col, err)
}

// firstToken is the first token of raw, which holds one JSON value; nil
// for null.
func firstToken(raw []byte) json.Token {
	tok, err := json.NewDecoder(bytes.NewReader(raw)).Token()
	if err != nil {
		return nil
	}
	return tok
}

// describeToken names the kind of JSON value a token starts, as error
// messages say what was found.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "a list"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// describeDecodeError rewrites encoding/json's type errors as "key:
// expected …, found …"; other errors pass through.
func describeDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "a " + te.Type.String()
	switch te.Type.Kind() {
	case reflect.Int, reflect.Int64:
		want = "an integer"
	case reflect.Float64:
		want = "a finite number"
	case reflect.String:
		want = "a string"
	case reflect.Struct:
		want = "an object"
	}
	found := te.Value
	switch {
	case strings.HasPrefix(found, "number "):
		found = strings.TrimPrefix(found, "number ")
	case found == "array":
		found = "a list"
	case found == "object":
		found = "an object"
	case found == "bool":
		found = "a boolean"
	default:
		found = "a " + found
	}
	if te.Field == "" {
		return fmt.Errorf("expected %s, found %s", want, found)
	}
	return fmt.Errorf("%s: expected %s, found %s", te.Field, want, found)
}

// excerpt is data for an error message, cut at 40 bytes.
func excerpt(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) > 40 {
		return string(data[:40]) + "…"
	}
	return string(data)
}

// nonNil is s, or an empty slice for nil, so that JSON gets [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeAtomic writes data to a temporary file beside path, flushes it to
// disk and renames it to path, so that a reader sees the old file or the
// new one, never a part. The file is left readable by all (0644).
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
