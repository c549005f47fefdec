// Command bot-onnx applies the "Bag of Tricks" to ResNets around ONNX.
package main

import (
	"os"

	"github.com/bot-onnx/bot-onnx/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr))
}
