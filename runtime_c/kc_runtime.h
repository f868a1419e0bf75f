/* kc_runtime.h - kerasc runtime kernels, shared by every generated model header.
 *
 * Portable C99 (also valid C++), header-only, no heap, no mutable globals.
 * Everything here is `static inline` and carries the `kc_` prefix (`kc__` for private
 * helpers), so any number of generated headers can include it in one translation unit.
 * Only float32 arithmetic by default: no double is used anywhere (Cortex-M FPUs are single-precision).
 * KC_FLOAT=double (see kc_float below) builds the same code in double precision: the exact reference
 * of `kerasc verify`, not for firmware.
 *
 * Generated headers check KC_RUNTIME_VERSION and refuse to build against another version.
 * SPDX-License-Identifier: MIT
 */
#ifndef KC_RUNTIME_H_INCLUDED
#define KC_RUNTIME_H_INCLUDED

#define KC_RUNTIME_VERSION 4
#define KC_RUNTIME_QUANT 1 /* has kc_preact_f16 and kc_preact_i8 (headers with --weights float16 / int8) */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* ---------------------------------------------------------------- products */

/* Column block of the products: up to KC_BLOCK outputs are summed in a local array (the compiler
 * keeps it in vector registers or in L1), so each weight row is streamed once and z is written once
 * per block. 128 suits 128- to 512-bit vector units and layers of up to 128 units in one block; any
 * positive value is correct (the block costs KC_BLOCK * 4 bytes of stack: lower it on small
 * microcontrollers if that matters). */
#ifndef KC_BLOCK
#define KC_BLOCK 128
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

/* ---- fused multiply-add. Where the target has a fast single-precision FMA (FP_FAST_FMAF from
 * <math.h>, or the compiler's __FP_FAST_FMAF: GCC with -mfma / -march=native on x86-64 and on ARM
 * VFPv4 such as Cortex-M4F; clang with FMA on x86 or ARM), every product of the gate loops is added
 * with fmaf(x, w, acc): one rounding instead of two, and one instruction instead of two where
 * int8/float16 widening keeps the FP pipes busy (measured, docs/speed.md). Elsewhere (Cortex-M0,
 * x86-64 without -mfma, ...) the plain acc + x * w is kept, as is, so that machine code is unchanged.
 * Not on x86 at -Os (measured slower there, docs/speed.md).
 * KC_FMA is 1 when the fused form is used; define KC_NO_FMA to force the plain form (the compiler may
 * still contract it: GCC in GNU mode, clang by default; add -ffp-contract=off for unfused results).
 * The optional vector path below fuses in the same places, so both paths stay bit-identical. */
/* x86 at -Os: GCC leaves a false dependency (vcvtsi2ss into the previous FMA result) before each
 * scalar FMA, which made int8 2x slower */
#if defined(__OPTIMIZE_SIZE__) && (defined(__x86_64__) || defined(__i386__))
#define KC__FMA_WANTED 0
#else
#define KC__FMA_WANTED 1
#endif
#if !defined(KC_NO_FMA) && KC__FMA_WANTED && !KC__DOUBLE &&                                                        \
    (defined(FP_FAST_FMAF) || defined(__FP_FAST_FMAF) ||                                            \
     (defined(__clang__) && (defined(__FMA__) || defined(__ARM_FEATURE_FMA))))
#define KC_FMA 1
#define KC__MAC(a, x, w) fmaf((x), (w), (a))
#else
#define KC_FMA 0
#define KC__MAC(a, x, w) ((a) + (x) * (w))
#endif
/* GCC counts each fmaf as a call when it decides what to inline: at -O2 the portable product loop then
 * stays out of line, its trip count unknown, and GCC's -O2 (very cheap) vectoriser skips it (4-5x
 * slower, measured, docs/speed.md). So with KC_FMA that loop is always inlined into its caller, except
 * at -Os and with KC_SIMD (whose vector blocks do not depend on the vectoriser, and which measured
 * 1.4x slower at -O3 when forced inline). */
#ifndef KC__ACC_INLINE
#if KC_FMA && defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE_SIZE__) && !defined(KC_SIMD)
#define KC__ACC_INLINE static inline __attribute__((always_inline))
#else
#define KC__ACC_INLINE static inline
#endif
#endif

