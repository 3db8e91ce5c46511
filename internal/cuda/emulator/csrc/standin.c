// Stand-ins for the parts of cuDNN 9 that are separate files: the shim
// libcudnn.so.9 (built with -DCUDNN_SHIM) and its sub-libraries
// libcudnn_*.so.9, one build of this file each, named by STANDIN_NAME. They
// hold no cuDNN code (the shim links the emulator, which has it); they show
// how they were loaded: each notes "load NAME PATH" in the file
// $CNNTRAIN_EMULATOR_LOAD_LOG names, as its constructor runs, PATH as the
// loader found it. Sub-libraries but libcudnn_graph need libcudnn_graph.so.9
// (DT_NEEDED, runpath $ORIGIN), so one loaded before it pulls in whichever
// libcudnn_graph the loader finds first ($LD_LIBRARY_PATH before the
// runpath), as cuDNN's own do.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef STANDIN_NAME
#error "STANDIN_NAME must name the library"
#endif

static void note(const char* event, const char* what)
{
    const char* log = getenv("CNNTRAIN_EMULATOR_LOAD_LOG");
    if (!log || !*log)
        return;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return;
    char line[4096];
    int n = snprintf(line, sizeof line, "%s %s\n", event, what);
    if (n > 0)
        (void)!write(fd, line, n < (int)sizeof line ? n : (int)sizeof line - 1);
    close(fd);
}

__attribute__((constructor)) static void loaded(void)
{
    Dl_info info;
    const char* path = "?";
    if (dladdr((void*)&loaded, &info) && info.dli_fname)
        path = info.dli_fname;
    char what[4096];
    snprintf(what, sizeof what, "%s %s", STANDIN_NAME, path);
    note("load", what);
}

#ifdef CUDNN_SHIM
// The sub-libraries this cuDNN opens by bare name on first use.
static const char* const sublibraries[] = {
    "libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9",
    "libcudnn_engines_tensor_ir.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
    "libcudnn_adv.so.9", "libcudnn_ext.so.9",
};

// cnntrain_cudnn_shim_open_sublibraries opens them as cuDNN's shim does, from
// here, so that this library's runpath applies, after $LD_LIBRARY_PATH: the
// emulator's cudnnCreate calls it. A part that does not load fails the call
// (real cuDNN 9 may abort the process instead).
int cnntrain_cudnn_shim_open_sublibraries(void)
{
    for (size_t i = 0; i < sizeof sublibraries / sizeof sublibraries[0]; i++)
        if (!dlopen(sublibraries[i], RTLD_NOW | RTLD_GLOBAL)) {
            note("failed", dlerror());
            return 1008; // CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED
        }
    return 0;
}
#endif
