package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// vulkan_loader_error tries to load Vulkan's loader as Dawn does and
// returns NULL when it loads, else dlerror's message (to free).
static char *vulkan_loader_error(void) {
	void *lib = dlopen("libvulkan.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		return strdup(e ? e : "libvulkan.so.1: cannot be loaded");
	}
	dlclose(lib);
	return NULL;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// vulkanLoader reports why Vulkan's loader (libvulkan.so.1) cannot be
// loaded, or nil. WebGPU's engine, Dawn, drives the GPU through it on
// Linux; without it no adapter can be found, so the provider is refused
// before Dawn starts: a Dawn that failed to start leaves threads behind
// that keep a race-instrumented process from exiting.
func vulkanLoader() error {
	msg := C.vulkan_loader_error()
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(C.GoString(msg))
}
