/* The application: feed accelerometer samples to the model one at a time, as a sensor interrupt
 * would, and report the machine's condition. Here the samples are a synthetic unbalanced rotor. */
#include <math.h>

#include "board.h"
#include "vibration.h"

static const char *const CONDITIONS[VIBRATION_OUTPUT_SIZE] = { "healthy", "unbalance", "bearing" };

int main(void)
{
    vibration_state st;     /* the stream's state: VIBRATION_STATE_BYTES */
    vibration_scratch scr;  /* working memory of a call: VIBRATION_SCRATCH_BYTES */
    float x[VIBRATION_INPUT_SIZE];
    float y[VIBRATION_OUTPUT_SIZE] = { 0.0f };
    int t, j, best = 0;

    vibration_reset(&st);
    for (t = 0; t < 40; ++t) {
        const float tone = 0.8f * sinf(2.0f * 3.14159265f * 25.0f * (float)t / 200.0f);
        x[0] = tone;
        x[1] = 0.5f * tone;
        x[2] = 0.2f * tone;
        vibration_step(&st, &scr, x, y);
    }
    for (j = 1; j < VIBRATION_OUTPUT_SIZE; ++j) {
        if (y[j] > y[best]) {
            best = j;
        }
    }
    board_write("condition: ");
    board_write(CONDITIONS[best]);
    board_write("\n");
    return 0;
}
