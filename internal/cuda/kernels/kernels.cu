// cnntrain's CUDA kernels. README.md in this directory is the contract (names, parameters, launch
// shapes); the arithmetic is internal/backend/cpu's, operation by operation, so that the GPU and
// CPU backends agree to the last bit wherever no reduction order differs.
//
// Plain CUDA C for NVRTC without headers (--gpu-architecture=compute_75 --fmad=false). The same
// file compiles with g++ against shim/cuda_shim.h, which runs each block's threads as host
// threads, so that kernels_host_test.go checks this logic against the CPU backend without a GPU.

// BLOCK is the block size of the per-slice and single-block kernels: the size of their
// __shared__ reduction arrays. Their tree reductions need blockDim.x to be a power of two ≤ BLOCK.
#define BLOCK 256

#define INT_MAX_ 2147483647

// BN_EVAL and BN_TRAIN are ops.BNMode's values (2 is batch statistics).
#define BN_TRAIN 0
#define BN_EVAL 1

// GRID_STRIDE loops i over [0, n) across the whole launch: correct for any grid and block size.
#define GRID_STRIDE(i, n) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += gridDim.x * blockDim.x)

// combine is how block_reduce joins two threads' values: a sum for float and double, and for the
// structs below what their comments say. Several values reduce in one tree to save barriers.
__device__ static float combine(float a, float b) { return a + b; }
__device__ static double combine(double a, double b) { return a + b; }

// LossPart is a thread's share of class_loss_forward: its sum of target log-probabilities, and
// the smallest of its invalid samples' index + 1 (INT_MAX_ if none).
struct LossPart {
    float sum;
    int bad;
};

__device__ static LossPart combine(LossPart a, LossPart b)
{
    LossPart r = {a.sum + b.sum, b.bad < a.bad ? b.bad : a.bad};
    return r;
}

// BNSums are batchnorm_backward's two sums.
struct BNSums {
    double dy, dy_xhat;
};

__device__ static BNSums combine(BNSums a, BNSums b)
{
    BNSums r = {a.dy + b.dy, a.dy_xhat + b.dy_xhat};
    return r;
}

// block_reduce returns the combination (see combine) of v over the block's threads to all of
// them, by a fixed tree over s (a __shared__ array of at least blockDim.x values), so the result
// does not depend on scheduling. Every thread of the block must call it.
template <class T>
__device__ static T block_reduce(T v, T* s)
{
    const int t = threadIdx.x;
    s[t] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half)
            s[t] = combine(s[t], s[t + half]);
        __syncthreads();
    }
    const T total = s[0];
    __syncthreads(); // s may be reused by the next reduction
    return total;
}

// channel_at is the index of element e of channel ch's n·hw values in an (n, c, hw) tensor,
// image-major as the CPU backend scans them.
__device__ static int channel_at(int e, int ch, int c, int hw)
{
    const int i = e / hw;
    return (i * c + ch) * hw + (e - i * hw);
}

// split_range is split p's slice [lo, hi) of a channel's m values cut into splits slices of
// ⌈m/splits⌉ (the last shorter, trailing ones empty): the per-slice kernels' work items.
__device__ static void split_range(int p, int splits, int m, int* lo, int* hi)
{
    const int len = (m + splits - 1) / splits;
    *lo = p * len;
    *hi = *lo + len < m ? *lo + len : m;
}

// fill_f32 sets x[i] = v (grid-stride).
extern "C" __global__ void fill_f32(float* x, int n, float v)
{
    GRID_STRIDE(i, n) x[i] = v;
}

// relu_forward is PyTorch's relu, y = (0 > x) ? 0 : x: NaN and −0 pass through (grid-stride),
// as vec.ReLU on the CPU.
extern "C" __global__ void relu_forward(const float* x, float* y, int n)
{
    GRID_STRIDE(i, n)
    {
        const float v = x[i];
        y[i] = 0.0f > v ? 0.0f : v;
    }
}

// relu_backward is PyTorch's threshold_backward(dy, y, 0): dx = (y <= 0) ? 0 : dy, so a NaN y
// passes the gradient and −0 does not (grid-stride), as vec.ReLUGrad on the CPU.
extern "C" __global__ void relu_backward(const float* y, const float* dy, float* dx, int n)
{
    GRID_STRIDE(i, n) dx[i] = y[i] <= 0.0f ? 0.0f : dy[i];
}

