package data

import (
	"testing"
)

func TestWriteSyntheticMNISTReadsBack(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSyntheticMNIST(dir, 50, 20, 4); err != nil {
		t.Fatal(err)
	}
	train, test, err := MNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 50 || test.Len() != 20 || train.Classes() != 10 {
		t.Fatalf("read %d and %d examples, %d classes", train.Len(), test.Len(), train.Classes())
	}
	x := make([]float32, 784)
	label, err := train.Example(3, x)
	if err != nil {
		t.Fatal(err)
	}
	r, c := 2+(label/5)*12, 1+(label%5)*5
	if x[r*28+c] != 1 || x[(r+6)*28+c+4] != 1 {
		t.Errorf("class %d block missing", label)
	}
	if err := WriteIDX(dir+"/x", dir+"/y", 28, 28, make([]byte, 10), make([]byte, 2)); err == nil {
		t.Error("a pixel count mismatch was accepted")
	}
}
