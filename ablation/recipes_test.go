package ablation

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write recipes/*.yaml from PaperFiles")

// TestPaperFiles: recipes/*.yaml are PaperFiles' text, one file each and
// no other, so that the recipe files and the study's steps cannot differ;
// go test ./ablation -run PaperFiles -update writes them. Each file is
// the step of the same name at the paper's scale.
func TestPaperFiles(t *testing.T) {
	dir := filepath.Join("..", "recipes")
	var names []string
	for _, f := range PaperFiles {
		path := filepath.Join(dir, f.Name+".yaml")
		names = append(names, f.Name+".yaml")
		if *update {
			if err := os.WriteFile(path, []byte(f.YAML()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != f.YAML() {
			t.Errorf("%s differs from PaperFiles' %s (go test ./ablation -run PaperFiles -update writes it):\n%s\nwant\n%s", path, f.Name, got, f.YAML())
		}
		i := slices.IndexFunc(Steps, func(s Step) bool { return s.Name == f.Name })
		if i < 0 || !slices.Equal(Steps[i].Features, f.Features) {
			t.Errorf("recipe file %s is no step of the study, or not with its features", f.Name)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !slices.Contains(names, filepath.Base(f)) {
			t.Errorf("%s is not one of PaperFiles", f)
		}
	}
	r := PaperFiles[0].Recipe()
	if !slices.Equal(r.DecayEpochs, []int{30, 60, 90}) || PaperFiles[1].Recipe().WarmupEpochs != 5 {
		t.Errorf("the paper's scale: steps %v, warmup %d; want 30, 60, 90 and 5", r.DecayEpochs, PaperFiles[1].Recipe().WarmupEpochs)
	}
	if got := strings.Count(PaperFiles[4].YAML(), "teacher: teacher/model.onnx"); got != 1 {
		t.Errorf("distill.yaml names its teacher %d times", got)
	}
}