/* ---- optional vector path: KC_SIMD defined before including this header (GCC >= 9 or clang).
 * The products then run on GNU C vectors of KC_SIMD_LANES floats (default 8 with AVX, else 4: SSE,
 * NEON), a block of 8, 4 or 1 vectors of outputs kept in registers over all rows; the rest of
 * a row (width not a multiple of KC_SIMD_LANES) takes the portable loop. Weights are widened by
 * __builtin_convertvector (int8), the F16C instruction when the target has it (float16; otherwise
 * kc_half_to_float lane by lane) or read as they are (float32). Every output is summed in exactly
 * the order of the portable loop (bias, then row 0, 1, ...; products rounded, then added), so both
 * paths give the same floats bit for bit with the same compiler and flags (tests/test_speed.py).
 * Worth it where the compiler vectorises the portable loop badly: int8 and float16 weights with GCC
 * (measured, docs/speed.md). Not for FPU-less or scalar-FPU microcontrollers (GNU vectors are
 * lowered to scalar code there, with more register pressure than the portable loop). */
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
/* x86: int8 weights widened by one VPMOVSXBD + VCVTDQ2PS (GCC 12 assembles a vector conversion of
 * int8 lanes element by element at -O2: 25x slower, measured) */
#if (KC_SIMD_LANES == 4 && defined(__SSE4_1__)) || (KC_SIMD_LANES == 8 && defined(__AVX2__)) ||             \
    (KC_SIMD_LANES == 16 && defined(__AVX512F__))
#define KC__X86_I8 1
#endif
#if defined(KC__F16C) || defined(KC__X86_I8)
#include <immintrin.h>
#endif
/* AArch64 NEON (IEEE arithmetic, as the scalar FPU): int8 weights widened by SXTL + SCVTF and fused
 * multiply-adds by FMLA through <arm_neon.h> (GCC 12 assembles both from single lanes at -O3) */
#if defined(__aarch64__) && defined(__ARM_NEON) && KC_SIMD_LANES == 4
#define KC__A64 1
#include <arm_neon.h>
#endif
/* Which weight types take the vector path: those the target widens in one or two instructions
 * (elsewhere the lane-by-lane widening is slower than the portable loop, measured, docs/speed.md). */
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

/* KC__VMAC(a, x, w): a = a + x * w on vectors, fused where the portable loop fuses (KC_FMA), so both
 * paths round alike: the x86 FMA instruction when the target has it, else fmaf lane by lane. */
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
/* AArch64: one FMLA (GCC 12 makes scalar FMADDs and lane moves of the fmaf lanes below at -O3) */
#define KC__VMAC(a, x, w) ((a) = (kc__vf)vfmaq_f32((float32x4_t)(a), (float32x4_t)(w), vdupq_n_f32(x)))
#elif KC_FMA
static inline void kc__vfma(kc__vf *a, float x, const kc__vf *w)
{
    int l;
    for (l = 0; l < KC_SIMD_LANES; ++l) {
        (*a)[l] = fmaf(x, (*w)[l], (*a)[l]);
    }
}
#define KC__VMAC(a, x, w) kc__vfma(&(a), (x), &(w))
#else
#define KC__VMAC(a, x, w) ((a) = (a) + (x) * (w))
#endif

static inline float kc_half_to_float(uint16_t h);

/* *v = KC_SIMD_LANES weights from w, widened to floats (vectors pass by pointer: returning one wider
 * than the target's registers would change the ABI, and compilers warn about it) */
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
#else
#define KC__VEC_BLOCKS(wtype, LOADV, VEC)
#define KC__VEC_F32 0
#define KC__VEC_I8 0
#define KC__VEC_F16 0
#endif

/* KC__DEFINE_ACC(name, wtype, LOAD, LOADV, VEC) defines
 *   static inline void name(float *acc, const wtype *W, int ld, const float *x, int n, int width)
 * acc (width,) += x (n,) @ W[0:n][0:width], rows ld weights apart (width <= KC_BLOCK), each weight
 * read through its pointer and widened to float by LOAD (float32, float16 and int8 kernels share
 * this one loop; LOADV widens a vector of them on the optional KC_SIMD path, which takes the first
 * columns when VEC is 1).
 * Four rows per pass, each added in turn: the sum order is k = 0..n-1, as in the plain loop
 * `for k: for j: acc[j] += x[k] * W[k][j]`, so the result is bit-identical to it. The inner loop has
 * independent lanes (and a constant trip count once inlined), so compilers vectorise it without
 * -ffast-math. */
