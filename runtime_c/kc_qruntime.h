/* kc_qruntime.h: the integer kernels of kerasc's `--quantize int8` and `--quantize int16x8` headers (kerasc.qint,
 * docs/integer.md).
 *
 * Portable C99 on any target with 32-bit int (no FPU needed for the layers; only the model's float
 * input is quantized and its output dequantized in float). On cores with the Arm DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33/M55, Armv7-A) the dot products use SMLAD (two 16-bit MACs per
 * instruction) through ACLE intrinsics; define KC_Q_PORTABLE to use the portable loops there too. Both
 * paths compute the same integers: every sum is exact in int32, so the results are bit-identical.
 *
 * Number formats (value = integer * 2^-frac unless stated):
 *   weights       int8, symmetric, one scale per output unit (per gate and unit of a recurrent layer)
 *   activations   int8, symmetric, one scale per tensor (the hidden state of recurrent layers: Q0.7), held in
 *                 int16 arrays; the model input int16 (up to 512 features), its first product int16 x int8;
 *                 int16x8: int16 (h Q0.15, Dense outputs one scale per tensor), every product int16 x int8
 *                 over at most 512 terms (kerasc refuses wider ones), so its sum stays exact in int32
 *   gates         int16 Q3.12 before the activation (saturated to [-8, 8)), Q0.15 after it
 *   LSTM cell     int16 with a power-of-two scale chosen from the calibration (Qm.(15-m))
 *   accumulators  int32; rescaled with a 32-bit multiplier and a shift (kc_q_rescale)
 * Sigmoid, tanh and every other bounded activation: a 257-point table over [-8, 8] with linear
 * interpolation (kc_q_lut), generated per activation by kerasc; maximum errors in docs/integer.md.
 *
 * Signed right shifts are arithmetic on every compiler kerasc supports (C99 leaves it to the
 * implementation); the check below stops a build where they are not. */
#ifndef KC_QRUNTIME_H
#define KC_QRUNTIME_H

#include <stdint.h>
#include <string.h>

#define KC_QRUNTIME_VERSION 1
/* Every rescaled product and every bias saturates at +-2^28 (Q3.12: +-65536): a pre-activation adds at most four
 * of them (GRU reset_after: W_h x + b_h + r * (U_h h + rb_h)) without leaving int32, and a saturated part can
 * not change the sign of a sum whose other parts are within range. */
#define KC_Q_LIMIT ((int32_t)1 << 28)

#if (-1 >> 1) != -1
#error "kc_qruntime.h needs arithmetic right shifts of negative integers"
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(KC_Q_PORTABLE)
#include <arm_acle.h>
#define KC_Q_DSP 1
#else
#define KC_Q_DSP 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KC_Q_UNUSED __attribute__((unused))
#else
#define KC_Q_UNUSED
#endif

static inline int16_t kc_q_sat16(int32_t v)
{
#if KC_Q_DSP && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(v));
    return (int16_t)r;
#elif KC_Q_DSP
    return (int16_t)__ssat(v, 16);
#else
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
#endif
}

static inline int8_t kc_q_sat8(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
}

/* round(v * 2^-s), halves up, for s >= 1 */
static inline int32_t kc_q_shr(int32_t v, int s)
{
    return (v + ((int32_t)1 << (s - 1))) >> s;
}

/* v saturated to [-2^28, 2^28) (KC_Q_LIMIT; SSAT on cores with the saturation instructions) */
static inline int32_t kc_q_sat29(int32_t v)
{
#if KC_Q_DSP && (defined(__GNUC__) || defined(__clang__))
    int32_t r;
    __asm__("ssat %0, #29, %1" : "=r"(r) : "r"(v));
    return r;
#elif KC_Q_DSP
    return __ssat(v, 29);
#else
    return v > KC_Q_LIMIT - 1 ? KC_Q_LIMIT - 1 : (v < -KC_Q_LIMIT ? -KC_Q_LIMIT : v);
#endif
}

/* round(acc * m * 2^-shift), halves up, saturated by kc_q_sat29: the real factor m * 2^-shift rescales an
 * accumulator (scales of the input, the weights and the result). kerasc gives the rows of one product one
 * shift (a constant at every call: the shifts and the branch fold away) and each row its multiplier
 * m < 2^31; 16 <= shift <= 62. */
static inline int32_t kc_q_rescale(int32_t acc, int32_t m, int shift)
{
    int64_t p = (int64_t)acc * (int64_t)m + ((int64_t)1 << (shift - 1));
    if (shift >= 32) { /* floor(floor(p / 2^32) / 2^(shift-32)) = floor(p / 2^shift): the high word only */
        return kc_q_sat29((int32_t)(p >> 32) >> (shift - 32));
    }
    return kc_q_sat29((int32_t)(p >> shift)); /* shift 31, or a product kerasc bounded within int32 */
}

/* kc_q_rescale for a factor >= 1 whose result may leave int32 (kerasc bounds |acc * factor| at generation time
 * and uses this only where that bound exceeds int32). */
static inline int32_t kc_q_rescale_wide(int32_t acc, int32_t m, int shift)
{
    int64_t p = ((int64_t)acc * (int64_t)m + ((int64_t)1 << (shift - 1))) >> shift;
    return (int32_t)(p > KC_Q_LIMIT - 1 ? KC_Q_LIMIT - 1 : (p < -KC_Q_LIMIT ? -KC_Q_LIMIT : p));
}

/* A bounded activation of a Q3.12 value, as Q0.15, from its 257-point table over [-8, 8]:
 * t[i] = f(-8 + i / 16) in Q0.15; the 8 low bits of (x + 32768) interpolate between t[i] and t[i + 1]. */
