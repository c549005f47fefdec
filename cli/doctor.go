package cli

import (
	"errors"

	"github.com/bot-onnx/bot-onnx/doctor"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/urfave/cli/v2"
)

// doctorCommand reports the machine as bot-onnx sees it, to check a set-up
// or to attach to a bug report; a missing ONNX Runtime fails it, after
// the rest is printed.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "report what bot-onnx finds on this machine: Go, cores, memory, ONNX Runtime, OpenBLAS, the data cache",
		UsageText: "bot-onnx doctor [--ort-lib PATH] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library to check (else the usual search: $" + ort.LibraryEnv + ", the user cache, the system's folders)"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			r := doctor.Diagnose(c.String("ort-lib"), Version)
			if err := cmdline.Print(c, r); err != nil {
				return err
			}
			if r.ORT.Error != "" {
				return errors.New(r.ORT.Error)
			}
			return nil
		},
	}
}
