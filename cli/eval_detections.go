package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/urfave/cli/v2"
)

func evalDetectionsCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval-detections",
		Usage:     "score any detector's boxes against a truth, both in COCO's JSON formats: VOC2007 11-point and all-point AP at an IoU, COCO's AP",
		UsageText: "bot-onnx eval-detections --truth instances.json --detections results.json [--iou 0.5] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "truth", Required: true, Usage: "COCO instances file: images, annotations (bbox [x,y,w,h] in pixels), categories"},
			&cli.StringFlag{Name: "detections", Required: true, Usage: "COCO results list: image_id, category_id, bbox, score"},
			&cli.Float64Flag{Name: "iou", Value: 0.5, Usage: "IoU threshold of the VOC metrics and of per_class"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			truth, err := detection.ReadTruth(c.String("truth"))
			if err != nil {
				return err
			}
			dets, err := detection.ReadDetections(c.String("detections"))
			if err != nil {
				return err
			}
			r, err := detection.Evaluate(truth, dets, c.Float64("iou"))
			if err != nil {
				return fmt.Errorf("%s against %s: %w", c.String("detections"), c.String("truth"), err)
			}
			return cmdline.Print(c, r)
		},
	}
}
