/* kc_runtime.h - kerasc runtime kernels, shared by every generated model header.
 *
 * Portable C99 (also valid C++), header-only, no heap, no mutable globals, float32 arithmetic only
 * (no double anywhere: Cortex-M FPUs are single-precision; KC_FLOAT=double builds the same code in
 * double precision as `kerasc verify`'s exact reference, not for firmware). Everything is
 * `static inline` with the `kc_` prefix (`kc__` for private helpers), so any number of generated
 * headers can share one translation unit. Generated headers check KC_RUNTIME_VERSION and refuse
 * another version.
 *
 * Argument convention (the order of the generated API: state, inputs, outputs):
 *   [in,out] arrays first, then [in] arrays, then [out] arrays, then element counts, then scalar
 *   options. Each kernel's comment marks every array [in], [out] or [in,out]. An [out] array may be
 *   the same array as an [in] one only where the comment says so.
 *
 * Layout of this file:
 *   1. portable kernels: the scalar type kc_float and weight reads, copies, activations, per-feature
 *      layers, pooling, the float16 decoder and the gate-product loop (written once as a macro, for
 *      float32, float16 and int8 weights);
 *   2. target-specific paths: fused multiply-add selection, the optional KC_SIMD vector blocks,
 *      hardware float16 conversion;
 *   3. the gate-product kernels kc_preact, kc_preact_f16, kc_preact_i8, built from 1 and 2, and the
 *      split form NAME_predict uses for whole sequences: kc_project (x @ W for a block of timesteps)
 *      then kc_preact_rec (+ h @ U per timestep), bit for bit kc_preact's result;
 *   4. optional activations (they need expm1f, log1pf or erff, which some C libraries lack): compiled
 *      when a header that includes this file defines KC_USE_<NAME>, or KC_USE_ALL_ACTIVATIONS.
 * docs/runtime.md describes the macros (KC_BLOCK, KC_NO_FMA, KC_SIMD, KC_EXACT_MATH, KC_FLOAT,
 * KC_WEIGHTS_PROGMEM, ...) and the targets tested.
 * SPDX-License-Identifier: MIT
 */
#ifndef KC_RUNTIME_H_INCLUDED
#define KC_RUNTIME_H_INCLUDED

#define KC_RUNTIME_VERSION 6
#define KC_RUNTIME_QUANT 1 /* has kc_preact_f16 and kc_preact_i8 (headers with --weights float16 / int8) */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outputs summed per pass of the gate products (a local block of KC_BLOCK floats on the stack, kept
 * in vector registers or L1, so each weight row is read once per block). 128 suits 128- to 512-bit
 * vector units; on microcontrollers without a vector unit (Cortex-M, AVR, MSP430, RISC-V without V)
 * the default is 32: the block costs KC_BLOCK * 4 bytes of stack (8 with int8 weights), and on a
 * Cortex-M4F the demo's step runs 0.1% more instructions with 32 than with 128 for half the stack
 * (docs/c-api.md, Stack). Any positive value is correct. */
#ifndef KC_BLOCK
#if (defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M') || defined(__AVR__) || defined(__MSP430__) \
    || (defined(__riscv) && !defined(__riscv_vector))
#define KC_BLOCK 32
#else
#define KC_BLOCK 128
#endif
#endif

/* =============================================================== 1. portable kernels */

/* ---------------------------------------------------------------- scalar type
 * kc_float: the type of every value, weight, state and product of the runtime and the generated
 * headers. float by default. Compiled with -DKC_FLOAT=double, the same code runs in double precision:
 * weights keep their float32 values (the initializers are float literals), every activation is libm's
 * double function (the fast tanh/sigmoid, FMA and KC_SIMD are off), so the result is the model's float32
 * weights computed in (nearly) exact arithmetic: `kerasc verify` uses it as the reference. Any other
 * value is an error. The _BYTES macros of a generated header count the float build. */
#define KC__IS_float 1
#define KC__IS_double 2
#define KC__IS(t) KC__IS2(t)
#define KC__IS2(t) KC__IS_##t
#ifndef KC_FLOAT
#define KC_FLOAT float
#endif
#if KC__IS(KC_FLOAT) == 2
#define KC__DOUBLE 1
typedef double kc_float;
#define KC__EXP(x) exp(x)
#define KC__TANH(x) tanh(x)
#define KC__EXPM1(x) expm1(x)
#define KC__LOG1P(x) log1p(x)
#define KC__ERF(x) erf(x)
#define KC__SQRT(x) sqrt(x)
#define KC__FABS(x) fabs(x)
#define KC__LOG(x) log(x)
#else
#if KC__IS(KC_FLOAT) != 1
#error "KC_FLOAT must be float or double"
#endif
#define KC__DOUBLE 0
typedef float kc_float;
#define KC__EXP(x) expf(x)
#define KC__TANH(x) tanhf(x)
#define KC__EXPM1(x) expm1f(x)
#define KC__LOG1P(x) log1pf(x)
#define KC__ERF(x) erff(x)
#define KC__SQRT(x) sqrtf(x)
#define KC__FABS(x) fabsf(x)
#define KC__LOG(x) logf(x)
#endif

/* KC__RESTRICT: C99's restrict; C++ has none, its compilers spell it __restrict. The recurrent layers'
 * step functions qualify their state and scratch pointers with it, so the loop over units (activations
 * and state update) vectorises at -O2 without a run-time aliasing check. */
#if !defined(__cplusplus)
#define KC__RESTRICT restrict
#elif defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define KC__RESTRICT __restrict
#else
#define KC__RESTRICT
#endif

/* KC_LOAD_WEIGHT(p): the float weight *p, for every weight the product kernels read (kernels,
 * biases, int8 scales); KC_LOAD_WEIGHT_U16(p) and KC_LOAD_WEIGHT_I8(p) read float16 (bits) and int8
 * kernels. Plain loads, unless the weights live in another address space: with KC_WEIGHTS_PROGMEM
 * (AVR) the generated headers put the weights in flash (PROGMEM) and these read them from there. */
#if defined(KC_WEIGHTS_PROGMEM)
#include <avr/pgmspace.h>
#define KC_LOAD_WEIGHT(p) pgm_read_float(p)
#define KC_LOAD_WEIGHT_U16(p) pgm_read_word(p)
#define KC_LOAD_WEIGHT_I8(p) ((int8_t)pgm_read_byte(p))
#endif
#ifndef KC_LOAD_WEIGHT
#define KC_LOAD_WEIGHT(p) (*(p))
#endif
#ifndef KC_LOAD_WEIGHT_U16
#define KC_LOAD_WEIGHT_U16(p) (*(p))
#endif
#ifndef KC_LOAD_WEIGHT_I8
#define KC_LOAD_WEIGHT_I8(p) (*(p))
#endif

/* ---------------------------------------------------------------- copies */

/* y = x.  x (n,) [in], y (n,) [out] */
static inline void kc_copy(const kc_float *x, kc_float *y, int n)
{
    memcpy(y, x, (size_t)n * sizeof(kc_float));
}

/* z += b.  z (n,) [in,out], b (n,) [in] */
static inline void kc_add(kc_float *z, const kc_float *b, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        z[j] += b[j];
    }
}

/* z += b, b a weight array (read with KC_LOAD_WEIGHT).  z (n,) [in,out], b (n,) [in] */
static inline void kc_add_weights(kc_float *z, const kc_float *b, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        z[j] += KC_LOAD_WEIGHT(b + j);
    }
}

/* y = 0.  y (n,) [out] */
static inline void kc_zero(kc_float *y, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = 0.0f;
    }
}

