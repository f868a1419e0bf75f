/* Bare-metal Cortex-M example: stream accelerometer samples through the generated model, one
 * sample at a time as a sensor interrupt would deliver them, and report the activity.
 * No OS, no heap: the model's state is one struct the application owns; its weights are const
 * (flash). Build: see CMakeLists.txt; run under QEMU: qemu-system-arm -M mps2-an386 -nographic
 * -semihosting -kernel activity_fw.elf */
#include "board.h"
#define ACTIVITY_DECLARATIONS_ONLY /* the definitions are in model.c */
#include "activity.h"
#include "recording.h"

static const char *const CLASSES[ACTIVITY_OUTPUT_SIZE] = { "idle", "walking", "running", "stairs" };

/* The model's RAM lives in .bss here so that the size report (and `nm`) shows it: the stream's
 * state, and the scratch a call works in (a local, or a member of a bigger application struct, works
 * the same; streams that never run at the same time can share one scratch). */
static activity_state model_state;
static activity_scratch model_scratch;

int main(void)
{
    float y[ACTIVITY_OUTPUT_SIZE] = { 0.0f };
    int t, j, best = 0;

    activity_reset(&model_state);
    for (t = 0; t < RECORDING_SAMPLES; ++t) {
        activity_step(&model_state, &model_scratch, recording[t], y); /* y: the activity if the recording ended here */
    }
    for (j = 1; j < ACTIVITY_OUTPUT_SIZE; ++j) {
        if (y[j] > y[best]) {
            best = j;
        }
    }
    board_write("activity: ");
    board_write_int(RECORDING_SAMPLES);
    board_write(" samples -> ");
    board_write(CLASSES[best]);
    board_write("; probabilities x 1e6:");
    for (j = 0; j < ACTIVITY_OUTPUT_SIZE; ++j) {
        board_write(" ");
        board_write_int((long)(y[j] * 1e6f + 0.5f));
    }
    board_write("\nstack peak: ");
    board_write_int((long)board_stack_peak());
    board_write(" bytes\n");
    return 0;
}