// bias_rows broadcasts the bias b over the rows of y, the start of a Linear's output (grid-stride).
extern "C" __global__ void bias_rows(const float* b, float* y, int rows, int cols)
{
    GRID_STRIDE(i, rows * cols) y[i] = b[i % cols];
}

// sum_rows writes the column sums of the (rows, cols) matrix m, rows in order in float: a Linear's
// bias gradient (grid-stride over columns).
extern "C" __global__ void sum_rows(const float* m, float* dst, int rows, int cols)
{
    GRID_STRIDE(c, cols)
    {
        float s = 0.0f;
        for (int r = 0; r < rows; r++)
            s += m[r * cols + c];
        dst[c] = s;
    }
}

// im2col unfolds nb (cin, h, w) images into the (cin·k·k, nb·ho·wo) matrix col, zero where a
// kernel tap falls on the padding (grid-stride over col).
extern "C" __global__ void im2col(const float* x, float* col, int nb, int cin, int h, int w, int k, int p,
                                  int ho, int wo)
{
    const int px = ho * wo, cols = nb * px;
    GRID_STRIDE(e, cin * k * k * cols)
    {
        const int row = e / cols, at = e - row * cols;
        const int ci = row / (k * k), ki = (row / k) % k, kj = row % k;
        const int i = at / px, oy = (at % px) / wo, ox = at % wo;
        const int iy = oy + ki - p, ix = ox + kj - p;
        col[e] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[((i * cin + ci) * h + iy) * w + ix] : 0.0f;
    }
}

// col2im is im2col's adjoint, gathered per input pixel so that no two threads write one value:
// the taps are added in the CPU's order (ki, then kj), from 0 (grid-stride over x).
extern "C" __global__ void col2im(const float* col, float* x, int nb, int cin, int h, int w, int k, int p,
                                  int ho, int wo)
{
    const int px = ho * wo, cols = nb * px;
    GRID_STRIDE(e, nb * cin * h * w)
    {
        const int ix = e % w, iy = (e / w) % h, ci = (e / (h * w)) % cin, i = e / (cin * h * w);
        float s = 0.0f;
        for (int ki = 0; ki < k; ki++) {
            const int oy = iy - ki + p;
            if (oy < 0 || oy >= ho)
                continue;
            for (int kj = 0; kj < k; kj++) {
                const int ox = ix - kj + p;
                if (ox >= 0 && ox < wo)
                    s += col[((ci * k + ki) * k + kj) * cols + i * px + oy * wo + ox];
            }
        }
        x[e] = s;
    }
}

// cn_to_nchw moves a convolution's product, (cout, nb·px), into the (nb, cout, px) output, adding
// the bias (grid-stride over y). bias may be NULL.
extern "C" __global__ void cn_to_nchw(const float* prod, const float* bias, float* y, int nb, int cout,
                                      int px)
{
    GRID_STRIDE(e, nb * cout * px)
    {
        const int j = e % px, o = (e / px) % cout, i = e / (cout * px);
        y[e] = prod[o * (nb * px) + i * px + j] + (bias ? bias[o] : 0.0f);
    }
}

// nchw_to_cn is cn_to_nchw's move backwards, without bias: the output gradient laid out as the
// matrix product's (grid-stride over dst).
extern "C" __global__ void nchw_to_cn(const float* y, float* dst, int nb, int cout, int px)
{
    GRID_STRIDE(e, nb * cout * px)
    {
        const int j = e % px, i = (e / px) % nb, o = e / (nb * px);
        dst[e] = y[(i * cout + o) * px + j];
    }
}

// channel_bias_add adds a convolution's bias to its (n, c, px) output in place, after cuDNN wrote
// the convolution alone, as PyTorch adds it (grid-stride over y).
extern "C" __global__ void channel_bias_add(float* y, const float* bias, int n, int c, int px)
{
    GRID_STRIDE(e, n * c * px) y[e] += bias[(e / px) % c];
}

// channel_partials writes, per (channel, split) work item w = ch·splits + p, the float sum of dy
// over slice p of channel ch's n·px values to partials[p·c + ch], tree-reduced (block per work
// item; blocks loop over the c·splits items, so any grid works): a convolution's bias gradient is
// then sum_rows of the (splits, c) partials, the slices added in order.
extern "C" __global__ void channel_partials(const float* dy, float* partials, int n, int c, int px, int splits)
{
    __shared__ float s[BLOCK];
    const int m = n * px;
    for (int w = blockIdx.x; w < c * splits; w += gridDim.x) {
        const int ch = w / splits;
        int lo, hi;
        split_range(w % splits, splits, m, &lo, &hi);
        float acc = 0.0f;
        for (int e = lo + threadIdx.x; e < hi; e += blockDim.x)
            acc += dy[channel_at(e, ch, c, px)];
        const float total = block_reduce(acc, s);
        if (threadIdx.x == 0)
            partials[(w % splits) * c + ch] = total;
    }
}

