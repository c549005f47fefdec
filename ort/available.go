package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef struct OrtStatus OrtStatus;
typedef struct {
	const void *(*GetApi)(unsigned int version);
	const char *(*GetVersionString)(void);
} OrtApiBase;

// Slots of OrtApi's table of function pointers (onnxruntime_c_api.h,
// offsetof(OrtApi, f) / sizeof(void *)). ONNX Runtime only ever appends
// to the table, so the slots hold for every release that has them.
enum {
	slotGetErrorMessage = 2,
	slotReleaseStatus = 93,
	slotGetAvailableProviders = 125,
	slotReleaseAvailableProviders = 126,
};

// available_providers calls OrtApi's GetAvailableProviders in the ONNX
// Runtime library at path, which must be loaded already. It returns the
// names joined by newlines, or NULL with *err set; the caller frees both.
static char *available_providers(const char *path, unsigned int version, char **err) {
	void *lib = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
	if (!lib) {
		*err = strdup("the library is not loaded");
		return NULL;
	}
	const OrtApiBase *(*get_base)(void) = (const OrtApiBase *(*)(void))dlsym(lib, "OrtGetApiBase");
	const void *const *api = get_base ? (const void *const *)get_base()->GetApi(version) : NULL;
	if (!api) {
		dlclose(lib);
		*err = strdup("the library does not offer the C API version asked for");
		return NULL;
	}
	char **names = NULL;
	int n = 0;
	OrtStatus *status = ((OrtStatus *(*)(char ***, int *))api[slotGetAvailableProviders])(&names, &n);
	if (status) {
		*err = strdup(((const char *(*)(const OrtStatus *))api[slotGetErrorMessage])(status));
		((void (*)(OrtStatus *))api[slotReleaseStatus])(status);
		dlclose(lib);
		return NULL;
	}
	size_t size = 1;
	for (int i = 0; i < n; i++) {
		size += strlen(names[i]) + 1;
	}
	char *joined = calloc(size, 1);
	for (int i = 0; i < n; i++) {
		if (i > 0) {
			strcat(joined, "\n");
		}
		strcat(joined, names[i]);
	}
	((OrtStatus *(*)(char **, int))api[slotReleaseAvailableProviders])(names, n);
	dlclose(lib);
	return joined;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// apiVersion is the ONNX Runtime C API version onnxruntime_go v1.27 asks
// for (ORT_API_VERSION of its header); Init has checked the library
// offers it.
const apiVersion = 24

// AvailableProviders returns the execution providers the loaded ONNX
// Runtime library was built with, in its order of preference (e.g.
// CUDAExecutionProvider, CPUExecutionProvider), through the C API's
// GetAvailableProviders, which onnxruntime_go does not wrap. A provider
// listed may still fail to start, as CUDA does on a machine without a GPU.
// It needs a successful Init.
func AvailableProviders() ([]string, error) {
	path := LoadedLibrary()
	if path == "" {
		return nil, errors.New("listing ONNX Runtime's providers: the library is not loaded")
	}
	cPath := C.CString(path)
	defer C.free(unsafe.Pointer(cPath))
	var cErr *C.char
	joined := C.available_providers(cPath, apiVersion, &cErr)
	if joined == nil {
		defer C.free(unsafe.Pointer(cErr))
		return nil, fmt.Errorf("listing ONNX Runtime's providers in %s: %s", path, C.GoString(cErr))
	}
	defer C.free(unsafe.Pointer(joined))
	if *joined == 0 {
		return nil, nil
	}
	return strings.Split(C.GoString(joined), "\n"), nil
}