/* ---------------------------------------------------------------- scalar activations
 * kc_act_NAME(x) for every Keras activation; each follows Keras 3's definition
 * (keras/src/activations/activations.py and the TensorFlow backend's nn.py), quoted above it. */

/* sigmoid: 1 / (1 + exp(-x)), in the form that never overflows exp (libm's expf). */
static inline kc_float kc__sigmoid_exact(kc_float x)
{
    if (x >= 0.0f) {
        return 1.0f / (1.0f + KC__EXP(-x));
    } else {
        const kc_float e = KC__EXP(x);
        return e / (1.0f + e);
    }
}

/* tanh and sigmoid (every LSTM/GRU gate) come in two builds:
 * - default: tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9, clamped beyond (P, Q of degree 4 fitted by
 *   benchmarks/fit_tanh.py); sigmoid(x) = 0.5 + 0.5 * tanh(x / 2). Branch-free and float-only, so the
 *   loop over units vectorises. Maximum absolute error (tests/parity/test_fast_tanh_sigmoid.py): tanh 3.9e-7,
 *   sigmoid 2.1e-7; odd symmetry exact; NaN gives NaN.
 * - KC_EXACT_MATH defined (or KC_FLOAT=double): libm's tanhf and expf (tanh and exp in double). */
#if defined(KC_EXACT_MATH) || KC__DOUBLE
static inline kc_float kc_act_tanh(kc_float x) { return KC__TANH(x); }
static inline kc_float kc_act_sigmoid(kc_float x) { return kc__sigmoid_exact(x); }
#else
/* tanh(xc) = xc * P(xc^2) / Q(xc^2) for |xc| <= 9 (or NaN) */
static inline float kc__tanh_clamped(float xc)
{
    const float s = xc * xc;
    const float p = (((1.33547138e-08f * s + 2.06091809e-05f) * s + 0.00349559681f) * s + 0.133810341f) * s + 1.0f;
    const float q = (((7.77659693e-07f * s + 0.000328564725f) * s + 0.0258770194f) * s + 0.467143506f) * s + 1.0f;
    return xc * p / q;
}

static inline float kc_act_tanh(float x)
{
    /* xc = x clamped to [-9, 9], NaN let through; both forms give the same value for every float.
     * -Os: float compares (fewest instructions). Elsewhere on the bit pattern: integer compares raise
     * no floating-point exception, so the compiler may evaluate both sides of the select and
     * vectorise the loop over units without -fno-trapping-math. */
#if defined(__OPTIMIZE_SIZE__)
    const float xc = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
#else
    uint32_t bits, mag;
    float xc;
    memcpy(&bits, &x, sizeof bits);
    mag = bits & 0x7fffffffu; /* |x| */
    mag = mag > 0x41100000u && mag <= 0x7f800000u /* 9 < |x| <= inf */ ? 0x41100000u /* 9.0f */ : mag;
    bits = (bits & 0x80000000u) | mag;
    memcpy(&xc, &bits, sizeof xc);
#endif
    return kc__tanh_clamped(xc);
}

/* sigmoid: 1 / (1 + exp(-x)) = 0.5 + 0.5 * tanh(x / 2) */
static inline float kc_act_sigmoid(float x) { return 0.5f + 0.5f * kc_act_tanh(0.5f * x); }
#endif

static inline kc_float kc_act_linear(kc_float x) { return x; }
/* relu: max(x, 0) */
static inline kc_float kc_act_relu(kc_float x) { return x > 0.0f ? x : 0.0f; }
/* relu6: min(max(x, 0), 6) */
static inline kc_float kc_act_relu6(kc_float x) { return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; }
/* leaky_relu (negative_slope = 0.2): x if x >= 0 else 0.2 x */
static inline kc_float kc_act_leaky_relu(kc_float x) { return x >= 0.0f ? x : 0.2f * x; }
/* softsign: x / (1 + |x|) */
static inline kc_float kc_act_softsign(kc_float x) { return x / (1.0f + KC__FABS(x)); }
/* silu / swish: x * sigmoid(x) */
static inline kc_float kc_act_silu(kc_float x) { return x * kc__sigmoid_exact(x); }
/* exponential: exp(x) */
static inline kc_float kc_act_exponential(kc_float x) { return KC__EXP(x); }
/* hard_sigmoid (Keras 3): relu6(x + 3) / 6 */
static inline kc_float kc_act_hard_sigmoid(kc_float x) { return kc_act_relu6(x + 3.0f) / 6.0f; }
/* hard_silu / hard_swish: x * hard_sigmoid(x) */
static inline kc_float kc_act_hard_silu(kc_float x) { return x * kc_act_hard_sigmoid(x); }
/* hard_tanh: clip(x, -1, 1) */
static inline kc_float kc_act_hard_tanh(kc_float x) { return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x); }
/* hard_shrink (threshold = 0.5): x if |x| > 0.5 else 0 */
static inline kc_float kc_act_hard_shrink(kc_float x) { return KC__FABS(x) > 0.5f ? x : 0.0f; }
/* soft_shrink (threshold = 0.5): x - 0.5 if x > 0.5, x + 0.5 if x < -0.5, else 0 */
static inline kc_float kc_act_soft_shrink(kc_float x)
{
    return x > 0.5f ? x - 0.5f : (x < -0.5f ? x + 0.5f : 0.0f);
}
/* tanh_shrink: x - tanh(x) */
static inline kc_float kc_act_tanh_shrink(kc_float x) { return x - KC__TANH(x); }
/* sparse_plus: 0 if x <= -1, (x + 1)^2 / 4 if x < 1, else x */
static inline kc_float kc_act_sparse_plus(kc_float x)
{
    return x <= -1.0f ? 0.0f : (x < 1.0f ? 0.25f * (x + 1.0f) * (x + 1.0f) : x);
}
/* sparse_sigmoid: 0 if x <= -1, 1 if x >= 1, else (x + 1) / 2 */
static inline kc_float kc_act_sparse_sigmoid(kc_float x)
{
    return x <= -1.0f ? 0.0f : (x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f));
}
/* squareplus (b = 4): (x + sqrt(x^2 + b)) / 2 */
static inline kc_float kc_act_squareplus(kc_float x) { return (x + KC__SQRT(x * x + 4.0f)) / 2.0f; }

/* Keras 2 definitions that differ from Keras 3 (models saved by Keras 2 / tf.keras / tf_keras;
 * tf_keras/src/backend.py and tf_keras/src/layers/activation/). */
/* hard_sigmoid (Keras 2 backend.hard_sigmoid): clip(0.2 x + 0.5, 0, 1) */
static inline kc_float kc_act_hard_sigmoid_k2(kc_float x)
{
    const kc_float y = 0.2f * x + 0.5f;
    return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
}
/* LeakyReLU layer as activation (Keras 2 default alpha = 0.3): x if x >= 0 else 0.3 x */
static inline kc_float kc_act_leaky_relu_k2(kc_float x) { return x >= 0.0f ? x : 0.3f * x; }
/* ThresholdedReLU layer as activation (Keras 2 default theta = 1): x if x > 1 else 0 */
static inline kc_float kc_act_thresholded_relu_k2(kc_float x) { return x > 1.0f ? x : 0.0f; }

/* kc_vec_NAME(v, n): v = NAME(v) element by element.  v (n,) [in,out] */
#define KC__VEC_ELEMENTWISE(name)                                  \
    static inline void kc_vec_##name(kc_float *v, int n)              \
    {                                                              \
        int j;                                                     \
        for (j = 0; j < n; ++j) {                                  \
            v[j] = kc_act_##name(v[j]);                            \
        }                                                          \
    }