// maxpool_forward is PyTorch's MaxPool2d(size), stride size, floor mode: scanning each window row
// by row from −inf, a value wins when it is greater or NaN (so the first maximum wins ties, NaN
// always wins); argmax is the winner's index in its h·w plane (grid-stride over outputs).
extern "C" __global__ void maxpool_forward(const float* x, float* y, int* argmax, int planes, int h, int w,
                                           int size)
{
    const int ho = h / size, wo = w / size;
    GRID_STRIDE(o, planes * ho * wo)
    {
        const float* src = x + (o / (ho * wo)) * (h * w);
        const int oy = (o / wo) % ho, ox = o % wo;
        float best = __uint_as_float(0xff800000u); // −inf
        int at = oy * size * w + ox * size;
        for (int ky = 0; ky < size; ky++) {
            const int row = (oy * size + ky) * w + ox * size;
            for (int kx = 0; kx < size; kx++) {
                const float v = src[row + kx];
                if (v > best || v != v) {
                    best = v;
                    at = row + kx;
                }
            }
        }
        y[o] = best;
        argmax[o] = at;
    }
}

// maxpool_backward routes each output's gradient to its argmax; windows do not overlap, so each
// input pixel reads at most one output and needs no atomics. Pixels outside every window (floor
// mode) get 0 (grid-stride over inputs).
extern "C" __global__ void maxpool_backward(const float* dy, const int* argmax, float* dx, int planes, int h,
                                            int w, int size)
{
    const int ho = h / size, wo = w / size;
    GRID_STRIDE(e, planes * h * w)
    {
        const int q = e % (h * w), oy = q / w / size, ox = q % w / size;
        float g = 0.0f;
        if (oy < ho && ox < wo) {
            const int o = (e / (h * w)) * (ho * wo) + oy * wo + ox;
            if (argmax[o] == q)
                g = dy[o];
        }
        dx[e] = g;
    }
}

// log_softmax_row writes the k values x − max − log Σ exp(x − max) as the CPU backend does: the
// max with NaN winning (Go's max), the float differences widened to double for exp and the sum.
__device__ static void log_softmax_row(const float* x, float* y, int k)
{
    float m = __uint_as_float(0xff800000u); // −inf: x[0] always enters, as the CPU starts from it
    for (int j = 0; j < k; j++)
        if (x[j] > m || x[j] != x[j])
            m = x[j];
    double s = 0.0;
    for (int j = 0; j < k; j++)
        s += exp((double)(x[j] - m));
    const float lse = m + (float)log(s);
    for (int j = 0; j < k; j++)
        y[j] = x[j] - lse;
}

// log_softmax_forward is log_softmax over each row of the (n, k) input (grid-stride over rows).
extern "C" __global__ void log_softmax_forward(const float* x, float* y, int n, int k)
{
    GRID_STRIDE(r, n) log_softmax_row(x + r * k, y + r * k, k);
}

// log_softmax_backward is dx = dy − exp(y)·Σdy per row, the sum in float in order (grid-stride
// over rows).
extern "C" __global__ void log_softmax_backward(const float* y, const float* dy, float* dx, int n, int k)
{
    GRID_STRIDE(r, n)
    {
        const int row = r * k;
        float s = 0.0f;
        for (int j = 0; j < k; j++)
            s += dy[row + j];
        for (int j = 0; j < k; j++)
            dx[row + j] = dy[row + j] - (float)exp((double)y[row + j]) * s;
    }
}

// target_class is the class a float target names, or −1 when it is not an integer in [0, k)
// (NaN included). The range is checked first, in double, so the conversion to int is defined.
__device__ static int target_class(float t, int k)
{
    if (!((double)t >= 0.0 && (double)t < (double)k))
        return -1;
    const int c = (int)t;
    return (float)c == t ? c : -1;
}

