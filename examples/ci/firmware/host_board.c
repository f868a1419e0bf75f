/* board.h on a host (Linux, macOS): text to stdout. On the target, board.c does the same through
 * semihosting or a UART. */
#include <stdio.h>
#include <stdlib.h>

#include "board.h"

void board_write(const char *s)
{
    fputs(s, stdout);
}

void board_write_int(long v)
{
    printf("%ld", v);
}

void board_exit(int status)
{
    exit(status);
}

unsigned long board_stack_peak(void)
{
    return 0ul;
}
