/* Host streaming example: read accelerometer samples "ax ay az" (one per line) from stdin,
 * feed them one at a time to the generated model, print the activity after the last sample.
 *
 *   kerasc convert examples/demo/activity.keras -o build/demo
 *   cc -std=c99 -O2 -Ibuild/demo examples/demo/main.c -o activity -lm
 *   ./activity < samples.txt
 */
#include <stdio.h>

#include "activity.h"

static const char *const CLASSES[ACTIVITY_OUTPUT_SIZE] = { "idle", "walking", "running", "stairs" };

int main(void)
{
    activity_state st;     /* the stream's state (ACTIVITY_STATE_BYTES), caller-owned: no heap, no globals */
    activity_scratch scr;  /* working memory of a call (ACTIVITY_SCRATCH_BYTES), shareable */
    float x[ACTIVITY_INPUT_SIZE];
    float y[ACTIVITY_OUTPUT_SIZE] = { 0 };
    long n = 0;
    int j, best = 0;

    activity_reset(&st);
    while (scanf("%f %f %f", &x[0], &x[1], &x[2]) == 3) {
        activity_step(&st, &scr, x, y); /* y: the prediction if the sequence ended here */
        ++n;
    }
    if (n == 0) {
        fprintf(stderr, "no samples on stdin\n");
        return 1;
    }
    for (j = 1; j < ACTIVITY_OUTPUT_SIZE; ++j) {
        if (y[j] > y[best]) {
            best = j;
        }
    }
    printf("%ld samples -> %s", n, CLASSES[best]);
    for (j = 0; j < ACTIVITY_OUTPUT_SIZE; ++j) {
        printf(" %.9g", (double)y[j]);
    }
    printf("\n");
    return 0;
}
