/* The little the example needs from a board: text out, exit, and the stack high-water mark.
 * With BOARD_SEMIHOSTING defined, text and exit go to the debugger or QEMU (-semihosting);
 * without it, board_write does nothing and board_exit sleeps forever, as on a board in the field. */
#ifndef BOARD_H_INCLUDED
#define BOARD_H_INCLUDED

void board_write(const char *s);
void board_write_int(long v);
void board_exit(int status);
/* Bytes of stack used so far: the startup code fills the stack with a pattern before main. */
unsigned long board_stack_peak(void);

#endif
