// kernel_list.h names every kernel of kernels.cu the backend launches, for the host programs that
// run them through the shim (hostharness, the GPU emulator): CNNTRAIN_KERNELS(X) expands
// X(name, syncs) once per kernel, syncs being whether it calls __syncthreads (the per-slice
// and single-block kernels of README.md); the others may run their threads one after another
// (launch_serial, which aborts if such a kernel synchronizes after all). It must list kernels.Names
// (kernels.go); the tests check that both agree.
#pragma once

#define CNNTRAIN_KERNELS(X)          \
    X(fill_f32, false)              \
    X(relu_forward, false)          \
    X(relu_backward, false)         \
    X(bias_rows, false)             \
    X(sum_rows, false)              \
    X(im2col, false)                \
    X(col2im, false)                \
    X(cn_to_nchw, false)            \
    X(nchw_to_cn, false)            \
    X(channel_bias_add, false)      \
    X(channel_partials, true)       \
    X(maxpool_forward, false)       \
    X(maxpool_backward, false)      \
    X(log_softmax_forward, false)   \
    X(log_softmax_backward, false)  \
    X(class_loss_forward, true)     \
    X(class_loss_backward, false)   \
    X(bn_partials, true)            \
    X(bn_stats, false)              \
    X(bn_normalize, false)          \
    X(bn_grad_partials, true)       \
    X(bn_grad_sums, false)          \
    X(bn_grad_input, false)         \
    X(sgd_steps, false)              \
    X(adam_steps, false)
