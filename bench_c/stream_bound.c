/* stream_bound.c - the time this machine needs just to READ N kilobytes of weights that sit in its
 * caches, once per call, as a step of a recurrent layer must: a lower bound for any step whose weights
 * take N KB (LSTM(128) with F=128: 512 KB of float32, 256 KB of float16, 128 KB of int8).
 * The loop sums 64 independent lanes, so compilers vectorise it without -ffast-math and it is limited
 * by the loads, not by the additions.
 *
 *   gcc -std=c99 -O3 -march=native benchmarks/stream_bound.c -o /tmp/stream_bound
 *   /tmp/stream_bound 512 128 256 32      # sizes in KB (fractions allowed, rounded up to 256 bytes);
 *                                         # prints ns per pass (minimum) and GB/s
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LANES 64

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void pass(const float *a, size_t n, float *acc)
{
    size_t i;
    int j;
    for (i = 0; i < n; i += LANES) {
        for (j = 0; j < LANES; ++j) {
            acc[j] += a[i + (size_t)j];
        }
    }
}

int main(int argc, char **argv)
{
    int arg;
    for (arg = 1; arg < argc; ++arg) {
        const double kb = atof(argv[arg]);
        const size_t n = kb > 0 ? (size_t)(kb * 1024.0 / sizeof(float) + LANES - 1) / LANES * LANES : 0;
        float *a = (float *)malloc(n * sizeof(float));
        float acc[LANES] = {0}, sum = 0.0f;
        double best = 1e30;
        size_t i;
        int trial, r, j;
        const int reps = (int)(200000 / (kb + 1.0)) + 1;
        if (a == NULL || n == 0) {
            fprintf(stderr, "bad size %s\n", argv[arg]);
            return 2;
        }
        for (i = 0; i < n; ++i) {
            a[i] = (float)(i % 7);
        }
        for (trial = 0; trial < 200; ++trial) {
            const double t0 = now_ns();
            double dt;
            for (r = 0; r < reps; ++r) {
                pass(a, n, acc);
            }
            dt = (now_ns() - t0) / reps;
            best = dt < best ? dt : best;
        }
        for (j = 0; j < LANES; ++j) {
            sum += acc[j];
        }
        printf("%8.3f KB: %9.1f ns per pass, %6.1f GB/s (checksum %g)\n", kb, best,
               (double)(n * sizeof(float)) / best, (double)sum);
        free(a);
    }
    return 0;
}