KC__VEC_ELEMENTWISE(tanh)
KC__VEC_ELEMENTWISE(sigmoid)
KC__VEC_ELEMENTWISE(relu)
KC__VEC_ELEMENTWISE(relu6)
KC__VEC_ELEMENTWISE(leaky_relu)
KC__VEC_ELEMENTWISE(softsign)
KC__VEC_ELEMENTWISE(silu)
KC__VEC_ELEMENTWISE(exponential)
KC__VEC_ELEMENTWISE(hard_sigmoid)
KC__VEC_ELEMENTWISE(hard_silu)
KC__VEC_ELEMENTWISE(hard_tanh)
KC__VEC_ELEMENTWISE(hard_shrink)
KC__VEC_ELEMENTWISE(soft_shrink)
KC__VEC_ELEMENTWISE(tanh_shrink)
KC__VEC_ELEMENTWISE(sparse_plus)
KC__VEC_ELEMENTWISE(sparse_sigmoid)
KC__VEC_ELEMENTWISE(squareplus)
KC__VEC_ELEMENTWISE(hard_sigmoid_k2)
KC__VEC_ELEMENTWISE(leaky_relu_k2)
KC__VEC_ELEMENTWISE(thresholded_relu_k2)

/* ---------------------------------------------------------------- vector activations
 * Keras applies softmax, log_softmax and sparsemax over the last axis: here the whole vector of one
 * timestep (the units of a layer). Each: v (n,) [in,out]. */

/* softmax: exp(x - max) / sum(exp(x - max)) */
static inline void kc_vec_softmax(kc_float *v, int n)
{
    int j;
    kc_float m = v[0], s = 0.0f;
    for (j = 1; j < n; ++j) {
        m = v[j] > m ? v[j] : m;
    }
    for (j = 0; j < n; ++j) {
        v[j] = KC__EXP(v[j] - m);
        s += v[j];
    }
    for (j = 0; j < n; ++j) {
        v[j] /= s;
    }
}

/* log_softmax: x - max - log(sum(exp(x - max))) */
static inline void kc_vec_log_softmax(kc_float *v, int n)
{
    int j;
    kc_float m = v[0], s = 0.0f, ls;
    for (j = 1; j < n; ++j) {
        m = v[j] > m ? v[j] : m;
    }
    for (j = 0; j < n; ++j) {
        s += KC__EXP(v[j] - m);
    }
    ls = KC__LOG(s);
    for (j = 0; j < n; ++j) {
        v[j] = v[j] - m - ls;
    }
}

/* sparsemax as Keras 3's TensorFlow backend computes it (nn.py): with s the values sorted in
 * descending order and c their running sums, position r (1-based) is in the support iff
 * s_r - (c_r - 1) / r > 0; k = |support|; tau = (sum of c_r over the support - 1) / k;
 * out = max(x - tau, 0). (Keras sums the running sums, where the paper uses c_k alone; we follow
 * Keras.) Each element's sorted position and running sum are found by counting, O(n^2), so no
 * scratch memory is needed; tied values give the same sorted sequence in any order. */
static inline void kc_vec_sparsemax(kc_float *v, int n)
{
    int i, j, k = 0;
    kc_float csum = 0.0f, tau;
    for (i = 0; i < n; ++i) {
        int r = 1;
        kc_float c = v[i];
        for (j = 0; j < n; ++j) {
            /* v[j] ahead of v[i]: larger, or equal (>= and <=: == without -Wfloat-equal) and earlier */
            if (v[j] > v[i] || (v[j] >= v[i] && v[j] <= v[i] && j < i)) {
                ++r;
                c += v[j];
            }
        }
        if (v[i] - (c - 1.0f) / (kc_float)r > 0.0f) {
            ++k;
            csum += c;
        }
    }
    tau = (csum - 1.0f) / (kc_float)k;
    for (i = 0; i < n; ++i) {
        v[i] = v[i] - tau > 0.0f ? v[i] - tau : 0.0f;
    }
}

/* glu (Dense only): v[j] = v[j] * sigmoid(v[j + n/2]) for j < n/2.  v (n,) [in,out]: the first n/2
 * values are written. */
static inline void kc_vec_glu(kc_float *v, int n)
{
    int j, h = n / 2;
    for (j = 0; j < h; ++j) {
        v[j] = v[j] * kc__sigmoid_exact(v[j + h]);
    }
}

/* ---------------------------------------------------------------- per-feature layers
 * Layers applied to the vector of one timestep (Keras' last axis): activation layers with
 * parameters, normalizations, rescaling. Each: x (n,) [in], y (n,) [out]; y may be x. */

/* Keras ReLU layer (activations.relu): y = x if x > threshold else 0; clipped to [0, max_value]
 * when clip; then y -= negative_slope * relu(threshold - x). */
static inline void kc_vec_relu_ext(const kc_float *x, kc_float *y, int n, kc_float negative_slope, int clip,
                                   kc_float max_value, kc_float threshold)
{
    int j;
    for (j = 0; j < n; ++j) {
        const kc_float v = x[j];
        const kc_float below = threshold - v;
        kc_float r = v > threshold ? v : 0.0f;
        if (clip) {
            r = r < 0.0f ? 0.0f : (r > max_value ? max_value : r);
        }
        y[j] = r - negative_slope * (below > 0.0f ? below : 0.0f);
    }
}

/* Keras PReLU.call: y = relu(x) - alpha * relu(-x).  alpha (n,) [in], one per feature. */
static inline void kc_vec_prelu(const kc_float *x, const kc_float *alpha, kc_float *y, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        const kc_float v = x[j];
        y[j] = (v > 0.0f ? v : 0.0f) - alpha[j] * (v < 0.0f ? -v : 0.0f);
    }
}

/* y = x * a + c: BatchNormalization at inference and Rescaling, with the per-feature factor and
 * offset folded by kerasc from the layer's weights.  a, c (n,) [in] */
static inline void kc_vec_affine(const kc_float *x, const kc_float *a, const kc_float *c, kc_float *y, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = x[j] * a[j] + c[j];
    }
}

/* Keras Normalization (preprocessing) at inference: y = (x - mean) / d, with
 * d = max(sqrt(variance), eps) computed by kerasc from the layer's weights.  mean, d (n,) [in] */
static inline void kc_vec_standardize(const kc_float *x, const kc_float *mean, const kc_float *d, kc_float *y, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = (x[j] - mean[j]) / d[j];
    }
}

/* Keras LayerNormalization over the n features of one step (ops.layer_normalization):
 *   mean, variance = moments(x);  inv = rsqrt(variance + epsilon) * gamma;
 *   y = x * inv + (beta - mean * inv)
 * gamma, beta (n,) [in], either may be NULL (scale=False, center=False). rms: Keras 3's deprecated
 * rms_scaling=True, y = x * rsqrt(variance + epsilon) * gamma (the variance, not the mean square, as
 * Keras computes it). */
static inline void kc_layer_norm(const kc_float *x, const kc_float *gamma, const kc_float *beta, kc_float *y, int n,
                                 kc_float epsilon, int rms)
{
    int j;
    kc_float mean = 0.0f, var = 0.0f, r;
    for (j = 0; j < n; ++j) {
        mean += x[j];
    }
    mean /= (kc_float)n;
    for (j = 0; j < n; ++j) {
        const kc_float d = x[j] - mean;
        var += d * d;
    }
    var /= (kc_float)n;
    r = 1.0f / KC__SQRT(var + epsilon);
    for (j = 0; j < n; ++j) {
        const kc_float inv = gamma != NULL ? r * gamma[j] : r;
        if (rms) {
            y[j] = x[j] * r * (gamma != NULL ? gamma[j] : 1.0f);
        } else {
            y[j] = x[j] * inv + ((beta != NULL ? beta[j] : 0.0f) - mean * inv);
        }
    }
}