// class_loss_forward is NLLLoss (from_logits 0: x holds log-probabilities) or CrossEntropyLoss
// (from_logits 1: logp gets each row's log_softmax): loss[0] = −Σ lp[i, t_i] / n, the sum
// tree-reduced in float. A target that is no class sets *bad to the smallest such sample index
// + 1 and leaves the loss unspecified (single block; threads loop over samples). README does not
// say what happens to *bad when every target is valid: it is not written, so the backend clears it
// beforehand (and may let it accumulate the last error over several calls).
extern "C" __global__ void class_loss_forward(const float* x, const float* targets, float* logp, float* loss,
                                              int* bad, int n, int k, int from_logits)
{
    __shared__ LossPart s[BLOCK];
    LossPart part = {0.0f, INT_MAX_};
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float* lp = x + i * k;
        if (from_logits) {
            log_softmax_row(lp, logp + i * k, k);
            lp = logp + i * k;
        }
        const int t = target_class(targets[i], k);
        if (t >= 0)
            part.sum += lp[t];
        else if (part.bad == INT_MAX_)
            part.bad = i + 1; // this thread's samples ascend: the first is its smallest
    }
    const LossPart total = block_reduce(part, s);
    if (threadIdx.x == 0) {
        loss[0] = -total.sum / (float)n;
        if (total.bad != INT_MAX_)
            *bad = total.bad;
    }
}

// class_loss_backward is the loss's gradient with scale = dloss/n: (softmax − onehot)·scale from
// the saved log-probabilities (from_logits), or −onehot·scale (NLL; logp unused, may be NULL). An
// invalid target, already reported by the forward pass, gets no one-hot term (grid-stride over
// n·k).
extern "C" __global__ void class_loss_backward(const float* logp, const float* targets, const float* dloss,
                                               float* dx, int n, int k, int from_logits)
{
    const float scale = dloss[0] / (float)n;
    GRID_STRIDE(e, n * k)
    {
        const bool hit = e % k == target_class(targets[e / k], k);
        if (from_logits) {
            const float v = (float)exp((double)logp[e]) * scale;
            dx[e] = hit ? v - scale : v;
        } else {
            dx[e] = hit ? -scale : 0.0f;
        }
    }
}

// BatchNorm2d over (n, c, hw) runs as a few kernels so that every channel is split over several
// blocks: a channel holds m = n·hw values (131,072 in VGG's first layers at batch 128), and a block
// per channel left most of a large GPU idle. Each block sums one fixed slice of a channel (its
// "split") into a partial, and a per-channel kernel adds the partials in order, so the result does
// not depend on scheduling. Partials and statistics are doubles kept in the workspace, which the
// kernels take as float* (the host harness passes float buffers) and read as double*.
//
// Forward (train, batch statistics): bn_partials(centered 0) → bn_stats(step 0: mean) →
// bn_partials(centered 1) → bn_stats(step 1: variance, running statistics, scale and shift) →
// bn_normalize. Eval: bn_stats(step 1) from the running statistics → bn_normalize.

// bn_partials writes, per (channel, split) work item w = ch·splits + p, the double sum over its
// slice of x (centered 0) or of (x − mean)² with mean = stats[2·ch] (centered 1) to partials[w]
// (block per work item; blocks loop over the c·splits items, so any grid works).
extern "C" __global__ void bn_partials(const float* x, const float* stats_f, float* partials_f, int n, int c,
                                       int hw, int splits, int centered)
{
    __shared__ double s[BLOCK];
    const double* stats = (const double*)stats_f;
    double* partials = (double*)partials_f;
    const int m = n * hw;
    for (int w = blockIdx.x; w < c * splits; w += gridDim.x) {
        const int ch = w / splits;
        int lo, hi;
        split_range(w % splits, splits, m, &lo, &hi);
        const double mean = centered ? stats[2 * ch] : 0.0;
        double acc = 0.0;
        for (int e = lo + threadIdx.x; e < hi; e += blockDim.x) {
            const double v = (double)x[channel_at(e, ch, c, hw)];
            acc += centered ? (v - mean) * (v - mean) : v;
        }
        const double total = block_reduce(acc, s);
        if (threadIdx.x == 0)
            partials[w] = total;
    }
}