static inline int16_t kc_q_lut(const int16_t *t, int16_t x)
{
    int32_t u = (int32_t)x + 32768;
    int32_t i = u >> 8;
    int32_t f = u & 255;
    return (int16_t)(t[i] + (((t[i + 1] - t[i]) * f + 128) >> 8));
}

/* x[n] (n % 4 == 0; int8 values, or the model input's int16) -> the words the DSP dot product reads: per
 * group g of 4, xw[2g] = (x0, x2) and xw[2g + 1] = (x1, x3) as two int16 halves (low half first). */
static inline void kc_q_widen(const int16_t *x, int32_t *xw, int n)
{
    int k;
    for (k = 0; k < n; k += 4) {
        xw[k / 2] = (int32_t)(((uint32_t)(uint16_t)x[k]) | ((uint32_t)(uint16_t)x[k + 2] << 16));
        xw[k / 2 + 1] = (int32_t)(((uint32_t)(uint16_t)x[k + 1]) | ((uint32_t)(uint16_t)x[k + 3] << 16));
    }
}

#if KC_Q_DSP
/* (w1, w3) of the four int8 w0..w3 packed in v, sign-extended to int16: SXTB16 with its rotation */
static inline int32_t kc_q__odd(int32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    uint32_t u = (uint32_t)v;
    return __sxtb16((int32_t)((u >> 8) | (u << 24)));
#endif
}
#else
/* byte b of a packed weight word, sign-extended */
#define KC_Q__B(u, b) ((int32_t)((u) << (24 - 8 * (b))) >> 24)
#endif

/* y[j] = sum_k W[j][k] x[k] for j < rows (a multiple of 4): W is int8 packed four to a word, in blocks of four
 * rows: word ((j / 4) * (n / 4) + k / 4) * 4 + j % 4 holds W[j][k..k+3] (byte i: column k + i); n % 4 == 0.
 * x: int16 holding int8 values (the model input and int16x8 activations: int16 values, n <= 512) for the portable
 * path, and its kc_q_widen words xw (DSP). Every sum is exact in int32 (|x| * 127 * n < 2^31; 32768 * 127 * 512 =
 * 127 * 2^24), so no partial sum wraps in either order of addition: both paths agree bit for bit. */
static inline void kc_q_matvec(int32_t *y, const int32_t *W, int rows, const int16_t *x, const int32_t *xw, int n)
{
    int b, g, groups = n / 4;
    for (b = 0; b < rows; b += 4) {
        const int32_t *wp = W + b * groups;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#if KC_Q_DSP
        (void)x;
        for (g = 0; g < groups; ++g) {
            int32_t x02 = xw[2 * g], x13 = xw[2 * g + 1];
            int32_t v0 = wp[0], v1 = wp[1], v2 = wp[2], v3 = wp[3];
            wp += 4;
            a0 = __smlad(__sxtb16(v0), x02, a0);
            a0 = __smlad(kc_q__odd(v0), x13, a0);
            a1 = __smlad(__sxtb16(v1), x02, a1);
            a1 = __smlad(kc_q__odd(v1), x13, a1);
            a2 = __smlad(__sxtb16(v2), x02, a2);
            a2 = __smlad(kc_q__odd(v2), x13, a2);
            a3 = __smlad(__sxtb16(v3), x02, a3);
            a3 = __smlad(kc_q__odd(v3), x13, a3);
        }
        y[b] = a0;
        y[b + 1] = a1;
        y[b + 2] = a2;
        y[b + 3] = a3;
#else
        /* two rows per pass: two accumulators, four inputs and a weight word fit the eight low registers of
         * a Cortex-M0 (four accumulators would spill to the stack at every step) */
        int h;
        (void)xw;
        (void)a2;
        (void)a3;
        for (h = 0; h < 4; h += 2) {
            const int32_t *wh = wp + h;
            a0 = 0;
            a1 = 0;
            for (g = 0; g < groups; ++g, wh += 4) {
                int32_t x0 = x[4 * g], x1 = x[4 * g + 1], x2 = x[4 * g + 2], x3 = x[4 * g + 3];
                uint32_t u0 = (uint32_t)wh[0], u1 = (uint32_t)wh[1];
                a0 += KC_Q__B(u0, 0) * x0 + KC_Q__B(u0, 1) * x1 + KC_Q__B(u0, 2) * x2 + KC_Q__B(u0, 3) * x3;
                a1 += KC_Q__B(u1, 0) * x0 + KC_Q__B(u1, 1) * x1 + KC_Q__B(u1, 2) * x2 + KC_Q__B(u1, 3) * x3;
            }
            y[b + h] = a0;
            y[b + h + 1] = a1;
        }
#endif
    }
}

/* The quantized vector of a float one: q = round(x / scale), halves away from zero, saturated to [-lim - 1, lim]
 * (inv = 1 / scale; NaN -> 0). */
static inline void kc_q_quantize(const float *x, int16_t *q, int n, float inv, int32_t lim)
{
    int k;
    for (k = 0; k < n; ++k) {
        float v = x[k] * inv;
        int32_t r;
        v = v == v ? v : 0.0f;
        v = v > (float)lim ? (float)lim : (v < (float)(-lim - 1) ? (float)(-lim - 1) : v);
        r = v >= 0.0f ? (int32_t)(v + 0.5f) : -(int32_t)(0.5f - v);
        q[k] = (int16_t)(r > lim ? lim : r);
    }
}

#endif /* KC_QRUNTIME_H */
