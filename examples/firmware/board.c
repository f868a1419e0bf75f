/* Cortex-M startup (vector table, reset handler) and ARM semihosting output for the example. */
#include <stdint.h>
#include <string.h>

#include "board.h"

int main(void);

/* from the linker script */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;

#define STACK_PAINT 0xC5C5C5C5u
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void);
void Default_Handler(void);

void Default_Handler(void)
{
    board_exit(99);
}

/* ARMv7-M vector table: initial stack pointer, then the handlers of the system exceptions. */
__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack, /* initial SP (a data address in a code-pointer slot) */
    Reset_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *p;
    uint32_t here;
    const uintptr_t paint_limit = (uintptr_t)&here - 64u;
    const uint32_t *src = &_sidata;
    for (p = &_sdata; p < &_edata; ++p) {
        *p = *src++;
    }
    for (p = &_sbss; p < &_ebss; ++p) {
        *p = 0u;
    }
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* full access to CP10 and CP11, the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    /* paint the unused stack below this frame, so board_stack_peak can find the high-water mark */
    for (p = &_sstack; (uintptr_t)p < paint_limit; ++p) {
        *p = STACK_PAINT;
    }
    board_exit(main());
}

unsigned long board_stack_peak(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) {
        ++p;
    }
    return (unsigned long)((uintptr_t)&_estack - (uintptr_t)p);
}

#if defined(BOARD_SEMIHOSTING)
/* ARM semihosting call: operation in r0, argument in r1, BKPT 0xAB (Cortex-M). */
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_write(const char *s)
{
    (void)semihost(0x04, s); /* SYS_WRITE0 */
}

void board_exit(int status)
{
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (QEMU exits 0) or ADP_Stopped_RunTimeErrorUnknown (exits 1) */
    (void)semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026u : 0x20023u));
    for (;;) {
    }
}
#else
void board_write(const char *s)
{
    (void)s;
}

void board_exit(int status)
{
    (void)status;
    for (;;) {
        __asm__ volatile("wfi");
    }
}
#endif

void board_write_int(long v)
{
    char buf[24];
    char *s = buf + sizeof buf - 1;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    *s = '\0';
    do {
        *--s = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        *--s = '-';
    }
    board_write(s);
}