#define KC__DEFINE_ACC(name, wtype, LOAD, LOADV, VEC)                                               \
    KC__ACC_INLINE void name(kc_float *acc, const wtype *W, int ld, const kc_float *x, int n, int width) \
    {                                                                                               \
        const int n4 = n - n % 4;                                                                   \
        int j0 = 0, k, j;                                                                           \
        KC__VEC_BLOCKS(wtype, LOADV, VEC)                                                           \
        for (k = 0; k < n4; k += 4) {                                                               \
            const kc_float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];                  \
            const wtype *w0 = W + (size_t)k * (size_t)ld;                                           \
            const wtype *w1 = w0 + ld, *w2 = w1 + ld, *w3 = w2 + ld;                                \
            for (j = j0; j < width; ++j) {                                                          \
                acc[j] = KC__MAC(KC__MAC(KC__MAC(KC__MAC(acc[j], x0, LOAD(w0 + j)),                 \
                                                 x1, LOAD(w1 + j)),                                 \
                                         x2, LOAD(w2 + j)),                                         \
                                 x3, LOAD(w3 + j));                                                 \
            }                                                                                       \
        }                                                                                           \
        for (k = n4; k < n; ++k) {                                                                  \
            const kc_float xk = x[k];                                                               \
            const wtype *w = W + (size_t)k * (size_t)ld;                                            \
            for (j = j0; j < width; ++j) {                                                          \
                acc[j] = KC__MAC(acc[j], xk, LOAD(w + j));                                          \
            }                                                                                       \
        }                                                                                           \
    }

/* KC__DEFINE_PREACT(name, wtype, ACC) defines
 *   static inline void name(float *z, const float *b, const wtype *W, const float *x, int n_x,
 *                           const wtype *U, const float *h, int n_h, int n_out)
 * z (n_out,) = b (n_out,) + x (n_x,) @ W (n_x, n_out) + h (n_h,) @ U (n_h, n_out): a gate's
 * pre-activation in one pass per block of outputs (b may be NULL: no bias; U may be NULL: no
 * second product). Sum order per output: bias, then x[0..n_x-1], then h[0..n_h-1]. */
#define KC__DEFINE_PREACT(name, wtype, ACC)                                                        \
    static inline void name(kc_float *z, const kc_float *b, const wtype *W, const kc_float *x, int n_x,   \
                            const wtype *U, const kc_float *h, int n_h, int n_out)               \
    {                                                                                               \
        kc_float acc[KC_BLOCK];                                                                     \
        int j0, j;                                                                                  \
        for (j0 = 0; j0 < n_out; j0 += KC_BLOCK) {                                                  \
            const int width = n_out - j0 < KC_BLOCK ? n_out - j0 : KC_BLOCK;                        \
            for (j = 0; j < width; ++j) {                                                           \
                acc[j] = b != NULL ? KC_LOAD_WEIGHT(b + j0 + j) : 0.0f;                             \
            }                                                                                       \
            ACC(acc, W + j0, n_out, x, n_x, width);                                                 \
            if (U != NULL) {                                                                        \
                ACC(acc, U + j0, n_out, h, n_h, width);                                             \
            }                                                                                       \
            for (j = 0; j < width; ++j) {                                                           \
                z[j0 + j] = acc[j];                                                                 \
            }                                                                                       \
        }                                                                                           \
    }

#define KC__LOAD_F32(p) KC_LOAD_WEIGHT(p)
/* kc__acc: float32 kernels. */
KC__DEFINE_ACC(kc__acc, kc_float, KC__LOAD_F32, kc__vload_f32, KC__VEC_F32)
/* kc_preact: float32 kernels W (n_x, n_out) and U (n_h, n_out). */
KC__DEFINE_PREACT(kc_preact, kc_float, kc__acc)

/* z (n_out,) += x (n_in,) @ W (n_in, n_out), W row-major (Keras' kernel layout); every z[j] is
 * summed in the order k = 0..n_in-1 (see kc__acc). */