/* ---------------------------------------------------------------- global pooling over time
 * GlobalAveragePooling1D / GlobalMaxPooling1D as running accumulators: after step t, y holds the
 * pooling of steps 0..t. count (1,) [in,out] counts the steps (0 before the first). */

/* average: acc += x * keep; count += keep; y = acc / count (keep: 1, or the mask of the step; a
 * prefix with every step masked gives 0 / 0, as Keras does).
 * acc (n,) [in,out], count (1,) [in,out], x (n,) [in], y (n,) [out] */
static inline void kc_pool_avg_step(kc_float *acc, kc_float *count, const kc_float *x, kc_float *y, int n,
                                    kc_float keep)
{
    int j;
    count[0] += keep;
    for (j = 0; j < n; ++j) {
        acc[j] += x[j] * keep;
        y[j] = acc[j] / count[0];
    }
}

/* max: y = x at the first step, else max(y, x).  y (n,) [in,out], count (1,) [in,out], x (n,) [in] */
static inline void kc_pool_max_step(kc_float *y, kc_float *count, const kc_float *x, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = (count[0] <= 0.0f || x[j] > y[j]) ? x[j] : y[j]; /* count <= 0: the first step */
    }
    count[0] += 1.0f;
}

/* ---------------------------------------------------------------- float16 weights
 * The float32 value of an IEEE 754 binary16 bit pattern, exactly (every half is a float), without
 * branches so the product loops vectorise: exponent and mantissa move into place and the exponent is
 * rebiased (+112); infinities and NaNs get exponent 255 (payload kept); zeros and subnormals
 * m * 2^-24 are computed as 2^-14 * (1 + m / 1024) - 2^-14, exact and on normal floats only, so the
 * result does not depend on the FPU's flush-to-zero. Constants are uint32_t: int may be 16 bits.
 * kc_half_to_float (part 2) is this function or the target's own conversion. */
static inline float kc__half_to_float_portable(uint16_t h)
{
    const uint32_t em = ((uint32_t)h & 0x7fffu) << 13;
    const uint32_t expo = em & (uint32_t)0x0f800000u;
    const uint32_t exp_bias = (uint32_t)112u << 23;
    const uint32_t exp_one = (uint32_t)1u << 23;
    uint32_t bits = em + exp_bias;
    float f;
    bits += expo == (uint32_t)0x0f800000u ? exp_bias : (uint32_t)0u;
    bits += expo == 0u ? exp_one : (uint32_t)0u;
    memcpy(&f, &bits, sizeof f);
    f = expo == 0u ? f - 6.10351562e-05f : f; /* 2^-14 */
    memcpy(&bits, &f, sizeof bits);
    bits |= ((uint32_t)h & 0x8000u) << 16;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---------------------------------------------------------------- gate products
 * KC__DEFINE_ACC(name, wtype, LOAD, LOADV, VEC) defines
 *   static inline void name(kc_float *acc, const wtype *W, const kc_float *x, int ld, int n, int width)
 * acc (width,) [in,out] += x (n,) [in] @ W [in] (rows 0..n-1, columns 0..width-1, rows ld weights
 * apart; width <= KC_BLOCK), each weight widened to kc_float by LOAD. Four rows per pass, each added in
 * turn: the sum order is k = 0..n-1, as in `for k: for j: acc[j] += x[k] * W[k][j]`, so the result
 * is bit-identical to that plain loop; the inner loop has independent lanes, so compilers vectorise
 * it without -ffast-math. KC__MAC(a, x, w) (a + x * w, fused or not) and KC__VEC_BLOCKS (the KC_SIMD
 * blocks that take the first columns when VEC is 1) come from part 2. */
#define KC__DEFINE_ACC(name, wtype, LOAD, LOADV, VEC)                                               \
    KC__ACC_INLINE void name(kc_float *acc, const wtype *W, const kc_float *x, int ld, int n, int width) \
    {                                                                                               \
        const int n4 = n - n % 4;                                                                   \
        int j0 = 0, k, j;                                                                           \
        KC__VEC_BLOCKS(wtype, LOADV, VEC)                                                           \
        for (k = 0; k < n4; k += 4) {                                                               \
            const kc_float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];                     \
            const wtype *w0 = W + (size_t)k * (size_t)ld;                                           \
            const wtype *w1 = w0 + ld, *w2 = w1 + ld, *w3 = w2 + ld;                                \
            for (j = j0; j < width; ++j) {                                                          \
                acc[j] = KC__MAC(KC__MAC(KC__MAC(KC__MAC(acc[j], x0, LOAD(w0 + j)), x1, LOAD(w1 + j)),  \
                                         x2, LOAD(w2 + j)),                                          \
                                 x3, LOAD(w3 + j));                                                  \
            }                                                                                       \
        }                                                                                           \
        for (k = n4; k < n; ++k) {                                                                  \
            const kc_float xk = x[k];                                                                  \
            const wtype *w = W + (size_t)k * (size_t)ld;                                            \
            for (j = j0; j < width; ++j) {                                                          \
                acc[j] = KC__MAC(acc[j], xk, LOAD(w + j));                                           \
            }                                                                                       \
        }                                                                                           \
    }

/* KC__DEFINE_PREACT(name, wtype, ACC) defines
 *   static inline void name(const kc_float *b, const wtype *W, const kc_float *x, const wtype *U,
 *                           const kc_float *h, kc_float *z, int n_x, int n_h, int n_out)
 * z = b + x @ W + h @ U: a gate's pre-activation, in one pass per block of outputs.
 * b (n_out,) [in] or NULL (no bias); W (n_x, n_out) [in]; x (n_x,) [in]; U (n_h, n_out) [in] or
 * NULL (no second product); h (n_h,) [in]; z (n_out,) [out], not x or h.
 * Sum order per output: bias, then x[0..n_x-1], then h[0..n_h-1]. */
#define KC__DEFINE_PREACT(name, wtype, ACC)                                                        \
    static inline void name(const kc_float *b, const wtype *W, const kc_float *x, const wtype *U,       \
                            const kc_float *h, kc_float *z, int n_x, int n_h, int n_out)               \
    {                                                                                               \
        kc_float acc[KC_BLOCK];                                                                        \
        int j0, j;                                                                                  \
        for (j0 = 0; j0 < n_out; j0 += KC_BLOCK) {                                                  \
            const int width = n_out - j0 < KC_BLOCK ? n_out - j0 : KC_BLOCK;                        \
            for (j = 0; j < width; ++j) {                                                           \
                acc[j] = b != NULL ? KC_LOAD_WEIGHT(b + j0 + j) : 0.0f;                                          \
            }                                                                                       \
            ACC(acc, W + j0, x, n_out, n_x, width);                                                 \
            if (U != NULL) {                                                                        \
                ACC(acc, U + j0, h, n_out, n_h, width);                                             \
            }                                                                                       \
            for (j = 0; j < width; ++j) {                                                           \
                z[j0 + j] = acc[j];                                                                 \
            }                                                                                       \
        }                                                                                           \
    }

/* KC__DEFINE_ACC4(name, wtype, LOAD, LOADV, VEC, ACC) defines
 *   static inline void name(kc_float *const acc[4], const wtype *W, const kc_float *const x[4], int ld, int n,
 *                           int width)
 * acc[r] (width,) [in,out] += x[r] (n,) [in] @ W [in] for the four rows r = 0..3 together (four timesteps of a
 * block of kc_project): each weight is loaded once for the four, so the loop is bound by
 * arithmetic rather than by weight reads. Columns in chunks of 16 kept in local accumulators; the sum order
 * per output is ACC's, k = 0..n-1 (the same bits); the columns after the last chunk go to ACC row by row. */
