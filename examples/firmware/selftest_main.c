/* Firmware that runs the generated self-test (activity_selftest.c, built with
 * KERASC_SELFTEST_NO_MAIN) on the target and reports PASS or FAIL; exits 0 only on PASS. */
#include "board.h"

int activity_selftest(void);

int main(void)
{
    const int rc = activity_selftest();
    board_write(rc == 0 ? "activity_selftest: PASS" : "activity_selftest: FAIL, code ");
    if (rc != 0) {
        board_write_int(rc);
    }
    board_write("\nstack peak: ");
    board_write_int((long)board_stack_peak());
    board_write(" bytes\n");
    return rc;
}
