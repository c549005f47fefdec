package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
)

// Files of a study folder, beside one transfer folder per backbone.
const (
	StudyTable = "transfer-study.md"
	StudyJSON  = "transfer-study.json"
)

// Study is several backbones moved to one task (the paper's Tables 8 and
// 9): transfer-study.json.
type Study struct {
	Task string     `json:"task"`
	Rows []StudyRow `json:"rows"`
}

// StudyRow is one backbone's transfer in a study.
type StudyRow struct {
	// Name is the backbone's row and its folder in the study.
	Name string `json:"name"`
	Result
}

// RunStudy transfers every backbone with cfg (its Backbone and Out
// replaced), each into its own folder of cfg.Out, and writes the table.
// Every backbone is checked before the first one trains; with cfg.Resume
// a finished transfer is read back.
func RunStudy(ctx context.Context, cfg Config, backbones []string, o Options) (*Study, error) {
	if len(backbones) == 0 {
		return nil, errors.New("a study needs one or more backbones")
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, StudyJSON)); err == nil && !cfg.Resume {
		return nil, fmt.Errorf("%s %w: resume to continue it, or choose another folder", cfg.Out, ErrStudyExists)
	}
	names := studyNames(backbones)
	rows := make([]StudyRow, len(backbones))
	plans := make([]*Plan, len(backbones))
	for i, path := range backbones {
		one := cfg
		one.Backbone, one.Out = path, filepath.Join(cfg.Out, names[i])
		rows[i].Name = names[i]
		if cfg.Resume {
			if res, err := ReadResult(filepath.Join(one.Out, MetricsFile)); err == nil {
				rows[i].Result = *res
				continue
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		plan, err := NewPlan(one)
		if err != nil {
			return nil, err
		}
		plans[i] = plan
	}
	for i, plan := range plans {
		if o.Backbone != nil {
			o.Backbone(i+1, len(plans), backbones[i], plan == nil)
		}
		if plan == nil {
			continue
		}
		res, err := plan.Run(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", backbones[i], err)
		}
		rows[i].Result = *res
	}
	s := &Study{Task: cfg.Task, Rows: rows}
	if err := report.WriteJSON(filepath.Join(cfg.Out, StudyJSON), s); err != nil {
		return nil, err
	}
	return s, graph.WriteFileAtomic(filepath.Join(cfg.Out, StudyTable), []byte(s.Markdown()))
}

// studyNames names each backbone's folder after its file, without .onnx;
// a name taken already gets the backbone's position appended.
func studyNames(paths []string) []string {
	names := make([]string, len(paths))
	seen := map[string]bool{}
	for i, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".onnx")
		if seen[name] {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		seen[name], names[i] = true, name
	}
	return names
}

// Markdown renders the study as the paper's Tables 8 and 9 lay it out:
// one row per backbone, its own top-1, then the task's figures measured
// in ONNX Runtime.
func (s *Study) Markdown() string {
	var columns []Column
	if task, err := LookupTask(s.Task); err == nil {
		columns = task.Columns
	}
	var b strings.Builder
	if len(s.Rows) > 0 {
		r := s.Rows[0]
		epochs := "epochs"
		if r.Epochs == 1 {
			epochs = "epoch"
		}
		fmt.Fprintf(&b, "Transfer to %s on %s: feature %s, %d classes, %d %s, %s; downstream figures measured in ONNX Runtime (%s) on the test split.\n\n",
			s.Task, r.Data, r.Feature, r.Classes, r.Epochs, epochs, r.backboneTraining(), r.Provider)
	}
	b.WriteString("| backbone | its own top-1 |")
	for _, c := range columns {
		b.WriteString(" " + c.Header + " |")
	}
	b.WriteString("\n| --- | ---: |" + strings.Repeat(" ---: |", len(columns)) + "\n")
	for _, r := range s.Rows {
		top1 := "—"
		if r.BackboneTop1 != nil {
			top1 = fmt.Sprintf("%.2f%%", 100**r.BackboneTop1)
		}
		fmt.Fprintf(&b, "| %s | %s |", r.Name, top1)
		for _, c := range columns {
			b.WriteString(" " + c.Format(r.ONNXRuntime) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