#ifndef KC_ACC4_COLS /* columns per chunk (a tuning choice: any positive value gives the same bits) */
#if (defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M') || defined(__AVR__) || defined(__MSP430__) \
    || (defined(__riscv) && !defined(__riscv_vector))
#define KC_ACC4_COLS 4 /* no vector unit: 16 accumulators in registers */
#elif defined(__AVX512F__)
#define KC_ACC4_COLS 32
#else
#define KC_ACC4_COLS 16 /* what GCC and clang vectorise (8 columns stay scalar with GCC 12 at -O3) */
#endif
#endif
#define KC__ACC4_COLS KC_ACC4_COLS
#define KC__DEFINE_ACC4(name, wtype, LOAD, LOADV, VEC, ACC)                                        \
    static inline void name(kc_float *const acc[4], const wtype *W, const kc_float *const x[4], int ld, int n, \
                            int width)                                                              \
    {                                                                                               \
        int j0 = 0, j, k, r;                                                                        \
        KC__VEC_ACC4(wtype, LOADV, VEC)                                                             \
        for (; j0 + KC__ACC4_COLS <= width; j0 += KC__ACC4_COLS) {                                  \
            kc_float a0[KC__ACC4_COLS], a1[KC__ACC4_COLS], a2[KC__ACC4_COLS], a3[KC__ACC4_COLS];    \
            for (j = 0; j < KC__ACC4_COLS; ++j) {                                                   \
                a0[j] = acc[0][j0 + j];                                                             \
                a1[j] = acc[1][j0 + j];                                                             \
                a2[j] = acc[2][j0 + j];                                                             \
                a3[j] = acc[3][j0 + j];                                                             \
            }                                                                                       \
            for (k = 0; k < n; ++k) {                                                               \
                const wtype *w = W + (size_t)k * (size_t)ld + j0;                                   \
                const kc_float x0 = x[0][k], x1 = x[1][k], x2 = x[2][k], x3 = x[3][k];                  \
                for (j = 0; j < KC__ACC4_COLS; ++j) {                                               \
                    const kc_float wj = LOAD(w + j);                                                   \
                    a0[j] = KC__MAC(a0[j], x0, wj);                                                 \
                    a1[j] = KC__MAC(a1[j], x1, wj);                                                 \
                    a2[j] = KC__MAC(a2[j], x2, wj);                                                 \
                    a3[j] = KC__MAC(a3[j], x3, wj);                                                 \
                }                                                                                   \
            }                                                                                       \
            for (j = 0; j < KC__ACC4_COLS; ++j) {                                                   \
                acc[0][j0 + j] = a0[j];                                                             \
                acc[1][j0 + j] = a1[j];                                                             \
                acc[2][j0 + j] = a2[j];                                                             \
                acc[3][j0 + j] = a3[j];                                                             \
            }                                                                                       \
        }                                                                                           \
        if (j0 < width) {                                                                           \
            for (r = 0; r < 4; ++r) {                                                               \
                ACC(acc[r] + j0, W + j0, x[r], ld, n, width - j0);                                  \
            }                                                                                       \
        }                                                                                           \
    }

#define KC_PROJECT_MAX_STEPS 256 /* timesteps of one kc_project call at most (kerasc --predict-block's limit) */
/* KC__DEFINE_PROJECT(name, wtype, ACC, ACC4) defines
 *   static inline void name(const kc_float *b, const wtype *W, const kc_float *x, ptrdiff_t ldx, int nt,
 *                           kc_float *z, int ldz, int n_x, int n_out)
 * z[t] = b + x[t] @ W for the nt <= KC_PROJECT_MAX_STEPS (256) timesteps t = 0..nt-1 of a block: the input half of a gate's
 * pre-activation, which does not depend on the recurrent state. x[t] is x + t * ldx (ldx < 0 walks a
 * sequence backwards), z[t] is z + t * ldz. Each block of KC_BLOCK columns of W is read from memory
 * once for all nt timesteps (from cache for the others): with kc_preact a step reads all of W.
 * b (n_out,) [in] or NULL; W (n_x, n_out) [in]; x [in]; z [out], not x.
 * Sum order per output as kc_preact's: bias, then x[0..n_x-1]; so kc_preact_rec(z[t], U, h) gives bit
 * for bit what kc_preact(b, W, x[t], U, h) gives. */
#define KC__DEFINE_PROJECT(name, wtype, ACC, ACC4)                                                 \
    static inline void name(const kc_float *b, const wtype *W, const kc_float *x, ptrdiff_t ldx, int nt,   \
                            kc_float *z, int ldz, int n_x, int n_out)                                  \
    {                                                                                               \
        int j, t = 0, r;                                                                            \
        nt = nt < KC_PROJECT_MAX_STEPS ? nt : KC_PROJECT_MAX_STEPS; /* a bound the compiler can see */  \
        for (; t < nt; ++t) { /* z[t] = b: the first term of every sum */                          \
            kc_float *zt = z + (ptrdiff_t)t * ldz;                                                     \
            for (j = 0; j < n_out; ++j) {                                                           \
                zt[j] = b != NULL ? KC_LOAD_WEIGHT(b + j) : 0.0f;                                   \
            }                                                                                       \
        }                                                                                           \
        for (t = 0; t + 4 <= nt; t += 4) {                                                          \
            kc_float *const zr[4] = {z + (ptrdiff_t)t * ldz, z + (ptrdiff_t)(t + 1) * ldz,            \
                                  z + (ptrdiff_t)(t + 2) * ldz, z + (ptrdiff_t)(t + 3) * ldz};          \
            const kc_float *const xr[4] = {x + (ptrdiff_t)t * ldx, x + (ptrdiff_t)(t + 1) * ldx,       \
                                        x + (ptrdiff_t)(t + 2) * ldx, x + (ptrdiff_t)(t + 3) * ldx};    \
            ACC4(zr, W, xr, n_out, n_x, n_out);                                                     \
        }                                                                                           \
        for (r = t; r < nt; ++r) {                                                                  \
            ACC(z + (ptrdiff_t)r * ldz, W, x + (ptrdiff_t)r * ldx, n_out, n_x, n_out);              \
        }                                                                                           \
    }

/* KC__DEFINE_PREACT_REC(name, wtype, ACC) defines
 *   static inline void name(const kc_float *zx, const wtype *U, const kc_float *h, kc_float *z, int n_h,
 *                           int n_out)
 * z = zx + h @ U: a gate's pre-activation from its input half zx (what kc_project wrote).
 * zx (n_out,) [in]; U (n_h, n_out) [in]; h (n_h,) [in]; z (n_out,) [out], may be zx, not h.
 * Sum order per output: zx, then h[0..n_h-1]. */
#define KC__DEFINE_PREACT_REC(name, wtype, ACC)                                                    \
    static inline void name(const kc_float *zx, const wtype *U, const kc_float *h, kc_float *z, int n_h,   \
                            int n_out)                                                              \
    {                                                                                               \
        kc_float acc[KC_BLOCK];                                                                        \
        int j0, j;                                                                                  \
        for (j0 = 0; j0 < n_out; j0 += KC_BLOCK) {                                                  \
            const int width = n_out - j0 < KC_BLOCK ? n_out - j0 : KC_BLOCK;                        \
            for (j = 0; j < width; ++j) {                                                           \
                acc[j] = zx[j0 + j];                                                                \
            }                                                                                       \
            ACC(acc, U + j0, h, n_out, n_h, width);                                                 \
            for (j = 0; j < width; ++j) {                                                           \
                z[j0 + j] = acc[j];                                                                 \
            }                                                                                       \
        }                                                                                           \
    }

/* =============================================================== 2. target-specific paths */