static inline void kc_matvec_acc(kc_float *z, const kc_float *W, const kc_float *x, int n_in, int n_out)
{
    kc_float acc[KC_BLOCK];
    int j0, j;
    for (j0 = 0; j0 < n_out; j0 += KC_BLOCK) {
        const int width = n_out - j0 < KC_BLOCK ? n_out - j0 : KC_BLOCK;
        for (j = 0; j < width; ++j) {
            acc[j] = z[j0 + j];
        }
        kc__acc(acc, W + j0, n_out, x, n_in, width);
        for (j = 0; j < width; ++j) {
            z[j0 + j] = acc[j];
        }
    }
}

/* ---------------------------------------------------------------- quantized weights
 * `kerasc convert --weights float16|int8` stores the kernels (x @ W, h @ U) in 2 or 1 bytes per weight;
 * biases, activations and states stay float32, and so does all arithmetic: each weight is widened to
 * float as it is read, in the same loop order as kc__acc (so the products vectorise the same way). */

/* The float32 value of an IEEE 754 binary16 bit pattern, exactly (every half is a float).
 * Where the compiler has a half type that the target converts in hardware, that conversion is used:
 * ARM with -mfp16-format=ieee (__fp16; VCVTB on Cortex-M4F/M7, a library call elsewhere) and clang
 * with F16C on x86 (__fp16, vectorised to VCVTPH2PS). Define KC_PORTABLE_HALF to use the portable
 * decoder below anyway. Both give the same float for every half that is not a NaN (NaNs stay NaNs with
 * their payload; hardware may set the quiet bit): tests/test_quant.py and tests/test_speed.py check all
 * 65536 patterns.
 * The portable decoder works without branches so the product loops vectorise: exponent and mantissa
 * move into place and the exponent is rebiased (+112); infinities and NaNs get exponent 255 (payload
 * kept); zeros and subnormals m * 2^-24 are computed as 2^-14 * (1 + m / 1024) - 2^-14, exact and on
 * normal floats only, so the result does not depend on the FPU's handling of float subnormals
 * (flush-to-zero). */
#if !defined(KC_PORTABLE_HALF) && (defined(__ARM_FP16_FORMAT_IEEE) || (defined(__clang__) && defined(__F16C__)))
#define KC_NATIVE_HALF 1
static inline float kc_half_to_float(uint16_t h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}
#else
static inline float kc_half_to_float(uint16_t h)
{
    const uint32_t em = ((uint32_t)h & 0x7fffu) << 13;
    const uint32_t expo = em & 0x0f800000u;
    uint32_t bits = em + (112u << 23);
    float f;
    bits += expo == 0x0f800000u ? 112u << 23 : 0u;
    bits += expo == 0u ? 1u << 23 : 0u;
    memcpy(&f, &bits, sizeof f);
    f = expo == 0u ? f - 6.10351562e-05f : f; /* 2^-14 */
    memcpy(&bits, &f, sizeof bits);
    bits |= ((uint32_t)h & 0x8000u) << 16;
    memcpy(&f, &bits, sizeof f);
    return f;
}
#endif

#define KC__LOAD_F16(p) kc_half_to_float(KC_LOAD_WEIGHT_U16(p))
#define KC__LOAD_I8(p) ((kc_float)KC_LOAD_WEIGHT_I8(p))
/* kc__acc with float16 weights (bit patterns, widened by kc_half_to_float). */
KC__DEFINE_ACC(kc__acc_f16, uint16_t, KC__LOAD_F16, kc__vload_f16, KC__VEC_F16)
/* kc__acc with int8 weights (unscaled: the caller multiplies by the per-output scale). */
KC__DEFINE_ACC(kc__acc_i8, int8_t, KC__LOAD_I8, kc__vload_i8, KC__VEC_I8)
/* kc_preact with float16 kernels W (n_x, n_out) and U (n_h, n_out); b stays float (may be NULL). */
KC__DEFINE_PREACT(kc_preact_f16, uint16_t, kc__acc_f16)

