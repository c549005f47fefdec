package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/urfave/cli/v2"
)

func transferStudyCommand() *cli.Command {
	var cfg transfer.Config
	return &cli.Command{
		Name:  "transfer-study",
		Usage: "transfer several backbones to one task; tabulate each backbone's own top-1 beside its downstream figures (the paper's Tables 8 and 9)",
		UsageText: "bot-onnx transfer-study --backbones a.onnx,b.onnx,… --task segment|classify --data … --epochs N --out DIR [--seeds N] [--resume]\n" +
			"   [every option of bot-onnx transfer]",
		Description: "Each backbone is transferred as `bot-onnx transfer` does, into DIR/<its file name>, with the same options.\n" +
			"The table (" + transfer.StudyTable + ", and " + transfer.StudyJSON + ") gives, per backbone, its own classification top-1\n" +
			"(from its metadata, bot-onnx.top1; — where it has none) and the downstream figures measured in ONNX Runtime.\n" +
			"With --resume, finished transfers are read back and an interrupted one resumes.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "backbones", Usage: "comma-separated exported backbones (bot-onnx export --head none), one row each"},
			&cli.IntFlag{Name: "seeds", Value: 1, Usage: "transfer every backbone with this many seeds (--seed, --seed+1, …; DIR/<backbone>/seed-S): mean ± std and paired 95% intervals against the first backbone"},
		}, cmdline.Replace(transferFlags(&cfg),
			&cli.StringFlag{Name: "out", Destination: &cfg.Out, Usage: "the study folder: one transfer folder a backbone, and the table"},
			&cli.BoolFlag{Name: "resume", Destination: &cfg.Resume, Usage: "continue the study in --out: finished transfers are read back, an interrupted one resumes"},
			&cli.BoolFlag{Name: "json", Usage: "print the study as one JSON object (what " + transfer.StudyJSON + " holds)"})...),
		Action: func(c *cli.Context) error {
			if err := transferConfig(c, &cfg); err != nil {
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
			ctx, stop := interruptible(c)
			defer stop()
			s, err := transfer.RunStudy(ctx, cfg, paths, c.Int("seeds"), transferProgress(c.App.ErrWriter))
			if err != nil {
				return interrupted(ctx, transferError(c, &cfg, err), "run again with --resume to continue")
			}
			if c.Bool("json") {
				return cmdline.PrintJSON(c.App.Writer, s)
			}
			fmt.Fprint(c.App.Writer, s.Markdown())
			fmt.Fprintf(c.App.Writer, "\nwrote %s and %s\n", filepath.Join(cfg.Out, transfer.StudyTable), transfer.StudyJSON)
			return nil
		},
	}
}
