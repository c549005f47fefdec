package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/urfave/cli/v2"
)

// Files of a transfer-study folder, beside one transfer folder per backbone.
const (
	studyTable = "transfer-study.md"
	studyJSON  = "transfer-study.json"
)

// studyRow is one backbone's transfer in a study.
type studyRow struct {
	// Name is the backbone's row and its folder in the study.
	Name string `json:"name"`
	transferResult
}

// study is what transfer-study.json holds.
type study struct {
	Task string     `json:"task"`
	Rows []studyRow `json:"rows"`
}

func transferStudyCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer-study",
		Usage: "transfer several backbones to one task; tabulate each backbone's own top-1 beside its downstream figures (the paper's Tables 8 and 9)",
		UsageText: "bot-onnx transfer-study --backbones a.onnx,b.onnx,… --task segment|classify --data … --epochs N --out DIR [--resume]\n" +
			"   [every option of bot-onnx transfer]",
		Description: "Each backbone is transferred as `bot-onnx transfer` does, into DIR/<its file name>, with the same options.\n" +
			"The table (" + studyTable + ", and " + studyJSON + ") gives, per backbone, its own classification top-1\n" +
			"(from its metadata, bot-onnx.top1; — where it has none) and the downstream figures measured in ONNX Runtime.\n" +
			"With --resume, finished transfers are read back and an interrupted one resumes.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "backbones", Usage: "comma-separated exported backbones (bot-onnx export --head none), one row each"},
		}, transferFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := transferConfigFrom(c)
			if err != nil {
				return err
			}
			var paths []string
			for p := range strings.SplitSeq(c.String("backbones"), ",") {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, p)
				}
			}
			if len(paths) == 0 {
				return errors.New("--backbones: expected one or more backbone files, comma-separated")
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := runStudy(ctx, cfg, paths)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted; run again with --resume to continue")
				}
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, s)
			}
			fmt.Fprint(c.App.Writer, studyMarkdown(s, cfg.Task))
			fmt.Fprintf(c.App.Writer, "\nwrote %s and %s\n", filepath.Join(cfg.Out, studyTable), studyJSON)
			return nil
		},
	}
}

// runStudy transfers every backbone with cfg, each into its own folder of
// cfg.Out, and writes the table. Every backbone is checked before the
// first one trains; with cfg.Resume a finished transfer is read back.
func runStudy(ctx context.Context, cfg transferConfig, paths []string) (*study, error) {
	if _, err := os.Stat(filepath.Join(cfg.Out, studyJSON)); err == nil && !cfg.Resume {
		return nil, fmt.Errorf("%s holds a study already: pass --resume to continue it, or choose another --out", cfg.Out)
	}
	names := studyNames(paths)
	rows := make([]studyRow, len(paths))
	plans := make([]*transferPlan, len(paths))
	for i, path := range paths {
		one := cfg
		one.Backbone, one.Out = path, filepath.Join(cfg.Out, names[i])
		rows[i].Name = names[i]
		if cfg.Resume {
			if res, err := readTransfer(filepath.Join(one.Out, transferMetrics)); err == nil {
				rows[i].transferResult = *res
				continue
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		plan, err := planTransfer(one)
		if err != nil {
			return nil, err
		}
		plans[i] = plan
	}
	for i, plan := range plans {
		if plan == nil {
			fmt.Fprintf(cfg.Log, "== %d/%d %s: done already\n", i+1, len(plans), paths[i])
			continue
		}
		fmt.Fprintf(cfg.Log, "== %d/%d %s\n", i+1, len(plans), paths[i])
		res, err := plan.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[i], err)
		}
		rows[i].transferResult = *res
	}
	s := &study{Task: cfg.Task.name, Rows: rows}
	if err := writeJSONFile(filepath.Join(cfg.Out, studyJSON), s); err != nil {
		return nil, err
	}
	return s, graph.WriteFileAtomic(filepath.Join(cfg.Out, studyTable), []byte(studyMarkdown(s, cfg.Task)))
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

// readTransfer reads a finished transfer's metrics.json.
func readTransfer(path string) (*transferResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res transferResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// studyMarkdown renders the study as the paper's Tables 8 and 9 lay it
// out: one row per backbone, its own top-1, then the downstream figures
// measured in ONNX Runtime.
func studyMarkdown(s *study, task *transferTask) string {
	var b strings.Builder
	if len(s.Rows) > 0 {
		r := s.Rows[0]
		how := fmt.Sprintf("backbone lr ×%g", r.BackboneLRMult)
		if r.FreezeBackbone {
			how = "backbone frozen"
		}
		fmt.Fprintf(&b, "Transfer to %s on %s: feature %s, %d classes, %d %s, %s; downstream figures measured in ONNX Runtime (%s) on the test split.\n\n",
			s.Task, r.Data, r.Feature, r.Classes, r.Epochs, plural(r.Epochs, "epoch", "epochs"), how, r.Provider)
	}
	b.WriteString("| backbone | its own top-1 |")
	for _, c := range task.columns {
		b.WriteString(" " + c.header + " |")
	}
	b.WriteString("\n| --- | ---: |" + strings.Repeat(" ---: |", len(task.columns)) + "\n")
	for _, r := range s.Rows {
		top1 := "—"
		if r.BackboneTop1 != nil {
			top1 = fmt.Sprintf("%.2f%%", 100**r.BackboneTop1)
		}
		fmt.Fprintf(&b, "| %s | %s |", r.Name, top1)
		for _, c := range task.columns {
			b.WriteString(" " + c.format(r.ONNXRuntime) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