/* kc_preact with int8 kernels and one float scale per output (per column of the Keras kernel):
 * z[j] = b[j] + sW[j] * (x @ Wq)[j] + sU[j] * (h @ Uq)[j], with W[k][j] = sW[j] * Wq[k][j]
 * (symmetric: sW[j] = max_k |W[k][j]| / 127). b may be NULL; U (and sU) may be NULL.
 * Costs two blocks of KC_BLOCK floats of stack. */
static inline void kc_preact_i8(kc_float *z, const kc_float *b, const int8_t *W, const kc_float *sW, const kc_float *x,
                                int n_x, const int8_t *U, const kc_float *sU, const kc_float *h, int n_h, int n_out)
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
        kc__acc_i8(acc, W + j0, n_out, x, n_x, width);
        if (U != NULL) {
            kc__acc_i8(accu, U + j0, n_out, h, n_h, width);
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

/* z (n,) = b (n,) */
static inline void kc_copy(kc_float *z, const kc_float *b, int n)
{
    memcpy(z, b, (size_t)n * sizeof(kc_float));
}

/* z (n,) += b (n,) */
static inline void kc_add(kc_float *z, const kc_float *b, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        z[j] += b[j];
    }
}

/* z (n,) += b (n,), b a weight array (read with KC_LOAD_WEIGHT) */
static inline void kc_add_weights(kc_float *z, const kc_float *b, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        z[j] += KC_LOAD_WEIGHT(b + j);
    }
}

/* z (n,) = 0 */
static inline void kc_zero(kc_float *z, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        z[j] = 0.0f;
    }
}

/* ---------------------------------------------------------------- scalar activations
 * Each follows Keras 3's definition (keras/src/activations/activations.py and the
 * TensorFlow backend's nn.py); the formula is quoted above each function. */

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

/* The tanh and sigmoid activations (every LSTM/GRU gate uses them) come in two builds:
 *
 * - default: a rational approximation, branch-free and float-only, so a loop over units
 *   vectorises (glibc's tanhf costs ~20 ns a call and dominated small layers).
 *   tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9 and clamped beyond, P and Q of degree 4 fitted by
 *   benchmarks/fit_tanh.py; sigmoid(x) = 0.5 + 0.5 * tanh(x / 2).
 *   Maximum absolute error, measured by tests/test_activations.py in C against a double-precision
 *   reference on every float32 of [4, 16) (where the errors peak) and every 509th float32 of the
 *   rest of the range, both signs: tanh 3.9e-7 (x = 7.006), sigmoid 2.1e-7 (x = 13.83); both reach
 *   +-1 (tanh) or 0 and 1 (sigmoid) only within 6e-8. Odd symmetry of tanh is exact.
 *   NaN gives NaN. Only the tanh and sigmoid activations use it (silu, glu, mish, ... stay exact).
 * - KC_EXACT_MATH defined before including this header (or KC_FLOAT=double): libm's tanhf and expf
 *   (tanh and exp in double).
 */
#if defined(KC_EXACT_MATH) || KC__DOUBLE
static inline kc_float kc_tanh(kc_float x) { return KC__TANH(x); }
static inline kc_float kc_sigmoid(kc_float x) { return kc__sigmoid_exact(x); }
#else
/* tanh(xc) = xc * P(xc^2) / Q(xc^2) for |xc| <= 9 (or NaN) */
static inline float kc__tanh_clamped(float xc)
{
    const float s = xc * xc;
    const float p = (((1.33547138e-08f * s + 2.06091809e-05f) * s + 0.00349559681f) * s + 0.133810341f) * s + 1.0f;
    const float q = (((7.77659693e-07f * s + 0.000328564725f) * s + 0.0258770194f) * s + 0.467143506f) * s + 1.0f;
    return xc * p / q;
}