/* ---------------------------------------------------------------- fused multiply-add
 * Where the target has a single-precision FMA instruction, every product is added fused
 * (KC_FMA 1): one rounding and one instruction instead of two. The fused form is emitted only in a
 * way that becomes the instruction: a library fmaf is software double on newlib, far slower than
 * the plain form.
 * - GCC: __builtin_fmaf, inlined wherever the target has FMA, also with -ffreestanding (where a
 *   plain fmaf() is an external call).
 * - clang: __builtin_fmaf where its math functions may not set errno (-fno-math-errno, glibc/Apple
 *   targets); with errno semantics (clang's bare-metal default) it calls fmaf, so 32-bit Arm gets
 *   VFMA.F32 by inline assembly and other such targets the plain form.
 * - other compilers: fmaf where <math.h> says it is fast (FP_FAST_FMAF).
 * Not on x86 at -Os (GCC leaves a false dependency before each scalar FMA there: int8 2x slower).
 * KC_NO_FMA forces the plain form acc + x * w (which the compiler may still contract: add
 * -ffp-contract=off for unfused results). KC_SIMD fuses in the same places, so both paths agree. */
#if defined(__OPTIMIZE_SIZE__) && (defined(__x86_64__) || defined(__i386__))
#define KC__FMA_WANTED 0
#else
#define KC__FMA_WANTED 1
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__FP_FAST_FMAF)
#define KC__FMAF(x, w, a) __builtin_fmaf((x), (w), (a))
#elif defined(__clang__) && (defined(__FMA__) || defined(__ARM_FEATURE_FMA)) &&                      \
    (defined(__NO_MATH_ERRNO__) || defined(__GLIBC__) || defined(__gnu_linux__) || defined(__APPLE__))
#define KC__FMAF(x, w, a) __builtin_fmaf((x), (w), (a))
#elif defined(__clang__) && defined(__arm__) && defined(__ARM_FEATURE_FMA) && defined(__ARM_FP) &&    \
    (__ARM_FP & 4) && !defined(__aarch64__)
static inline float kc__vfma_f32(float x, float w, float a)
{
    __asm__("vfma.f32 %0, %1, %2" : "+t"(a) : "t"(x), "t"(w));
    return a;
}
#define KC__FMAF(x, w, a) kc__vfma_f32((x), (w), (a))
#elif !defined(__GNUC__) && !defined(__clang__) && defined(FP_FAST_FMAF)
#define KC__FMAF(x, w, a) fmaf((x), (w), (a))
#endif
#if !defined(KC_NO_FMA) && KC__FMA_WANTED && !KC__DOUBLE && defined(KC__FMAF)
#define KC_FMA 1
#define KC__MAC(a, x, w) KC__FMAF((x), (w), (a))
#else
#define KC_FMA 0
#define KC__MAC(a, x, w) ((a) + (x) * (w))
#endif
/* GCC counts each fused product as a call when it decides what to inline: at -O2 the product loop
 * would stay out of line with an unknown trip count, which its cheap -O2 vectoriser skips (4-5x
 * slower). So with KC_FMA that loop is inlined into its caller, except at -Os and with KC_SIMD (whose
 * vector blocks do not need the vectoriser, and which is slower forced inline). */
#ifndef KC__ACC_INLINE
#if KC_FMA && defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE_SIZE__) && !defined(KC_SIMD)
#define KC__ACC_INLINE static inline __attribute__((always_inline))
#else
#define KC__ACC_INLINE static inline
#endif
#endif

/* ---------------------------------------------------------------- float16 conversion
 * Where the compiler has a half type the target converts in hardware, kc_half_to_float uses it:
 * Arm with -mfp16-format=ieee (__fp16: VCVTB on Cortex-M4F/M7, a library call elsewhere) and clang
 * with F16C on x86 (vectorised to VCVTPH2PS). KC_PORTABLE_HALF forces the portable decoder. Both give
 * the same float for every half that is not a NaN (NaNs stay NaNs with their payload; hardware may set
 * the quiet bit). */
#if !defined(KC_PORTABLE_HALF) && (defined(__ARM_FP16_FORMAT_IEEE) || (defined(__clang__) && defined(__F16C__)))
#define KC_NATIVE_HALF 1
static inline float kc_half_to_float(uint16_t h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}
#else
static inline float kc_half_to_float(uint16_t h) { return kc__half_to_float_portable(h); }
#endif

/* ---------------------------------------------------------------- KC_SIMD vector blocks
 * Opt-in (KC_SIMD defined before including this header; GCC >= 9 or clang). The products run on GNU C
 * vectors of KC_SIMD_LANES floats (default 8 with AVX, else 4: SSE, NEON): blocks of 8, 4 or 1
 * vectors of outputs kept in registers over all rows; the rest of a row takes the portable loop.
 * Every output is summed in exactly the portable loop's order, with the same fusing, so both paths
 * give the same floats bit for bit with the same compiler and flags (tests/c/test_simd.py).
 * A weight type takes the vector path only where the target widens it in one or two instructions
 * (elsewhere lane-by-lane widening is slower than the portable loop): float32 always, int8 with
 * SSE4.1/AVX2/AVX-512 or NEON, float16 with F16C. Not for scalar-FPU microcontrollers: GNU vectors
 * are lowered to scalar code there. */
#if defined(KC_SIMD) && (defined(__GNUC__) || defined(__clang__)) && !KC__DOUBLE
#ifndef KC_SIMD_LANES
#if defined(__AVX__)
#define KC_SIMD_LANES 8
#else
#define KC_SIMD_LANES 4
#endif
#endif
#if defined(__F16C__) && (KC_SIMD_LANES == 8 || (KC_SIMD_LANES == 16 && defined(__AVX512F__)))
#define KC__F16C 1
#endif
/* x86: int8 widened by one VPMOVSXBD + VCVTDQ2PS (a generic vector conversion of int8 lanes is
 * assembled element by element by some GCC versions) */
#if (KC_SIMD_LANES == 4 && defined(__SSE4_1__)) || (KC_SIMD_LANES == 8 && defined(__AVX2__)) ||             \
    (KC_SIMD_LANES == 16 && defined(__AVX512F__))
#define KC__X86_I8 1
#endif
#if defined(KC__F16C) || defined(KC__X86_I8)
#include <immintrin.h>
#endif
/* AArch64 NEON (IEEE arithmetic, as the scalar FPU): int8 widened by SXTL + SCVTF and fused
 * multiply-adds by FMLA through <arm_neon.h> (GCC assembles both from single lanes otherwise) */
#if defined(__aarch64__) && defined(__ARM_NEON) && KC_SIMD_LANES == 4
#define KC__A64 1
#include <arm_neon.h>
#endif
#define KC__VEC_F32 1
#if defined(__SSE4_1__) || defined(__ARM_NEON)
#define KC__VEC_I8 1
#else
#define KC__VEC_I8 0
#endif
#if defined(KC__F16C)
#define KC__VEC_F16 1
#else
#define KC__VEC_F16 0
#endif
typedef float kc__vf __attribute__((vector_size(KC_SIMD_LANES * 4)));
typedef int32_t kc__vi __attribute__((vector_size(KC_SIMD_LANES * 4)));

/* KC__VMAC(a, x, w): a = a + x * w on vectors, fused where the portable loop fuses (KC_FMA) */
#if KC_FMA && defined(__FMA__) && (KC_SIMD_LANES == 4 || KC_SIMD_LANES == 8 ||                     \
                                   (KC_SIMD_LANES == 16 && defined(__AVX512F__)))
