/* Bare-metal start-up of the Cortex-M benchmark harness (benchmarks/cmsim): a two-entry vector table
 * (initial SP, reset) so qemu-system-arm can boot the same ELF, .data copied, .bss zeroed, the FPU
 * enabled on hard-float builds, then main() and cm_exit(), where the simulator stops (under qemu it
 * leaves through semihosting SYS_EXIT). */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void Reset_Handler(void);
void cm_exit(int status);
void cm_mark(void);

__attribute__((section(".isr_vector"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))(uintptr_t)&_estack, Reset_Handler,
};

__attribute__((noinline)) void cm_mark(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, noreturn)) void cm_exit(int status)
{
    register int r0 __asm__("r0") = 0x18; /* SYS_EXIT */
    register int r1 __asm__("r1") = status == 0 ? 0x20026 : 0x20023;
    for (;;) {
        __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    }
}

void Reset_Handler(void)
{
    uint32_t *p;
    const uint32_t *src = &_sidata;
    for (p = &_sdata; p < &_edata; ++p) {
        *p = *src++;
    }
    for (p = &_sbss; p < &_ebss; ++p) {
        *p = 0u;
    }
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    cm_exit(main());
}