static inline float kc_tanh(float x)
{
    /* xc = x clamped to [-9, 9], a NaN let through: the same value for every float either way.
     * Float comparisons at -Os (fewest instructions; nothing is vectorised there). Elsewhere on the
     * bit pattern: integer comparisons never raise a floating-point exception, so GCC may compute
     * both sides of the selects and vectorise the loop over units; with float comparisons it does
     * not without -fno-trapping-math (x86-64 -O2: LSTM(64) step 2.5 -> 1.75 us), and even with
     * AVX-512's masked compares only sometimes (GCC 12, -O3 -march=native: the float32 LSTM(128)
     * step vectorised, the int8 one did not: 8.7 us instead of 6.9 us). */
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
static inline float kc_sigmoid(float x) { return 0.5f + 0.5f * kc_tanh(0.5f * x); }
#endif

/* softplus: log(1 + exp(x)), stable for large |x| like tf.math.softplus */
static inline kc_float kc_softplus(kc_float x)
{
    if (x > 15.0f) {
        return x + KC__EXP(-x);
    }
    if (x < -15.0f) {
        return KC__EXP(x);
    }
    return KC__LOG1P(KC__EXP(x));
}

static inline kc_float kc_act_linear(kc_float x) { return x; }
static inline kc_float kc_act_tanh(kc_float x) { return kc_tanh(x); }
static inline kc_float kc_act_sigmoid(kc_float x) { return kc_sigmoid(x); }
/* relu: max(x, 0) */
static inline kc_float kc_act_relu(kc_float x) { return x > 0.0f ? x : 0.0f; }
/* relu6: min(max(x, 0), 6) */
static inline kc_float kc_act_relu6(kc_float x) { return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; }
/* leaky_relu (negative_slope = 0.2): x if x >= 0 else 0.2 x */
static inline kc_float kc_act_leaky_relu(kc_float x) { return x >= 0.0f ? x : 0.2f * x; }
/* elu (alpha = 1): x if x > 0 else expm1(x) */
static inline kc_float kc_act_elu(kc_float x) { return x > 0.0f ? x : KC__EXPM1(x); }
/* selu: scale * (x if x > 0 else alpha * expm1(x)) */
static inline kc_float kc_act_selu(kc_float x)
{
    const kc_float alpha = 1.67326324235437728f;
    const kc_float scale = 1.05070098735548049f;
    return x > 0.0f ? scale * x : scale * alpha * KC__EXPM1(x);
}
/* celu (alpha = 1): max(x, 0) + alpha * expm1(min(x, 0) / alpha) */
static inline kc_float kc_act_celu(kc_float x) { return (x > 0.0f ? x : 0.0f) + KC__EXPM1(x < 0.0f ? x : 0.0f); }
static inline kc_float kc_act_softplus(kc_float x) { return kc_softplus(x); }
/* softsign: x / (1 + |x|) */
static inline kc_float kc_act_softsign(kc_float x) { return x / (1.0f + KC__FABS(x)); }
/* silu / swish: x * sigmoid(x) */
static inline kc_float kc_act_silu(kc_float x) { return x * kc__sigmoid_exact(x); }
/* gelu (approximate = False): 0.5 x (1 + erf(x / sqrt(2))) */
static inline kc_float kc_act_gelu(kc_float x) { return 0.5f * x * (1.0f + KC__ERF(x * 0.707106781186547524f)); }
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
/* mish: x * tanh(softplus(x)) */
static inline kc_float kc_act_mish(kc_float x) { return x * KC__TANH(kc_softplus(x)); }
/* log_sigmoid: -softplus(-x) */
static inline kc_float kc_act_log_sigmoid(kc_float x) { return -kc_softplus(-x); }

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

/* kc_vec_NAME(v, n): apply activation NAME to each of the n values of v, in place. */
#define KC__VEC_ELEMENTWISE(name)                                  \
    static inline void kc_vec_##name(kc_float *v, int n)           \
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
KC__VEC_ELEMENTWISE(elu)
KC__VEC_ELEMENTWISE(selu)
KC__VEC_ELEMENTWISE(celu)
KC__VEC_ELEMENTWISE(softplus)
KC__VEC_ELEMENTWISE(softsign)
KC__VEC_ELEMENTWISE(silu)
KC__VEC_ELEMENTWISE(gelu)
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
KC__VEC_ELEMENTWISE(mish)
KC__VEC_ELEMENTWISE(log_sigmoid)
KC__VEC_ELEMENTWISE(hard_sigmoid_k2)
KC__VEC_ELEMENTWISE(leaky_relu_k2)
KC__VEC_ELEMENTWISE(thresholded_relu_k2)
#undef KC__VEC_ELEMENTWISE

/* ---------------------------------------------------------------- vector activations
 * Keras applies softmax, log_softmax and sparsemax over the last axis: here the whole
 * vector of one timestep (the units of a layer). */

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
            if (v[j] > v[i] || (v[j] == v[i] && j < i)) {
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

/* glu (Dense only): out[j] = x[j] * sigmoid(x[j + n/2]), j < n/2; writes n/2 values in place. */
static inline void kc_vec_glu(kc_float *v, int n)
{
    int j, h = n / 2;
    for (j = 0; j < h; ++j) {
        v[j] = v[j] * kc__sigmoid_exact(v[j + h]);
    }
}

/* ---------------------------------------------------------------- per-feature layers
 * Layers applied to the vector of one timestep (Keras' last axis): activation layers with
 * parameters, normalizations, rescaling. Each writes y (n,) from x (n,); y may be x. */

/* Keras ReLU layer (activations.relu): y = x if x > threshold else 0; clipped to [0, max_value]
 * when clip; then y -= negative_slope * relu(threshold - x). */
static inline void kc_vec_relu_ext(kc_float *y, const kc_float *x, int n, kc_float negative_slope, int clip,
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

/* Keras ELU layer (TensorFlow backend elu): y = x if x > 0 else alpha * expm1(x). */
static inline void kc_vec_elu_alpha(kc_float *y, const kc_float *x, int n, kc_float alpha)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = x[j] > 0.0f ? x[j] : alpha * KC__EXPM1(x[j]);
    }
}

/* Keras PReLU.call: y = relu(x) - alpha * relu(-x), alpha (n,) per feature. */
static inline void kc_vec_prelu(kc_float *y, const kc_float *x, const kc_float *alpha, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        const kc_float v = x[j];
        y[j] = (v > 0.0f ? v : 0.0f) - alpha[j] * (v < 0.0f ? -v : 0.0f);
    }
}