// bn_stats finishes a channel's statistics (grid-stride over channels). Step 0: stats[2·ch] = mean
// = Σ partials / m. Step 1: var = Σ partials / m (eval: mean, var = run_mean, run_var; partials
// unread); train moves run_mean = (1−momentum)·run_mean + momentum·mean and run_var =
// (1−momentum)·run_var + momentum·var·m/(m−1) and adds 1 to counter[0]; invstd = 1/sqrt(var+eps);
// save_mean, save_invstd = (float) of them; stats[2·ch], stats[2·ch+1] = scale = gamma·invstd,
// shift = beta − mean·scale. All in double.
extern "C" __global__ void bn_stats(const float* partials_f, float* stats_f, const float* gamma, const float* beta,
                                    float* run_mean, float* run_var, float* counter, float* save_mean,
                                    float* save_invstd, int c, int splits, int m, double eps, double momentum,
                                    int mode, int step)
{
    const double* partials = (const double*)partials_f;
    double* stats = (double*)stats_f;
    const double dm = (double)m;
    GRID_STRIDE(ch, c)
    {
        double sum = 0.0;
        if (mode != BN_EVAL)
            for (int p = 0; p < splits; p++)
                sum += partials[ch * splits + p];
        if (step == 0) {
            stats[2 * ch] = sum / dm;
            continue;
        }
        double mean, var;
        if (mode == BN_EVAL) {
            mean = (double)run_mean[ch];
            var = (double)run_var[ch];
        } else {
            mean = stats[2 * ch];
            var = sum / dm;
            if (mode == BN_TRAIN) {
                run_mean[ch] = (float)((1.0 - momentum) * (double)run_mean[ch] + momentum * mean);
                run_var[ch] = (float)((1.0 - momentum) * (double)run_var[ch] + momentum * var * dm / (dm - 1.0));
            }
        }
        const double invstd = 1.0 / sqrt(var + eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        const double scale = (double)gamma[ch] * invstd;
        stats[2 * ch] = scale;
        stats[2 * ch + 1] = (double)beta[ch] - mean * scale;
    }
    if (step == 1 && mode == BN_TRAIN && blockIdx.x == 0 && threadIdx.x == 0)
        counter[0] += 1.0f;
}

// bn_normalize is y = (float)(x·scale + shift) in double, scale and shift from bn_stats
// (grid-stride over n·c·hw).
extern "C" __global__ void bn_normalize(const float* x, const float* stats_f, float* y, int n, int c, int hw)
{
    const double* stats = (const double*)stats_f;
    GRID_STRIDE(e, n * c * hw)
    {
        const int ch = (e / hw) % c;
        y[e] = (float)((double)x[e] * stats[2 * ch] + stats[2 * ch + 1]);
    }
}

// Backward: bn_grad_partials → bn_grad_sums, then for dx bn_grad_input (eval's dx needs no sums).

// bn_grad_partials writes, per (channel, split) work item w, the double sums Σ dy and
// Σ dy·(x − mean)·invstd over its slice to partials[2·w], partials[2·w+1], mean and invstd read
// from the saved floats (block per work item; any grid works).
extern "C" __global__ void bn_grad_partials(const float* x, const float* dy, const float* save_mean,
                                            const float* save_invstd, float* partials_f, int n, int c, int hw,
                                            int splits)
{
    __shared__ BNSums s[BLOCK];
    double* partials = (double*)partials_f;
    const int m = n * hw;
    for (int w = blockIdx.x; w < c * splits; w += gridDim.x) {
        const int ch = w / splits;
        int lo, hi;
        split_range(w % splits, splits, m, &lo, &hi);
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        BNSums sums = {0.0, 0.0};
        for (int e = lo + threadIdx.x; e < hi; e += blockDim.x) {
            const int at = channel_at(e, ch, c, hw);
            const double g = (double)dy[at];
            sums.dy += g;
            sums.dy_xhat += g * ((double)x[at] - mean) * invstd;
        }
        sums = block_reduce(sums, s);
        if (threadIdx.x == 0) {
            partials[2 * w] = sums.dy;
            partials[2 * w + 1] = sums.dy_xhat;
        }
    }
}

// bn_grad_sums adds a channel's partials in order (grid-stride over channels): wrt 1 out[ch] =
// (float) Σ dy·x̂ (dγ), wrt 2 out[ch] = (float) Σ dy (dβ), wrt 0 the two sums into sums[2·ch],
// sums[2·ch+1] (doubles) for bn_grad_input.
extern "C" __global__ void bn_grad_sums(const float* partials_f, float* sums_f, float* out, int c, int splits,
                                        int wrt)
{
    const double* partials = (const double*)partials_f;
    double* sums = (double*)sums_f;
    GRID_STRIDE(ch, c)
    {
        double dy = 0.0, dy_xhat = 0.0;
        for (int p = 0; p < splits; p++) {
            dy += partials[2 * (ch * splits + p)];
            dy_xhat += partials[2 * (ch * splits + p) + 1];
        }
        if (wrt == 1)
            out[ch] = (float)dy_xhat;
        else if (wrt == 2)
            out[ch] = (float)dy;
        else {
            sums[2 * ch] = dy;
            sums[2 * ch + 1] = dy_xhat;
        }
    }
}

// bn_grad_input is dx with g = gamma·invstd: eval mode dx = (float)(dy·g), else dx =
// (float)(g·(dy − sum_dy/m − x̂·sum_dy_xhat/m)), x̂ = (x − mean)·invstd, in double; sums (from
// bn_grad_sums) is unread in eval mode (grid-stride over n·c·hw).
extern "C" __global__ void bn_grad_input(const float* x, const float* gamma, const float* dy,
                                         const float* save_mean, const float* save_invstd, const float* sums_f,
                                         float* dx, int n, int c, int hw, int mode)
{
    const double* sums = (const double*)sums_f;
    const double dm = (double)(n * hw);
    GRID_STRIDE(e, n * c * hw)
    {
        const int ch = (e / hw) % c;
        const double invstd = (double)save_invstd[ch];
        const double g = (double)gamma[ch] * invstd;
        if (mode == BN_EVAL) {
            dx[e] = (float)((double)dy[e] * g);
        } else {
            const double xhat = ((double)x[e] - (double)save_mean[ch]) * invstd;
            dx[e] = (float)(g * ((double)dy[e] - sums[2 * ch] / dm - xhat * sums[2 * ch + 1] / dm));
        }
    }
}

// The optimizer updates are multi-tensor: one launch updates every parameter, as PyTorch's
// foreach optimizers do, where a launch per parameter cost VGG16 some 50 launches a step. Each
// tensor is a row of ints in table: its buffers as signed 64-bit element offsets from base (two
// ints each, low word first), then its length. The offsets are integer arithmetic on addresses, so
// the buffers may lie in different allocations.

// tensor_at is the buffer at the offset in row[0], row[1] from base.
__device__ static float* tensor_at(float* base, const int* row)
{
    const long long off = (long long)(((unsigned long long)(unsigned int)row[1] << 32) | (unsigned int)row[0]);
    return (float*)((unsigned long long)base + (unsigned long long)(off * 4));
}

// sgd_steps is one torch.optim.SGD update in float, as cpu.Backend.SGD, of count tensors, table
// rows of 8 ints: p, g, v offsets and n (v unread when momentum is 0; grid-stride per tensor).
extern "C" __global__ void sgd_steps(float* base, const int* table, int count, float lr, float momentum,
                                     float wd, int first)
{
    const float neg_lr = -lr;
    for (int k = 0; k < count; k++) {
        const int* row = table + 8 * k;
        float* p = tensor_at(base, row);
        const float* g = tensor_at(base, row + 2);
        float* v = tensor_at(base, row + 4);
        const int n = row[6];
        GRID_STRIDE(i, n)
        {
            const float d = g[i] + wd * p[i];
            if (momentum == 0.0f) {
                p[i] += neg_lr * d;
            } else {
                const float vi = first ? d : momentum * v[i] + d;
                v[i] = vi;
                p[i] += neg_lr * vi;
            }
        }
    }
}

// adam_steps is one torch.optim.Adam update in float, as cpu.Backend.Adam, of count tensors, table
// rows of 10 ints: p, g, m, v offsets and n (grid-stride per tensor).
extern "C" __global__ void adam_steps(float* base, const int* table, int count, float beta1,
                                      float one_minus_beta1, float beta2, float one_minus_beta2, float neg_step,
                                      float bc2_sqrt, float eps, float wd)
{
    for (int k = 0; k < count; k++) {
        const int* row = table + 10 * k;
        float* p = tensor_at(base, row);
        const float* g = tensor_at(base, row + 2);
        float* m = tensor_at(base, row + 4);
        float* v = tensor_at(base, row + 6);
        const int n = row[8];
        GRID_STRIDE(i, n)
        {
            float d = g[i];
            if (wd != 0.0f)
                d += wd * p[i];
            const float mi = beta1 * m[i] + one_minus_beta1 * d;
            const float vi = beta2 * v[i] + one_minus_beta2 * d * d;
            m[i] = mi;
            v[i] = vi;
            p[i] += neg_step * mi / (sqrtf(vi) / bc2_sqrt + eps);
        }
    }
}
