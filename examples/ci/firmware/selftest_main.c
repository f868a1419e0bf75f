/* Runs the generated self-test (vibration_selftest.c, built with KERASC_SELFTEST_NO_MAIN) and
 * reports PASS or FAIL; the exit status is 0 only on PASS (QEMU passes it on). */
#include "board.h"

int vibration_selftest(void);

int main(void)
{
    const int rc = vibration_selftest();
    board_write(rc == 0 ? "vibration_selftest: PASS\n" : "vibration_selftest: FAIL\n");
    return rc;
}
