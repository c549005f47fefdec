package ort

import (
	"os"
	"strings"
	"sync"
	"syscall"
)

// stderrMu serialises the captures of the process's standard error.
var stderrMu sync.Mutex

// captureStderr runs f with the process's standard error (file descriptor
// 2, where Dawn, the WebGPU provider's engine, prints its warnings
// directly) sent to a temporary file, and returns what was written there.
// Dawn's "Couldn't load Vulkan: libvulkan.so.1: …" is the reason a WebGPU
// session cannot start on a machine without the Vulkan loader, better
// than the adapter error ONNX Runtime returns after it; captured, it goes
// into that error instead of onto the user's terminal. Anything the
// process itself printed meanwhile lands there too, and the caller puts it
// back. If the capture cannot be set up, f runs with standard error as it
// is.
func captureStderr(f func() error) (string, error) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	tmp, err := os.CreateTemp("", "bot-onnx-stderr-*")
	if err != nil {
		return "", f()
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		return "", f()
	}
	defer syscall.Close(saved)
	if err := syscall.Dup3(int(tmp.Fd()), 2, 0); err != nil {
		return "", f()
	}
	ferr := f()
	syscall.Dup3(saved, 2, 0)
	b, _ := os.ReadFile(tmp.Name())
	return strings.TrimSpace(string(b)), ferr
}