#include <immintrin.h>
#if KC_SIMD_LANES == 4
#define KC__VMAC(a, x, w) ((a) = (kc__vf)_mm_fmadd_ps((__m128)(w), _mm_set1_ps(x), (__m128)(a)))
#elif KC_SIMD_LANES == 8
#define KC__VMAC(a, x, w) ((a) = (kc__vf)_mm256_fmadd_ps((__m256)(w), _mm256_set1_ps(x), (__m256)(a)))
#else
#define KC__VMAC(a, x, w) ((a) = (kc__vf)_mm512_fmadd_ps((__m512)(w), _mm512_set1_ps(x), (__m512)(a)))
#endif
#elif KC_FMA && defined(KC__A64)
#define KC__VMAC(a, x, w) ((a) = (kc__vf)vfmaq_f32((float32x4_t)(a), (float32x4_t)(w), vdupq_n_f32(x)))
#elif KC_FMA
static inline void kc__vfma(kc__vf *a, float x, const kc__vf *w)
{
    int l;
    for (l = 0; l < KC_SIMD_LANES; ++l) {
        (*a)[l] = KC__FMAF(x, (*w)[l], (*a)[l]);
    }
}
#define KC__VMAC(a, x, w) kc__vfma(&(a), (x), &(w))
#else
#define KC__VMAC(a, x, w) ((a) = (a) + (x) * (w))
#endif

/* v [out] = KC_SIMD_LANES weights from w [in], widened to floats (vectors pass by pointer: returning
 * one wider than the target's registers would change the ABI, and compilers warn about it) */
static inline void kc__vload_f32(kc__vf *v, const float *w)
{
    memcpy(v, w, sizeof *v);
}

static inline void kc__vload_i8(kc__vf *v, const int8_t *w)
{
#if defined(KC__X86_I8) && KC_SIMD_LANES == 4
    int32_t b;
    memcpy(&b, w, sizeof b);
    *v = (kc__vf)_mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(b)));
#elif defined(KC__X86_I8) && KC_SIMD_LANES == 8
    *v = (kc__vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)w)));
#elif defined(KC__X86_I8)
    *v = (kc__vf)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)w)));
#elif defined(KC__A64)
    int32_t b;
    memcpy(&b, w, sizeof b);
    *v = (kc__vf)vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(b))))));
#else
    kc__vi q = {0}; /* every lane is set below; the initializer keeps -Wmaybe-uninitialized quiet */
    int l;
    for (l = 0; l < KC_SIMD_LANES; ++l) {
        q[l] = w[l];
    }
    *v = __builtin_convertvector(q, kc__vf);
#endif
}

static inline void kc__vload_f16(kc__vf *v, const uint16_t *w)
{
#if defined(KC__F16C) && KC_SIMD_LANES == 8
    *v = (kc__vf)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)w));
#elif defined(KC__F16C)
    *v = (kc__vf)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)w));
#else
    int l;
    for (l = 0; l < KC_SIMD_LANES; ++l) {
        (*v)[l] = kc_half_to_float(w[l]);
    }
#endif
}

/* Inside KC__DEFINE_ACC: outputs j0.. in blocks of NV vectors (registers) over all n rows, if VEC. */
#define KC__VEC_BLOCK(wtype, LOADV, VEC, NV)                                                        \
    for (; (VEC) && j0 + (NV) * KC_SIMD_LANES <= width; j0 += (NV) * KC_SIMD_LANES) {               \
        kc__vf a[NV];                                                                               \
        int v;                                                                                      \
        _Pragma("GCC unroll 8") for (v = 0; v < (NV); ++v)                                          \
        {                                                                                           \
            memcpy(&a[v], acc + j0 + v * KC_SIMD_LANES, sizeof a[v]);                               \
        }                                                                                           \
        for (k = 0; k < n; ++k) {                                                                   \
            const float xk = x[k];                                                                  \
            const wtype *w = W + (size_t)k * (size_t)ld + j0;                                       \
            _Pragma("GCC unroll 8") for (v = 0; v < (NV); ++v)                                      \
            {                                                                                       \
                kc__vf wv;                                                                          \
                LOADV(&wv, w + v * KC_SIMD_LANES);                                                  \
                KC__VMAC(a[v], xk, wv);                                                             \
            }                                                                                       \
        }                                                                                           \
        _Pragma("GCC unroll 8") for (v = 0; v < (NV); ++v)                                          \
        {                                                                                           \
            memcpy(acc + j0 + v * KC_SIMD_LANES, &a[v], sizeof a[v]);                               \
        }                                                                                           \
    }
#define KC__VEC_BLOCKS(wtype, LOADV, VEC)                                                           \
    KC__VEC_BLOCK(wtype, LOADV, VEC, 8) KC__VEC_BLOCK(wtype, LOADV, VEC, 4) KC__VEC_BLOCK(wtype, LOADV, VEC, 1)
/* Inside KC__DEFINE_ACC4: columns j0.. in chunks of 2 vectors for the 4 rows (8 accumulator registers), if VEC. */
#define KC__VEC_ACC4(wtype, LOADV, VEC)                                                             \
    for (; (VEC) && j0 + 2 * KC_SIMD_LANES <= width; j0 += 2 * KC_SIMD_LANES) {                    \
        kc__vf a[4][2];                                                                             \
        for (r = 0; r < 4; ++r) {                                                                   \
            memcpy(&a[r][0], acc[r] + j0, sizeof a[r][0]);                                          \
            memcpy(&a[r][1], acc[r] + j0 + KC_SIMD_LANES, sizeof a[r][1]);                          \
        }                                                                                           \
        for (k = 0; k < n; ++k) {                                                                   \
            const wtype *w = W + (size_t)k * (size_t)ld + j0;                                       \
            kc__vf w0, w1;                                                                          \
            LOADV(&w0, w);                                                                          \
            LOADV(&w1, w + KC_SIMD_LANES);                                                          \
            KC__VMAC(a[0][0], x[0][k], w0);                                                         \
            KC__VMAC(a[0][1], x[0][k], w1);                                                         \
            KC__VMAC(a[1][0], x[1][k], w0);                                                         \
            KC__VMAC(a[1][1], x[1][k], w1);                                                         \
            KC__VMAC(a[2][0], x[2][k], w0);                                                         \
            KC__VMAC(a[2][1], x[2][k], w1);                                                         \
            KC__VMAC(a[3][0], x[3][k], w0);                                                         \
            KC__VMAC(a[3][1], x[3][k], w1);                                                         \
        }                                                                                           \
        for (r = 0; r < 4; ++r) {                                                                   \
            memcpy(acc[r] + j0, &a[r][0], sizeof a[r][0]);                                          \
            memcpy(acc[r] + j0 + KC_SIMD_LANES, &a[r][1], sizeof a[r][1]);                          \
        }                                                                                           \
    }
#else
#define KC__VEC_BLOCKS(wtype, LOADV, VEC)
#define KC__VEC_ACC4(wtype, LOADV, VEC)
#define KC__VEC_F32 0
#define KC__VEC_I8 0
#define KC__VEC_F16 0
#endif

/* =============================================================== 3. gate-product kernels */

/* LOAD(p): the weight at p as kc_float (KC_LOAD_WEIGHT*: plain loads, or flash reads on AVR) */
#define KC__LOAD_F32(p) KC_LOAD_WEIGHT(p)
#define KC__LOAD_F16(p) kc_half_to_float(KC_LOAD_WEIGHT_U16(p))
#define KC__LOAD_I8(p) ((kc_float)KC_LOAD_WEIGHT_I8(p))
KC__DEFINE_ACC(kc__acc, kc_float, KC__LOAD_F32, kc__vload_f32, KC__VEC_F32)
KC__DEFINE_ACC(kc__acc_f16, uint16_t, KC__LOAD_F16, kc__vload_f16, KC__VEC_F16)
/* int8: unscaled sums (kc_preact_i8 applies the per-output scales) */
KC__DEFINE_ACC(kc__acc_i8, int8_t, KC__LOAD_I8, kc__vload_i8, KC__VEC_I8)

