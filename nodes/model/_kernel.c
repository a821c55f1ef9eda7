/*
 * posecog.nodes.model._kernel: the pose_v1 forward pass and the per-window confidence in one
 * compiled call, for live inference at batch 1 (no numpy dispatch on the hot path).
 *
 * It computes exactly what numpy_backend.py and confidence.py compute (float32 activations
 * accumulated in float32, like numpy's sgemm; the confidence's factors in the same precisions
 * as numpy's promotions), so results agree with them within float rounding. Inputs that are
 * exactly zero (most of them after each ReLU) are skipped: they add exactly nothing.
 *
 *   prepare(convs, fc1_weight, fc1_bias, fc2_weight, fc2_bias, mean, std) -> model (a capsule)
 *       convs: sequence of (weight[C_out, C_in, K], bias[C_out], padding, dilation); the
 *       weights (finite) are copied once, packed in blocks of output channels. mean, std: None,
 *       or float32 [T, C0] (the layout-mapped input normalisation, time-major; T is then the
 *       only accepted window length).
 *   forward(model, x[B, C0, T], out[B, 17, 2])                          the model's own layout
 *   infer(model, frames[B, T, C0], subcarrier_major, keypoints[B, 17, 2], confidence[B])
 *       frames as they flow (frame-major, raw amplitudes); subcarrier_major False reads the
 *       window's flat buffer as [C0, T] (flat_frame_major), True transposes it.
 *   confidence(frames[B, T, n], keypoints[B, 17, 2], out[B])
 *
 * Every array goes through the buffer protocol: float32 ('f'), C-contiguous, outputs writable;
 * anything else is a TypeError (not float32, no buffer) or ValueError (shape, contiguity),
 * never a crash. The GIL is released while computing. ISA names the code path in use:
 * "avx2+fma" (x86-64 CPUs that have both, chosen once at import unless the environment says
 * POSECOG_KERNEL_ISA=generic) or "generic" (-O3 for the baseline ISA: SSE2 on x86-64, NEON on
 * aarch64).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAPSULE_NAME "posecog.nodes.model._kernel.Model"
#define MAX_CONV 8
#define N_KEYPOINTS 17
#define N_OUT (2 * N_KEYPOINTS)
/* Output channels of one register block of the convolution (the weights are packed by it), and
 * the most time steps of one block (any code path's). */
#define OB 16
#define TB 4
/* Output block of the fully connected layers. */
#define FB 32

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

/* Multiversioning: the compute is written once (ALWAYS_INLINE bodies) and instantiated twice,
 * with the target attribute "avx2,fma" and for the baseline ISA; the AVX2+FMA copy is chosen at
 * import when the CPU has both. (target_clones("avx2,fma", "default") would make an avx2 clone
 * without FMA and a separate fma clone, and the resolver prefers the avx2 one; it also needs
 * ifunc support from the C library.) */
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_DISPATCH 1
#endif

/* ---------------------------------------------------------------------------------------- */
/* The prepared model                                                                          */

/* Weights are packed by block of output channels: one block's weights are one contiguous
 * stream, read once per window and kept in L1 while it is used. */
typedef struct {
    Py_ssize_t c_in, c_out, c_out_pad, k, pad, dil;
    /* [c_out_pad / OB][k * c_in][OB]: row tap * c_in + c of block ob holds the weights of tap
     * `tap`, input channel c, to outputs ob * OB .. ob * OB + OB - 1 (zero beyond c_out) */
    float *w;
    float *b; /* [c_out_pad], zero beyond c_out */
} Conv;

typedef struct {
    Py_ssize_t n_in, n_out, n_out_pad;
    float *w; /* [n_out_pad / FB][n_in][FB]: the transposed Linear weight, zero beyond n_out */
    float *b; /* [n_out_pad] */
} Dense;

typedef struct {
    int n_conv;
    Conv conv[MAX_CONV];
    Dense fc1, fc2;
    Py_ssize_t c0;       /* input channels (subcarriers) */
    Py_ssize_t norm_t;   /* window length of mean/std, 0 without normalisation */
    float *mean, *std;   /* [norm_t][c0], time-major, or NULL */
    Py_ssize_t lm;       /* zero rows the convolutions read before the window */
    Py_ssize_t width;    /* widest activation row (floats) */
    Py_ssize_t max_kc;   /* largest K * C_in of the convolutions */
    /* Scratch kept between calls (claimed and released with the GIL held): a fresh zeroed
     * buffer per call costs page faults and zeroing at every window. */
    float *scratch;
    Py_ssize_t scratch_size; /* floats */
    Py_ssize_t scratch_t;    /* the window length its zero padding rows are laid out for */
    int scratch_busy;        /* another thread is in the kernel with it */
} Model;

static void *alloc_aligned(size_t n_floats)
{
    /* 64-byte aligned, zero-filled; the original pointer is kept just before the block. */
    size_t bytes = n_floats * sizeof(float) + 64 + sizeof(void *);
    char *raw = calloc(1, bytes);
    if (raw == NULL) {
        return NULL;
    }
    uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    return (void *)p;
}

static void free_aligned(void *p)
{
    if (p != NULL) {
        free(((void **)p)[-1]);
    }
}

static void model_free(Model *m)
{
    for (int i = 0; i < m->n_conv; i++) {
        free_aligned(m->conv[i].w);
        free_aligned(m->conv[i].b);
    }
    free_aligned(m->fc1.w);
    free_aligned(m->fc1.b);
    free_aligned(m->fc2.w);
    free_aligned(m->fc2.b);
    free_aligned(m->mean);
    free_aligned(m->std);
    free_aligned(m->scratch);
    free(m);
}

static void capsule_destructor(PyObject *capsule)
{
    Model *m = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (m != NULL) {
        model_free(m);
    }
}

/* Scratch of a forward pass of windows of T frames plus `extra` floats; GIL held. The model's
 * own buffer when it is free (its padding rows are still zero from the last call with this T:
 * the forward pass writes only rows 0..T-1), else a fresh zeroed one (*owned = 1). */
static float *scratch_claim(Model *m, Py_ssize_t need, Py_ssize_t T, int *owned)
{
    if (m->scratch_busy) {
        *owned = 1;
        return alloc_aligned((size_t)need);
    }
    *owned = 0;
    if (m->scratch == NULL || m->scratch_size < need) {
        free_aligned(m->scratch);
        m->scratch = alloc_aligned((size_t)need);
        m->scratch_size = m->scratch != NULL ? need : 0;
        m->scratch_t = T;
    } else if (m->scratch_t != T) {
        memset(m->scratch, 0, (size_t)m->scratch_size * sizeof(float));
        m->scratch_t = T;
    }
    if (m->scratch != NULL) {
        m->scratch_busy = 1;
    }
    return m->scratch;
}

