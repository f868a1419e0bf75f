/* Standalone driver for sanitizer runs: one generated model, inputs from a raw float32 file, outputs
 * to a raw float32 file. Built per model with
 *   -DKC_HEADER='"name.h"' -DKC_MODEL=name -DKC_MODEL_UPPER=NAME -DKC_NEEDS_WORK=0|1 -DKC_CAN_STREAM=0|1
 * usage: driver in.bin out.bin batch timesteps   (out: predict outputs, then streamed outputs if any) */
#include <stdio.h>
#include <stdlib.h>

#include KC_HEADER

#define KC_CAT_(a, b) a##b
#define KC_CAT(a, b) KC_CAT_(a, b)
#define FN(suffix) KC_CAT(KC_MODEL, suffix)
#define MAC(suffix) KC_CAT(KC_MODEL_UPPER, suffix)

int main(int argc, char **argv)
{
    FILE *fin, *fout;
    long b, t, batch, T, in_n, out_n;
    float *x, *y, *work = NULL;
    FN(_state) *st = (FN(_state) *)malloc(sizeof(FN(_state))); /* heap here so ASan sees its bounds */
    FN(_scratch) *scr = (FN(_scratch) *)malloc(sizeof(FN(_scratch)));
    if (argc != 5 || st == NULL || scr == NULL) {
        return 2;
    }
    batch = atol(argv[3]);
    T = atol(argv[4]);
    in_n = T * MAC(_INPUT_SIZE);
    out_n = (MAC(_OUTPUT_IS_SEQUENCE) ? T : 1) * MAC(_OUTPUT_SIZE);
    x = (float *)malloc(sizeof(float) * (size_t)(batch * in_n));
    y = (float *)malloc(sizeof(float) * (size_t)(batch * out_n));
#if KC_NEEDS_WORK
    work = (float *)malloc(sizeof(float) * MAC(_WORK_FLOATS(T)));
#endif
    fin = fopen(argv[1], "rb");
    fout = fopen(argv[2], "wb");
    if (!x || !y || !fin || !fout || fread(x, sizeof(float), (size_t)(batch * in_n), fin) != (size_t)(batch * in_n)) {
        return 3;
    }
    for (b = 0; b < batch; ++b) {
#if KC_NEEDS_WORK
        if (FN(_predict)(st, scr, x + b * in_n, (int)T, y + b * out_n, work) != 0) {
            return 4;
        }
#else
        if (FN(_predict)(st, scr, x + b * in_n, (int)T, y + b * out_n) != 0) {
            return 4;
        }
#endif
    }
    fwrite(y, sizeof(float), (size_t)(batch * out_n), fout);
#if KC_CAN_STREAM
    for (b = 0; b < batch; ++b) {
        float step_y[MAC(_OUTPUT_SIZE)];
        FN(_reset)(st);
        for (t = 0; t < T; ++t) {
            FN(_step)(st, scr, x + b * in_n + t * MAC(_INPUT_SIZE), step_y);
        }
        fwrite(step_y, sizeof(float), MAC(_OUTPUT_SIZE), fout);
    }
#endif
    (void)t;
    fclose(fin);
    fclose(fout);
    free(x);
    free(y);
    free(work);
    free(st);
    free(scr);
    return 0;
}