/* kc_preact: float32 kernels W (n_x, n_out) and U (n_h, n_out), in Keras' row-major layout. */
KC__DEFINE_PREACT(kc_preact, kc_float, kc__acc)
/* kc_preact_f16: float16 kernels (bit patterns); b, x, h, z stay float32.
 * (`kerasc convert --weights float16|int8`: biases, activations, states and all arithmetic stay
 * float32; each weight is widened as it is read, in the same loop order as the float32 kernel.) */
KC__DEFINE_PREACT(kc_preact_f16, uint16_t, kc__acc_f16)
/* The split form of kc_preact and kc_preact_f16 (NAME_predict's blocks of timesteps; int8 kernels have none). */
KC__DEFINE_ACC4(kc__acc4, kc_float, KC__LOAD_F32, kc__vload_f32, KC__VEC_F32, kc__acc)
KC__DEFINE_ACC4(kc__acc4_f16, uint16_t, KC__LOAD_F16, kc__vload_f16, KC__VEC_F16, kc__acc_f16)
KC__DEFINE_PROJECT(kc_project, kc_float, kc__acc, kc__acc4)
KC__DEFINE_PROJECT(kc_project_f16, uint16_t, kc__acc_f16, kc__acc4_f16)
KC__DEFINE_PREACT_REC(kc_preact_rec, kc_float, kc__acc)
KC__DEFINE_PREACT_REC(kc_preact_rec_f16, uint16_t, kc__acc_f16)

/* kc_preact_i8: z = b + sW * (x @ Wq) + sU * (h @ Uq) with int8 kernels and one float scale per
 * output (per column of the Keras kernel), W[k][j] = sW[j] * Wq[k][j] (symmetric:
 * sW[j] = max_k |W[k][j]| / 127). Arguments as kc_preact, plus sW, sU (n_out,) [in]; U and sU may be
 * NULL. Costs two blocks of KC_BLOCK floats of stack. */
static inline void kc_preact_i8(const kc_float *b, const int8_t *W, const kc_float *sW, const kc_float *x,
                                const int8_t *U, const kc_float *sU, const kc_float *h, kc_float *z, int n_x, int n_h,
                                int n_out)
{
    kc_float acc[KC_BLOCK];
    kc_float accu[KC_BLOCK];
    int j0, j;
    for (j0 = 0; j0 < n_out; j0 += KC_BLOCK) {
        const int width = n_out - j0 < KC_BLOCK ? n_out - j0 : KC_BLOCK;
        for (j = 0; j < width; ++j) {
            acc[j] = 0.0f;
            accu[j] = 0.0f;
        }
        kc__acc_i8(acc, W + j0, x, n_out, n_x, width);
        if (U != NULL) {
            kc__acc_i8(accu, U + j0, h, n_out, n_h, width);
            for (j = 0; j < width; ++j) {
                acc[j] = KC_LOAD_WEIGHT(sW + j0 + j) * acc[j] + KC_LOAD_WEIGHT(sU + j0 + j) * accu[j];
            }
        } else {
            for (j = 0; j < width; ++j) {
                acc[j] = KC_LOAD_WEIGHT(sW + j0 + j) * acc[j];
            }
        }
        for (j = 0; j < width; ++j) {
            z[j0 + j] = b != NULL ? KC_LOAD_WEIGHT(b + j0 + j) + acc[j] : acc[j];
        }
    }
}

#ifdef __cplusplus
}
#endif

#endif /* KC_RUNTIME_H_INCLUDED */

/* =============================================================== 4. optional activations
 * Outside the include guard: every header that includes this file may ask for more (define-if-any),
 * and each function is defined once. A generated header defines KC_USE_<NAME> for those it calls;
 * KC_USE_ALL_ACTIVATIONS defines all of them. */
#ifdef __cplusplus
extern "C" {
#endif

/* softplus: log(1 + exp(x)), stable for large |x| like tf.math.softplus (also for mish, log_sigmoid) */
#if (defined(KC_USE_SOFTPLUS) || defined(KC_USE_MISH) || defined(KC_USE_LOG_SIGMOID) ||                   \
     defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_SOFTPLUS)
#define KC__HAVE_SOFTPLUS 1
static inline kc_float kc_act_softplus(kc_float x)
{
    if (x > 15.0f) {
        return x + KC__EXP(-x);
    }
    if (x < -15.0f) {
        return KC__EXP(x);
    }
    return KC__LOG1P(KC__EXP(x));
}
KC__VEC_ELEMENTWISE(softplus)
#endif

/* mish: x * tanh(softplus(x)) */
#if (defined(KC_USE_MISH) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_MISH)
#define KC__HAVE_MISH 1
static inline kc_float kc_act_mish(kc_float x) { return x * KC__TANH(kc_act_softplus(x)); }
KC__VEC_ELEMENTWISE(mish)
#endif

/* log_sigmoid: -softplus(-x) */
#if (defined(KC_USE_LOG_SIGMOID) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_LOG_SIGMOID)
#define KC__HAVE_LOG_SIGMOID 1
static inline kc_float kc_act_log_sigmoid(kc_float x) { return -kc_act_softplus(-x); }
KC__VEC_ELEMENTWISE(log_sigmoid)
#endif

/* elu (alpha = 1): x if x > 0 else expm1(x) */
#if (defined(KC_USE_ELU) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_ELU)
#define KC__HAVE_ELU 1
static inline kc_float kc_act_elu(kc_float x) { return x > 0.0f ? x : KC__EXPM1(x); }
KC__VEC_ELEMENTWISE(elu)
#endif

/* selu: scale * (x if x > 0 else alpha * expm1(x)) */
#if (defined(KC_USE_SELU) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_SELU)
#define KC__HAVE_SELU 1
static inline kc_float kc_act_selu(kc_float x)
{
    const kc_float alpha = 1.67326324235437728f;
    const kc_float scale = 1.05070098735548049f;
    return x > 0.0f ? scale * x : scale * alpha * KC__EXPM1(x);
}
KC__VEC_ELEMENTWISE(selu)
#endif

/* celu (alpha = 1): max(x, 0) + alpha * expm1(min(x, 0) / alpha) */
#if (defined(KC_USE_CELU) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_CELU)
#define KC__HAVE_CELU 1
static inline kc_float kc_act_celu(kc_float x) { return (x > 0.0f ? x : 0.0f) + KC__EXPM1(x < 0.0f ? x : 0.0f); }
KC__VEC_ELEMENTWISE(celu)
#endif

/* gelu (approximate = False): 0.5 x (1 + erf(x / sqrt(2))) */
#if (defined(KC_USE_GELU) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_GELU)
#define KC__HAVE_GELU 1
static inline kc_float kc_act_gelu(kc_float x) { return 0.5f * x * (1.0f + KC__ERF(x * 0.707106781186547524f)); }
KC__VEC_ELEMENTWISE(gelu)
#endif

/* Keras ELU layer (TensorFlow backend elu): y = x if x > 0 else alpha * expm1(x).
 * x (n,) [in], y (n,) [out]; y may be x. */
#if (defined(KC_USE_ELU_ALPHA) || defined(KC_USE_ALL_ACTIVATIONS)) && !defined(KC__HAVE_ELU_ALPHA)
#define KC__HAVE_ELU_ALPHA 1
static inline void kc_vec_elu_alpha(const kc_float *x, kc_float *y, int n, kc_float alpha)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = x[j] > 0.0f ? x[j] : alpha * KC__EXPM1(x[j]);
    }
}
#endif

#ifdef __cplusplus
}
#endif