static void scratch_release(Model *m, float *scratch, int owned)
{
    if (owned) {
        free_aligned(scratch);
    } else {
        m->scratch_busy = 0;
    }
}

static Model *get_model(PyObject *obj)
{
    if (!PyCapsule_IsValid(obj, CAPSULE_NAME)) {
        PyErr_Format(PyExc_TypeError, "model must be the result of _kernel.prepare(); got %.80s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return PyCapsule_GetPointer(obj, CAPSULE_NAME);
}

static Py_ssize_t round_up(Py_ssize_t n, Py_ssize_t block) { return (n + block - 1) / block * block; }

/* ---------------------------------------------------------------------------------------- */
/* Buffers                                                                                     */

/* Get a float32 C-contiguous buffer of `ndim` dimensions; on failure a TypeError/ValueError
 * naming `what` is set and -1 returned (view is then not held). */
static int get_f32(PyObject *obj, Py_buffer *view, int ndim, int writable, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a float32 array (buffer protocol); got %.80s",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        /* numpy says "ndarray is not C-contiguous" (ValueError) or "... not writeable"
         * (BufferError); say which argument and what is needed. */
        if (PyErr_ExceptionMatches(PyExc_BufferError) ||
            PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
            PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous%s float32 array (%S)", what,
                         writable ? ", writable" : "", text != NULL ? text : Py_None);
            Py_XDECREF(text);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
        }
        return -1;
    }
    const char *f = view->format != NULL ? view->format : "B";
    if (f[0] == '@' || f[0] == '=' || (f[0] == '<' && PY_LITTLE_ENDIAN) ||
        (f[0] == '>' && PY_BIG_ENDIAN)) {
        f++;
    }
    if (strcmp(f, "f") != 0 || view->itemsize != (Py_ssize_t)sizeof(float)) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 (format 'f'); got format '%s'", what,
                     view->format != NULL ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimensions; got %d", what, ndim,
                     view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release_all(Py_buffer *views, int n)
{
    for (int i = 0; i < n; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* "[a, b, c]" of a view's shape, for error messages. */
static PyObject *shape_str(const Py_buffer *v)
{
    PyObject *list = PyList_New(v->ndim);
    if (list == NULL) {
        return NULL;
    }
    for (int i = 0; i < v->ndim; i++) {
        PyList_SET_ITEM(list, i, PyLong_FromSsize_t(v->shape[i]));
    }
    PyObject *s = PyObject_Str(list);
    Py_DECREF(list);
    return s;
}

static void shape_error(const char *what, const char *want, const Py_buffer *v)
{
    PyObject *got = shape_str(v);
    if (got != NULL) {
        PyErr_Format(PyExc_ValueError, "%s must have shape %s; got %U", what, want, got);
        Py_DECREF(got);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Forward pass                                                                                */

#if defined(__GNUC__)
typedef float v8f __attribute__((vector_size(32))); /* one AVX register */
typedef float v4f __attribute__((vector_size(16))); /* one SSE or NEON register */
#endif

/* The input channels of each (time block, tap) of a convolution that are not zero on all the
 * block's rows: list[(block * K + tap) * C_in + ...], count[block * K + tap]. Only those are
 * multiplied: a zero input adds exactly nothing (the weights are finite), and after a ReLU
 * most inputs are zero (pose_v1 on real CSI: 97 % of the second layer's, 82 % of the third's).
 * flag: C_in bytes of scratch. */
ALWAYS_INLINE void live_inputs(const Conv *L, const float *in, Py_ssize_t in_stride,
                               Py_ssize_t T, const int tb, int32_t *list, Py_ssize_t *count,
                               unsigned char *flag)
{
    const Py_ssize_t c_in = L->c_in;
    Py_ssize_t blk = 0;
    for (Py_ssize_t t0 = 0; t0 < T; t0 += tb) {
        for (Py_ssize_t tap = 0; tap < L->k; tap++, blk++) {
            const Py_ssize_t s = tap * L->dil - L->pad;
            Py_ssize_t n = 0;
            if (t0 + s + tb > 0 && t0 + s < T) { /* else the block reads zero padding only */
                memset(flag, 0, (size_t)c_in);
                for (int i = 0; i < tb; i++) {
                    const float *row = in + (t0 + s + i) * in_stride;
                    for (Py_ssize_t c = 0; c < c_in; c++) {
                        flag[c] |= row[c] != 0.0f; /* NaN counts as live */
                    }
                }
                int32_t *out = list + blk * c_in;
                for (Py_ssize_t c = 0; c < c_in; c++) {
                    out[n] = (int32_t)c;
                    n += flag[c];
                }
            }
            count[blk] = n;
        }
    }
}

/* The two hot loops, conv_layer_<sfx> and dense_<sfx>, written once for a vector type `vt` of
 * `lanes` floats and `tb` time steps per register block, and instantiated per code path below
 * (the accumulators, tb * OB / lanes vectors, must fit in the registers).
 *
 * conv_layer: out[t][o] (o < c_out_pad, t < T) = relu(bias[o] + sum_{tap, c}
 * in[t + tap*dil - pad][c] * w[tap][c][o]), over the live inputs only (live_inputs). `in` and
 * `out` point at time 0 of buffers with zero rows around the window (forward_rows); only rows
 * 0..T-1 of `out` are written, so its padding rows stay zero for the next layer. Accumulates in
 * float32, the bias added last (as numpy). list, count, flag: scratch for live_inputs.
 *
 * dense: out[o] = act(b[o] + sum_i in[i] * w[i][o]) for o < n_out_pad, over the non-zero
 * inputs; relu when `relu`. list: n_in int32 of scratch. */
#define DEFINE_HOT_LOOPS(sfx, vt, lanes, tb)                                                    \
    ALWAYS_INLINE void conv_layer_##sfx(const Conv *L, const float *in, Py_ssize_t in_stride,   \
                                        float *out, Py_ssize_t T, int32_t *list,                \
                                        Py_ssize_t *count, unsigned char *flag)                 \
    {                                                                                           \
        enum { NV = OB / (lanes) };                                                             \
        const Py_ssize_t c_in = L->c_in, cop = L->c_out_pad, rows = L->k * c_in;                \
        live_inputs(L, in, in_stride, T, (tb), list, count, flag);                              \
        for (Py_ssize_t o0 = 0; o0 < cop; o0 += OB) {                                           \
            /* this block's weights (~24 KB for 128 inputs) stay in L1 over the time blocks */  \
            const float *wb = L->w + o0 * rows;                                                 \
            Py_ssize_t blk = 0;                                                                 \
            for (Py_ssize_t t0 = 0; t0 < T; t0 += (tb)) {                                       \
                vt acc[tb][NV];                                                                 \
                for (int i = 0; i < (tb); i++) {                                                \
                    for (int j = 0; j < NV; j++) {                                              \
                        acc[i][j] = (vt){0};                                                    \
                    }                                                                           \
                }                                                                               \
                for (Py_ssize_t tap = 0; tap < L->k; tap++, blk++) {                            \
                    const Py_ssize_t s = tap * L->dil - L->pad;                                 \
                    const float *h = in + (t0 + s) * in_stride;                                 \
                    const float *w = wb + tap * c_in * OB;                                      \
                    const int32_t *live = list + blk * c_in;                                    \
                    for (Py_ssize_t n = 0; n < count[blk]; n++) {                               \
                        const Py_ssize_t c = live[n];                                           \
                        vt wv[NV]; /* one load per vector: kept in registers */                 \
                        for (int j = 0; j < NV; j++) {                                          \
                            memcpy(&wv[j], w + c * OB + j * (lanes), sizeof(vt));               \
                        }                                                                       \
                        for (int i = 0; i < (tb); i++) {                                        \
                            const float x = h[i * in_stride + c];                               \
                            for (int j = 0; j < NV; j++) {                                      \
                                acc[i][j] += wv[j] * x;                                         \
                            }                                                                   \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
                const float *bias = L->b + o0;                                                  \
                for (int i = 0; i < (tb) && t0 + i < T; i++) {                                  \
                    float row[OB];                                                              \
                    memcpy(row, acc[i], sizeof row);                                            \
                    float *o = out + (t0 + i) * cop + o0;                                       \
                    for (int j = 0; j < OB; j++) {                                              \
                        const float v = row[j] + bias[j];                                       \
                        o[j] = v < 0.0f ? 0.0f : v; /* NaN stays NaN, like np.maximum */        \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    ALWAYS_INLINE void dense_##sfx(const Dense *D, const float *in, float *out, int relu,      \
                                   int32_t *list)                                               \
    {                                                                                           \
        enum { NF = FB / (lanes) };                                                             \
        Py_ssize_t n_live = 0; /* the non-zero inputs (most are zero after a ReLU) */           \
        for (Py_ssize_t i = 0; i < D->n_in; i++) {                                              \
            list[n_live] = (int32_t)i;                                                          \
            n_live += in[i] != 0.0f;                                                            \
        }                                                                                       \
        for (Py_ssize_t o0 = 0; o0 < D->n_out_pad; o0 += FB) {                                  \
            const float *wb = D->w + o0 * D->n_in;                                              \
            vt acc[NF];                                                                         \
            for (int j = 0; j < NF; j++) {                                                      \
                acc[j] = (vt){0};                                                               \
            }                                                                                   \
            for (Py_ssize_t n = 0; n < n_live; n++) {                                           \
                const Py_ssize_t i = list[n];                                                   \
                const float x = in[i];                                                          \
                for (int j = 0; j < NF; j++) {                                                  \
                    vt wv;                                                                      \
                    memcpy(&wv, wb + i * FB + j * (lanes), sizeof wv);                          \
                    acc[j] += wv * x;                                                           \
                }                                                                               \
            }                                                                                   \
            float row[FB];                                                                      \
            memcpy(row, acc, sizeof row);                                                       \
            for (int j = 0; j < FB; j++) {                                                      \
                const float v = row[j] + D->b[o0 + j];                                          \
                out[o0 + j] = (relu && v < 0.0f) ? 0.0f : v;                                    \
            }                                                                                   \
        }                                                                                       \
    }

#if defined(__GNUC__)
DEFINE_HOT_LOOPS(wide, v8f, 8, 4) /* AVX2 + FMA: 8 accumulators of 16 */
#if defined(__aarch64__)
DEFINE_HOT_LOOPS(narrow, v4f, 4, 4) /* NEON: 16 accumulators of 32 registers */
#else
DEFINE_HOT_LOOPS(narrow, v4f, 4, 2) /* SSE2: 8 accumulators of 16 registers */
#endif
#else
DEFINE_HOT_LOOPS(narrow, float, 1, 2) /* plain C for other compilers */
#define conv_layer_wide conv_layer_narrow
#define dense_wide dense_narrow
#endif

/* Rows of one activation buffer: lm zero rows, the window rounded up to the block, and TB zero
 * rows after it. conv_layer skips a tap whose block starts at or after T, so a block reads at
 * most up to row T + tb - 2 (tb <= TB), and never before -pad. */
static Py_ssize_t forward_rows(const Model *m, Py_ssize_t T)
{
    return m->lm + round_up(T, TB) + TB;
}

/* int32 entries of the input lists: live_inputs' (at most one block per frame) or dense's. */
static Py_ssize_t list_size(const Model *m, Py_ssize_t T)
{
    Py_ssize_t n = T * m->max_kc;
    n = m->fc1.n_in > n ? m->fc1.n_in : n;
    n = m->fc2.n_in > n ? m->fc2.n_in : n;
    return round_up(n, 16);
}

/* In floats: the activation buffers, the head's vectors, then the input lists (int32), the
 * counts of live_inputs (Py_ssize_t: two floats each, one per block and tap) and its flags. */
static Py_ssize_t forward_scratch(const Model *m, Py_ssize_t T)
{
    return (Py_ssize_t)(m->n_conv + 1) * forward_rows(m, T) * m->width + m->fc1.n_in +
           m->fc1.n_out_pad + m->fc2.n_out_pad + 3 * 16 + list_size(m, T) + 2 * T * m->max_kc +
           m->width + 16;
}

/* Forward pass of B windows. Element (c, t) of window b is src[b*C0*T + c*T + t] when
 * !time_major (the model's [C0, T] layout, or flat_frame_major frames), else
 * src[b*T*C0 + t*C0 + c] (subcarrier_major frames). out: [B][N_OUT]. scratch:
 * forward_scratch(m, T) floats, zero at least outside rows 0..T-1 of each activation buffer. */
ALWAYS_INLINE void forward_impl(const Model *m, const float *src, Py_ssize_t B, Py_ssize_t T,
                                int time_major, float *out, float *scratch, const int wide)
{
    const Py_ssize_t rows = forward_rows(m, T), c0 = m->c0;
    float *bufs[MAX_CONV + 1];
    for (int l = 0; l <= m->n_conv; l++) {
        /* bufs[l] points at time 0; lm zero rows lie before it. */
        bufs[l] = scratch + (Py_ssize_t)l * rows * m->width + m->lm * m->width;
    }
    float *pooled = scratch + (Py_ssize_t)(m->n_conv + 1) * rows * m->width;
    float *z1 = pooled + round_up(m->fc1.n_in, 16);
    float *z2 = z1 + round_up(m->fc1.n_out_pad, 16);
    int32_t *list = (int32_t *)(z2 + round_up(m->fc2.n_out_pad, 16));
    Py_ssize_t *count = (Py_ssize_t *)(list + list_size(m, T));
    unsigned char *flag = (unsigned char *)(count + T * m->max_kc);
    for (Py_ssize_t b = 0; b < B; b++) {
        const float *x = src + b * c0 * T;
        float *h0 = bufs[0];
        for (Py_ssize_t t = 0; t < T; t++) {
            float *row = h0 + t * c0;
            if (time_major) {
                memcpy(row, x + t * c0, (size_t)c0 * sizeof(float));
            } else {
                for (Py_ssize_t c = 0; c < c0; c++) {
                    row[c] = x[c * T + t];
                }
            }
            if (m->mean != NULL) {
                const float *mu = m->mean + t * c0, *sd = m->std + t * c0;
                for (Py_ssize_t c = 0; c < c0; c++) {
                    row[c] = (row[c] - mu[c]) / sd[c];
                }
            }
        }
        Py_ssize_t stride = c0;
        for (int l = 0; l < m->n_conv; l++) {
            if (wide) {
                conv_layer_wide(&m->conv[l], bufs[l], stride, bufs[l + 1], T, list, count, flag);
            } else {
                conv_layer_narrow(&m->conv[l], bufs[l], stride, bufs[l + 1], T, list, count,
                                  flag);
            }
            stride = m->conv[l].c_out_pad;
        }
        /* Mean over time, summed in time order like numpy's reduction over the axis. */
        const float *h = bufs[m->n_conv];
        const Py_ssize_t c_last = m->fc1.n_in;
        for (Py_ssize_t c = 0; c < c_last; c++) {
            pooled[c] = 0.0f;
        }
        for (Py_ssize_t t = 0; t < T; t++) {
            const float *row = h + t * stride;
            for (Py_ssize_t c = 0; c < c_last; c++) {
                pooled[c] += row[c];
            }
        }
        for (Py_ssize_t c = 0; c < c_last; c++) {
            pooled[c] /= (float)T;
        }
        if (wide) {
            dense_wide(&m->fc1, pooled, z1, 1, list);
            dense_wide(&m->fc2, z1, z2, 0, list);
        } else {
            dense_narrow(&m->fc1, pooled, z1, 1, list);
            dense_narrow(&m->fc2, z1, z2, 0, list);
        }
        float *o = out + b * N_OUT;
        for (int j = 0; j < N_OUT; j++) {
            o[j] = 0.5f * (1.0f + tanhf(0.5f * z2[j]));
        }
    }
}

#ifdef HAVE_X86_DISPATCH
__attribute__((target("avx2,fma"))) static void forward_avx2(const Model *m, const float *src,
                                                             Py_ssize_t B, Py_ssize_t T,
                                                             int time_major, float *out,
                                                             float *scratch)
{
    forward_impl(m, src, B, T, time_major, out, scratch, 1);
}
#endif

static void forward_generic(const Model *m, const float *src, Py_ssize_t B, Py_ssize_t T,
                            int time_major, float *out, float *scratch)
{
    forward_impl(m, src, B, T, time_major, out, scratch, 0);
}

typedef void (*forward_fn)(const Model *, const float *, Py_ssize_t, Py_ssize_t, int, float *,
                           float *);
static forward_fn forward_run = forward_generic;
static const char *isa_name = "generic";

/* ---------------------------------------------------------------------------------------- */
/* Confidence (confidence.py, factor by factor, in numpy's precisions)                         */

static const int BONE_A[8] = {5, 7, 11, 13, 6, 8, 12, 14};
static const int BONE_B[8] = {7, 9, 13, 15, 8, 10, 14, 16};

static Py_ssize_t expected_live(Py_ssize_t n)
{
    Py_ssize_t live = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (!(k == 0 || (k >= 27 && k <= 37))) {
            live++;
        }
    }
    return live > 1 ? live : 1;
}

/* numpy's pairwise float32 summation (what np.sum does along a contiguous axis). */
static float pairwise_sum(const float *a, Py_ssize_t n)
{
    if (n < 8) {
        float res = -0.0f;
        for (Py_ssize_t i = 0; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    if (n <= 128) {
        float r[8];
        Py_ssize_t i;
        for (int j = 0; j < 8; j++) {
            r[j] = a[j];
        }
        for (i = 8; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; j++) {
                r[j] += a[i + j];
            }
        }
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            res += a[i];
        }
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* np.clip(x, 0, 1): NaN stays NaN. */
static double clip01(double x)
{
    if (x != x) {
        return x;
    }
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

/* NaN-last ascending insertion sort, like np.sort on float64. */
static void sort_nan_last(double *v, Py_ssize_t n)
{
    for (Py_ssize_t i = 1; i < n; i++) {
        const double x = v[i];
        Py_ssize_t j = i;
        if (x == x) { /* a NaN stays where it is (the end of the sorted prefix) */
            while (j > 0 && !(v[j - 1] <= x)) {
                v[j] = v[j - 1];
                j--;
            }
        }
        v[j] = x;
    }
}

/* Scratch of the confidence of one window, in floats (a doubles array counts twice). */
static Py_ssize_t confidence_scratch(Py_ssize_t T, Py_ssize_t n)
{
    return 2 * T + T * n + 3 * n + 16;
}

/* q_in of one window fr[T][n]. */
static float input_quality(const float *fr, Py_ssize_t T, Py_ssize_t n, float *scratch)
{
    double *ratios = (double *)scratch;               /* [T] (scratch is 64-byte aligned) */
    float *a = scratch + 2 * T;                         /* [T][n]: |frames|, non-finite as 0 */
    float *tmp = a + T * n;                             /* [n] */
    float *live = tmp + n;                              /* [n]: 1.0 for a live subcarrier, else 0 */
    float *pair = live + n;                             /* [n - 1]: 1.0 for two live neighbours */
    /* The loops are branch-free (masks, not conditions): the data decide nothing predictable. */
    Py_ssize_t n_finite = 0;
    for (Py_ssize_t i = 0; i < T * n; i++) {
        const float v = fr[i];
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        const int fin = (bits & 0x7f800000u) != 0x7f800000u;
        a[i] = fin ? fabsf(v) : 0.0f;
        n_finite += fin;
    }
    const double finite = (double)n_finite / (double)(T * n);

    /* live: mean over time (summed in time order, divided in float32) > 1e-6 */
    for (Py_ssize_t k = 0; k < n; k++) {
        tmp[k] = 0.0f;
    }
    for (Py_ssize_t t = 0; t < T; t++) {
        for (Py_ssize_t k = 0; k < n; k++) {
            tmp[k] += a[t * n + k];
        }
    }
    Py_ssize_t n_live = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        const int is_live = (tmp[k] / (float)T) > 1e-6f;
        live[k] = (float)is_live;
        n_live += is_live;
    }
    double live_f = (double)n_live / (double)expected_live(n);
    live_f = live_f < 1.0 ? live_f : 1.0;

    /* changing: consecutive frames that differ anywhere */
    Py_ssize_t changed = 0;
    for (Py_ssize_t t = 1; t < T; t++) {
        const float *p = a + (t - 1) * n, *q = a + t * n;
        for (Py_ssize_t k = 0; k < n; k++) {
            if (q[k] != p[k]) {
                changed++;
                break;
            }
        }
    }
    double half = 0.5 * (double)(T - 1);
    double changing = (double)changed / (half > 1.0 ? half : 1.0);
    changing = changing < 1.0 ? changing : 1.0;

    /* unsaturated: share of live values at the window's maximum */
    float peak = a[0];
    for (Py_ssize_t i = 1; i < T * n; i++) {
        peak = a[i] > peak ? a[i] : peak;
    }
    const float thr = peak * (float)(1.0 - 1e-6);
    Py_ssize_t at_peak = 0;
    for (Py_ssize_t t = 0; t < T; t++) {
        const float *row = a + t * n;
        for (Py_ssize_t k = 0; k < n; k++) {
            at_peak += (row[k] >= thr) & (live[k] != 0.0f);
        }
    }
    const Py_ssize_t denom = n_live * T > 1 ? n_live * T : 1;
    const double frac_peak = (double)at_peak / (double)denom;
    const float unsaturated = (float)clip01((frac_peak - 0.30) / (0.05 - 0.30));

    /* smooth: median over frames of mean |a[k+1] - a[k]| / mean a, over live neighbours */
    Py_ssize_t n_pair = 0;
    for (Py_ssize_t k = 0; k + 1 < n; k++) {
        pair[k] = live[k] * live[k + 1];
        n_pair += pair[k] != 0.0f;
    }
    n_pair = n_pair > 1 ? n_pair : 1;
    const Py_ssize_t live_div = n_live > 1 ? n_live : 1;
    for (Py_ssize_t t = 0; t < T; t++) {
        const float *row = a + t * n;
        /* as numpy: the values times the masks (a is finite and >= 0, so 0 where masked) */
        for (Py_ssize_t k = 0; k + 1 < n; k++) {
            tmp[k] = fabsf(row[k + 1] - row[k]) * pair[k];
        }
        const double diffs = (double)pairwise_sum(tmp, n - 1) / (double)n_pair;
        for (Py_ssize_t k = 0; k < n; k++) {
            tmp[k] = row[k] * live[k];
        }
        double level = (double)pairwise_sum(tmp, n) / (double)live_div;
        level = (level != level || level > 1e-6) ? level : 1e-6; /* np.maximum keeps NaN */
        ratios[t] = diffs / level;
    }
    sort_nan_last(ratios, T);
    const double rough = 0.5 * (ratios[(T - 1) / 2] + ratios[T / 2]);
    const float smooth = (float)clip01((rough - 0.5) / (0.25 - 0.5));

    return (float)(finite * live_f * changing * (double)unsaturated * (double)smooth);
}

/* q_out of one pose kp[17][2]. */
static float output_plausibility(const float *kp_in)
{
    float kp[N_OUT];
    int ok = 1;
    for (int j = 0; j < N_OUT; j++) {
        if (isfinite(kp_in[j])) {
            kp[j] = kp_in[j];
        } else {
            kp[j] = 0.5f;
            ok = 0;
        }
    }
    if (!ok) {
        return 0.0f;
    }
    int near_edge = 0;
    for (int j = 0; j < N_OUT; j++) {
        const float other = 1.0f - kp[j];
        const float margin = kp[j] < other ? kp[j] : other;
        near_edge += margin < 0.01f;
    }
    const double unsaturated = 1.0 - (double)near_edge / (double)N_OUT;
    float lo[2], hi[2];
    for (int d = 0; d < 2; d++) {
        lo[d] = hi[d] = kp[d];
        for (int j = 1; j < N_KEYPOINTS; j++) {
            const float v = kp[2 * j + d];
            lo[d] = v < lo[d] ? v : lo[d];
            hi[d] = v > hi[d] ? v : hi[d];
        }
    }
    const float ex = hi[0] - lo[0], ey = hi[1] - lo[1];
    float spread = sqrtf(ex * ex + ey * ey) / 0.05f;
    spread = spread < 1.0f ? spread : 1.0f;
    float length[8];
    for (int i = 0; i < 8; i++) {
        const float dx = kp[2 * BONE_A[i]] - kp[2 * BONE_B[i]];
        const float dy = kp[2 * BONE_A[i] + 1] - kp[2 * BONE_B[i] + 1];
        length[i] = sqrtf(dx * dx + dy * dy);
    }
    float sym = -0.0f;
    for (int i = 0; i < 4; i++) {
        const float l = length[i], r = length[i + 4];
        const float small = l < r ? l : r, big = l > r ? l : r;
        sym += big > 1e-6f ? small / (big > 1e-6f ? big : 1e-6f) : 1.0f;
    }
    sym /= 4.0f;
    return (float)(unsaturated * (double)spread * (double)(0.5f + 0.5f * sym));
}

/* window_confidence of B windows: clip(q_in * q_out, 0, 1) in float32. */
static void confidence_impl(const float *frames, const float *kp, Py_ssize_t B, Py_ssize_t T,
                            Py_ssize_t n, float *out, float *scratch)
{
    for (Py_ssize_t b = 0; b < B; b++) {
        const float q = input_quality(frames + b * T * n, T, n, scratch) *
                        output_plausibility(kp + b * N_OUT);
        out[b] = (float)clip01((double)q);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Python functions                                                                            */

static int check_int(PyObject *obj, const char *what, Py_ssize_t lo, Py_ssize_t *value)
{
    Py_ssize_t v = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be an int; got %.80s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (v < lo) {
        PyErr_Format(PyExc_ValueError, "%s must be >= %zd; got %zd", what, lo, v);
        return -1;
    }
    *value = v;
    return 0;
}

/* 0 when every value of the views is finite, else -1 with a ValueError naming `name`. */
static int check_finite(const Py_buffer *v, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        const float *p = v[i].buf;
        const Py_ssize_t count = v[i].len / (Py_ssize_t)sizeof(float);
        for (Py_ssize_t j = 0; j < count; j++) {
            if (!isfinite(p[j])) {
                PyErr_Format(PyExc_ValueError, "%s %s holds non-finite values (NaN or inf)", name,
                             i == 0 ? "weight" : "bias");
                return -1;
            }
        }
    }
    return 0;
}

/* Copy a [n_in, n_out] Linear weight (torch layout [n_out, n_in]) transposed and padded. */
static int prepare_dense(Dense *D, PyObject *wobj, PyObject *bobj, Py_ssize_t n_in,
                         Py_ssize_t n_out_required, const char *name)
{
    Py_buffer v[2];
    char what[64];
    PyOS_snprintf(what, sizeof what, "%s weight", name);
    if (get_f32(wobj, &v[0], 2, 0, what) < 0) {
        return -1;
    }
    PyOS_snprintf(what, sizeof what, "%s bias", name);
    if (get_f32(bobj, &v[1], 1, 0, what) < 0) {
        release_all(v, 1);
        return -1;
    }
    const Py_ssize_t n_out = v[0].shape[0];
    if (v[0].shape[1] != n_in || n_out < 1 ||
        (n_out_required > 0 && n_out != n_out_required)) {
        PyObject *got = shape_str(&v[0]);
        if (got != NULL) {
            if (n_out_required > 0) {
                PyErr_Format(PyExc_ValueError, "%s weight must have shape [%zd, %zd]; got %U",
                             name, n_out_required, n_in, got);
            } else {
                PyErr_Format(PyExc_ValueError, "%s weight must have shape [N, %zd]; got %U", name,
                             n_in, got);
            }
            Py_DECREF(got);
        }
        release_all(v, 2);
        return -1;
    }
    if (v[1].shape[0] != n_out) {
        char want[32];
        PyOS_snprintf(want, sizeof want, "[%zd]", n_out);
        PyOS_snprintf(what, sizeof what, "%s bias", name);
        shape_error(what, want, &v[1]);
        release_all(v, 2);
        return -1;
    }
    if (check_finite(v, 2, name) < 0) {
        release_all(v, 2);
        return -1;
    }
    D->n_in = n_in;
    D->n_out = n_out;
    D->n_out_pad = round_up(n_out, FB);
    D->w = alloc_aligned((size_t)(n_in * D->n_out_pad));
    D->b = alloc_aligned((size_t)D->n_out_pad);
    if (D->w == NULL || D->b == NULL) {
        release_all(v, 2);
        PyErr_NoMemory();
        return -1;
    }
    const float *w = v[0].buf, *b = v[1].buf;
    for (Py_ssize_t o = 0; o < n_out; o++) {
        for (Py_ssize_t i = 0; i < n_in; i++) {
            D->w[(o / FB * n_in + i) * FB + o % FB] = w[o * n_in + i];
        }
        D->b[o] = b[o];
    }
    release_all(v, 2);
    return 0;
}

static int prepare_conv(Conv *L, PyObject *spec, Py_ssize_t c_in_required, int index)
{
    char what[64];
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4) {
        PyErr_Format(PyExc_TypeError,
                     "convs[%d] must be a tuple (weight, bias, padding, dilation); got %.80s",
                     index, Py_TYPE(spec)->tp_name);
        return -1;
    }
    Py_ssize_t pad, dil;
    PyOS_snprintf(what, sizeof what, "convs[%d] padding", index);
    if (check_int(PyTuple_GET_ITEM(spec, 2), what, 0, &pad) < 0) {
        return -1;
    }
    PyOS_snprintf(what, sizeof what, "convs[%d] dilation", index);
    if (check_int(PyTuple_GET_ITEM(spec, 3), what, 1, &dil) < 0) {
        return -1;
    }
    Py_buffer v[2];
    PyOS_snprintf(what, sizeof what, "convs[%d] weight", index);
    if (get_f32(PyTuple_GET_ITEM(spec, 0), &v[0], 3, 0, what) < 0) {
        return -1;
    }
    PyOS_snprintf(what, sizeof what, "convs[%d] bias", index);
    if (get_f32(PyTuple_GET_ITEM(spec, 1), &v[1], 1, 0, what) < 0) {
        release_all(v, 1);
        return -1;
    }
    const Py_ssize_t c_out = v[0].shape[0], c_in = v[0].shape[1], k = v[0].shape[2];
    if (c_out < 1 || c_in < 1 || k < 1 || (c_in_required > 0 && c_in != c_in_required)) {
        PyObject *got = shape_str(&v[0]);
        if (got != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "convs[%d] weight must have shape [C_out, %zd, K] (C_in = the previous "
                         "layer's C_out); got %U",
                         index, c_in_required > 0 ? c_in_required : c_in, got);
            Py_DECREF(got);
        }
        release_all(v, 2);
        return -1;
    }
    if (v[1].shape[0] != c_out) {
        char want[32];
        PyOS_snprintf(want, sizeof want, "[%zd]", c_out);
        PyOS_snprintf(what, sizeof what, "convs[%d] bias", index);
        shape_error(what, want, &v[1]);
        release_all(v, 2);
        return -1;
    }
    PyOS_snprintf(what, sizeof what, "convs[%d]", index);
    if (check_finite(v, 2, what) < 0) {
        release_all(v, 2);
        return -1;
    }
    L->c_in = c_in;
    L->c_out = c_out;
    L->c_out_pad = round_up(c_out, OB);
    L->k = k;
    L->pad = pad;
    L->dil = dil;
    L->w = alloc_aligned((size_t)(k * c_in * L->c_out_pad));
    L->b = alloc_aligned((size_t)L->c_out_pad);
    if (L->w == NULL || L->b == NULL) {
        release_all(v, 2);
        PyErr_NoMemory();
        return -1;
    }
    const float *w = v[0].buf, *b = v[1].buf;
    for (Py_ssize_t o = 0; o < c_out; o++) {
        for (Py_ssize_t c = 0; c < c_in; c++) {
            for (Py_ssize_t tap = 0; tap < k; tap++) {
                L->w[((o / OB * k + tap) * c_in + c) * OB + o % OB] = w[(o * c_in + c) * k + tap];
            }
        }
        L->b[o] = b[o];
    }
    release_all(v, 2);
    return 0;
}

static int prepare_norm(Model *m, PyObject *mean, PyObject *std)
{
    if (mean == Py_None && std == Py_None) {
        return 0;
    }
    if (mean == Py_None || std == Py_None) {
        PyErr_SetString(PyExc_ValueError, "mean and std must both be arrays or both be None");
        return -1;
    }
    Py_buffer v[2];
    if (get_f32(mean, &v[0], 2, 0, "mean") < 0) {
        return -1;
    }
    if (get_f32(std, &v[1], 2, 0, "std") < 0) {
        release_all(v, 1);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (v[i].shape[1] != m->c0 || v[i].shape[0] < 1 || v[i].shape[0] != v[0].shape[0]) {
            char want[48];
            PyOS_snprintf(want, sizeof want, "[T, %zd] (time-major, as mean)", m->c0);
            shape_error(i == 0 ? "mean" : "std", want, &v[i]);
            release_all(v, 2);
            return -1;
        }
    }
    m->norm_t = v[0].shape[0];
    const size_t count = (size_t)(m->norm_t * m->c0);
    m->mean = alloc_aligned(count);
    m->std = alloc_aligned(count);
    if (m->mean == NULL || m->std == NULL) {
        release_all(v, 2);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(m->mean, v[0].buf, count * sizeof(float));
    memcpy(m->std, v[1].buf, count * sizeof(float));
    release_all(v, 2);
    return 0;
}

PyDoc_STRVAR(prepare_doc,
             "prepare(convs, fc1_weight, fc1_bias, fc2_weight, fc2_bias, mean, std) -> model\n\n"
             "Copy and rearrange the weights once. convs: sequence of (weight[C_out, C_in, K],\n"
             "bias[C_out], padding, dilation); fc weights in torch layout [out, in]; fc2 must\n"
             "give 34 outputs. mean, std: None or float32 [T, C0] (time-major, layout-mapped).");

static PyObject *k_prepare(PyObject *self, PyObject *args)
{
    PyObject *convs, *fc1w, *fc1b, *fc2w, *fc2b, *mean, *std;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOO:prepare", &convs, &fc1w, &fc1b, &fc2w, &fc2b, &mean,
                          &std)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(convs, "convs must be a sequence of tuples");
    if (seq == NULL) {
        return NULL;
    }
    const Py_ssize_t n_conv = PySequence_Fast_GET_SIZE(seq);
    if (n_conv < 1 || n_conv > MAX_CONV) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "convs must hold 1 to %d layers; got %zd", MAX_CONV, n_conv);
        return NULL;
    }
    Model *m = calloc(1, sizeof(Model));
    if (m == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_ssize_t c_prev = 0;
    for (Py_ssize_t i = 0; i < n_conv; i++) {
        m->n_conv = (int)i + 1; /* so that model_free frees what was allocated */
        if (prepare_conv(&m->conv[i], PySequence_Fast_GET_ITEM(seq, i), c_prev, (int)i) < 0) {
            Py_DECREF(seq);
            model_free(m);
            return NULL;
        }
        c_prev = m->conv[i].c_out;
    }
    Py_DECREF(seq);
    m->c0 = m->conv[0].c_in;
    if (prepare_dense(&m->fc1, fc1w, fc1b, c_prev, 0, "fc1") < 0 ||
        prepare_dense(&m->fc2, fc2w, fc2b, m->fc1.n_out, N_OUT, "fc2") < 0 ||
        prepare_norm(m, mean, std) < 0) {
        model_free(m);
        return NULL;
    }
    m->width = round_up(m->c0, 16); /* keeps every scratch region 64-byte aligned */
    for (int i = 0; i < m->n_conv; i++) {
        const Conv *L = &m->conv[i];
        m->lm = L->pad > m->lm ? L->pad : m->lm;
        m->max_kc = L->k * L->c_in > m->max_kc ? L->k * L->c_in : m->max_kc;
        m->width = L->c_out_pad > m->width ? L->c_out_pad : m->width;
    }
    PyObject *capsule = PyCapsule_New(m, CAPSULE_NAME, capsule_destructor);
    if (capsule == NULL) {
        model_free(m);
    }
    return capsule;
}

/* Check frames [B, T, n] (n == c0 when c0 > 0) and keypoints [B, 17, 2]. */
static int check_frames(const Py_buffer *v, Py_ssize_t c0, const char *what)
{
    if (v->shape[1] < 1 || v->shape[2] < 1 || (c0 > 0 && v->shape[2] != c0)) {
        char want[48];
        if (c0 > 0) {
            PyOS_snprintf(want, sizeof want, "[B, T, %zd] with T >= 1", c0);
        } else {
            PyOS_snprintf(want, sizeof want, "[B, T, n] with T, n >= 1");
        }
        shape_error(what, want, v);
        return -1;
    }
    return 0;
}

static int check_keypoints(const Py_buffer *v, Py_ssize_t B, const char *what)
{
    if (v->shape[0] != B || v->shape[1] != N_KEYPOINTS || v->shape[2] != 2) {
        char want[48];
        PyOS_snprintf(want, sizeof want, "[%zd, 17, 2]", B);
        shape_error(what, want, v);
        return -1;
    }
    return 0;
}

static int check_norm_window(const Model *m, Py_ssize_t T)
{
    if (m->norm_t > 0 && T != m->norm_t) {
        PyErr_Format(PyExc_ValueError,
                     "this model normalises windows of %zd frames (its input statistics are per "
                     "frame); got %zd",
                     m->norm_t, T);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(forward_doc,
             "forward(model, x, out) -> None\n\n"
             "x: float32 [B, C0, T] (the model's input layout, raw amplitudes); writes the\n"
             "keypoints into out: float32 [B, 17, 2].");

static PyObject *k_forward(PyObject *self, PyObject *args)
{
    PyObject *mobj, *xobj, *oobj;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:forward", &mobj, &xobj, &oobj)) {
        return NULL;
    }
    Model *m = get_model(mobj);
    if (m == NULL) {
        return NULL;
    }
    Py_buffer v[2];
    if (get_f32(xobj, &v[0], 3, 0, "x") < 0) {
        return NULL;
    }
    if (get_f32(oobj, &v[1], 3, 1, "out") < 0) {
        release_all(v, 1);
        return NULL;
    }
    const Py_ssize_t B = v[0].shape[0], T = v[0].shape[2];
    if (v[0].shape[1] != m->c0 || T < 1) {
        char want[48];
        PyOS_snprintf(want, sizeof want, "[B, %zd, T] with T >= 1", m->c0);
        shape_error("x", want, &v[0]);
        release_all(v, 2);
        return NULL;
    }
    if (check_keypoints(&v[1], B, "out") < 0 || check_norm_window(m, T) < 0) {
        release_all(v, 2);
        return NULL;
    }
    int owned;
    float *scratch = scratch_claim(m, forward_scratch(m, T), T, &owned);
    if (scratch == NULL) {
        release_all(v, 2);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    forward_run(m, v[0].buf, B, T, 0, v[1].buf, scratch);
    Py_END_ALLOW_THREADS
    scratch_release(m, scratch, owned);
    release_all(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(infer_doc,
             "infer(model, frames, subcarrier_major, keypoints, confidence) -> None\n\n"
             "frames: float32 [B, T, C0] (frame-major windows, raw amplitudes). The model reads\n"
             "each window's flat buffer as [C0, T] (flat_frame_major), or its transpose when\n"
             "subcarrier_major. Writes keypoints [B, 17, 2] and confidence [B] (float32).");

static PyObject *k_infer(PyObject *self, PyObject *args)
{
    PyObject *mobj, *fobj, *kobj, *cobj;
    int transposed;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOpOO:infer", &mobj, &fobj, &transposed, &kobj, &cobj)) {
        return NULL;
    }
    Model *m = get_model(mobj);
    if (m == NULL) {
        return NULL;
    }
    Py_buffer v[3];
    if (get_f32(fobj, &v[0], 3, 0, "frames") < 0) {
        return NULL;
    }
    if (get_f32(kobj, &v[1], 3, 1, "keypoints") < 0) {
        release_all(v, 1);
        return NULL;
    }
    if (get_f32(cobj, &v[2], 1, 1, "confidence") < 0) {
        release_all(v, 2);
        return NULL;
    }
    const Py_ssize_t B = v[0].shape[0], T = v[0].shape[1], n = v[0].shape[2];
    if (check_frames(&v[0], m->c0, "frames") < 0 || check_keypoints(&v[1], B, "keypoints") < 0 ||
        check_norm_window(m, T) < 0) {
        release_all(v, 3);
        return NULL;
    }
    if (v[2].shape[0] != B) {
        char want[32];
        PyOS_snprintf(want, sizeof want, "[%zd]", B);
        shape_error("confidence", want, &v[2]);
        release_all(v, 3);
        return NULL;
    }
    const Py_ssize_t fs = forward_scratch(m, T);
    int owned;
    float *scratch = scratch_claim(m, fs + confidence_scratch(T, n), T, &owned);
    if (scratch == NULL) {
        release_all(v, 3);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    forward_run(m, v[0].buf, B, T, transposed, v[1].buf, scratch);
    confidence_impl(v[0].buf, v[1].buf, B, T, n, v[2].buf, scratch + fs);
    Py_END_ALLOW_THREADS
    scratch_release(m, scratch, owned);
    release_all(v, 3);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(confidence_doc,
             "confidence(frames, keypoints, out) -> None\n\n"
             "window_confidence of frames: float32 [B, T, n] (raw amplitudes) and keypoints:\n"
             "float32 [B, 17, 2]; writes float32 [B] into out.");

static PyObject *k_confidence(PyObject *self, PyObject *args)
{
    PyObject *fobj, *kobj, *oobj;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:confidence", &fobj, &kobj, &oobj)) {
        return NULL;
    }
    Py_buffer v[3];
    if (get_f32(fobj, &v[0], 3, 0, "frames") < 0) {
        return NULL;
    }
    if (get_f32(kobj, &v[1], 3, 0, "keypoints") < 0) {
        release_all(v, 1);
        return NULL;
    }
    if (get_f32(oobj, &v[2], 1, 1, "out") < 0) {
        release_all(v, 2);
        return NULL;
    }
    const Py_ssize_t B = v[0].shape[0], T = v[0].shape[1], n = v[0].shape[2];
    if (check_frames(&v[0], 0, "frames") < 0 || check_keypoints(&v[1], B, "keypoints") < 0) {
        release_all(v, 3);
        return NULL;
    }
    if (v[2].shape[0] != B) {
        char want[32];
        PyOS_snprintf(want, sizeof want, "[%zd]", B);
        shape_error("out", want, &v[2]);
        release_all(v, 3);
        return NULL;
    }
    float *scratch = alloc_aligned((size_t)confidence_scratch(T, n));
    if (scratch == NULL) {
        release_all(v, 3);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    confidence_impl(v[0].buf, v[1].buf, B, T, n, v[2].buf, scratch);
    Py_END_ALLOW_THREADS
    free_aligned(scratch);
    release_all(v, 3);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"prepare", k_prepare, METH_VARARGS, prepare_doc},
    {"forward", k_forward, METH_VARARGS, forward_doc},
    {"infer", k_infer, METH_VARARGS, infer_doc},
    {"confidence", k_confidence, METH_VARARGS, confidence_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "posecog.nodes.model._kernel",
    "pose_v1 forward pass and per-window confidence, compiled (see native_backend).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__kernel(void)
{
#ifdef HAVE_X86_DISPATCH
    /* POSECOG_KERNEL_ISA=generic keeps the baseline path (to test or measure it). */
    const char *want = getenv("POSECOG_KERNEL_ISA");
    __builtin_cpu_init();
    if ((want == NULL || strcmp(want, "generic") != 0) && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        forward_run = forward_avx2;
        isa_name = "avx2+fma";
    }
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(mod, "ISA", isa_name) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