/* y (n,) = x (n,) * a (n,) + c (n,): BatchNormalization at inference and Rescaling, with the
 * per-feature factor and offset folded by kerasc from the layer's weights. */
static inline void kc_vec_affine(kc_float *y, const kc_float *x, const kc_float *a, const kc_float *c, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = x[j] * a[j] + c[j];
    }
}

/* Keras Normalization (preprocessing) at inference: y = (x - mean) / max(sqrt(variance), eps),
 * with d = max(sqrt(variance), eps) computed by kerasc from the layer's weights. */
static inline void kc_vec_standardize(kc_float *y, const kc_float *x, const kc_float *mean, const kc_float *d, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = (x[j] - mean[j]) / d[j];
    }
}

/* Keras LayerNormalization over the n features of one step (ops.layer_normalization):
 *   mean, variance = moments(x);  inv = rsqrt(variance + epsilon) * gamma;
 *   y = x * inv + (beta - mean * inv)
 * gamma and beta may be NULL (scale=False, center=False). rms: Keras 3's deprecated rms_scaling=True,
 * y = x * rsqrt(variance + epsilon) * gamma (the variance, not the mean square, as Keras computes it). */
static inline void kc_layer_norm(kc_float *y, const kc_float *x, const kc_float *gamma, const kc_float *beta, int n,
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

/* One step of global pooling over time (GlobalAveragePooling1D / GlobalMaxPooling1D), as running
 * accumulators: after step t, y holds the pooling of steps 0..t.
 *   average: acc += x * keep; count[0] += keep; y = acc / count  (keep: 1, or the mask of the step;
 *            a prefix with every step masked gives 0 / 0, as Keras does)
 *   max:     y = x at the first step, else max(y, x) */
static inline void kc_pool_avg_step(kc_float *y, kc_float *acc, kc_float *count, const kc_float *x, kc_float keep, int n)
{
    int j;
    count[0] += keep;
    for (j = 0; j < n; ++j) {
        acc[j] += x[j] * keep;
        y[j] = acc[j] / count[0];
    }
}

static inline void kc_pool_max_step(kc_float *y, kc_float *count, const kc_float *x, int n)
{
    int j;
    for (j = 0; j < n; ++j) {
        y[j] = (count[0] == 0.0f || x[j] > y[j]) ? x[j] : y[j];
    }
    count[0] += 1.0f;
}

#ifdef __cplusplus
}
#endif

#endif /* KC_RUNTIME_H_INCLUDED */
