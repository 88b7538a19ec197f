/*
 * startup.c: vector table, reset handler and fault handlers of the mcudet test firmware (C99).
 *
 * Reset: enable the FPU (the code is built with -mfloat-abi=hard), copy .data from flash, zero
 * .bss, paint the stack, set up newlib's semihosting handles, run main and exit with main's value
 * through semihosting (QEMU's exit status). A fault prints its name and the fault status registers
 * on the semihosting console and exits with 100 + the exception number (HardFault 103, MemManage
 * 104, BusFault 105, UsageFault 106), so a crash is a clear, non-zero exit, never a QEMU lock-up.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fw.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define SCB_CPACR REG32(0xE000ED88u)
#define SCB_CFSR REG32(0xE000ED28u)
#define SCB_HFSR REG32(0xE000ED2Cu)
#define SCB_MMFAR REG32(0xE000ED34u)
#define SCB_BFAR REG32(0xE000ED38u)

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void initialise_monitor_handles(void); /* newlib's rdimon */
void Reset_Handler(void);
void fw_fault_entry(void);
void fw_fault_report(const uint32_t *frame, uint32_t ipsr);

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void fw_semihost_write0(const char *s)
{
    (void)semihost(SYS_WRITE0, s);
}

void fw_semihost_exit(int code)
{
    /* Static, not on the stack: after a stack overflow the SP points outside RAM. */
    static uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    (void)semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

static uint32_t current_sp(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

__attribute__((noinline)) void fw_stack_paint(void)
{
    /* Everything below the current SP is free (no red zone in the Arm EABI; this function's own
     * frame, if any, is at or above the SP it reads). */
    volatile uint32_t *p = __stack_limit;
    volatile uint32_t *const end = (volatile uint32_t *)(current_sp() & ~3u);
    while (p < end) {
        *p++ = FW_STACK_PAINT;
    }
}

uint32_t fw_stack_used(void)
{
    const volatile uint32_t *p = __stack_limit;
    while (p < (const volatile uint32_t *)__stack_top && *p == FW_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

void Reset_Handler(void)
{
    uint32_t *src = __data_load;
    uint32_t *dst = __data_start;
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; ++dst) {
        *dst = 0;
    }
    fw_stack_paint();
    initialise_monitor_handles();
    exit(main());
}

/* ------------------------------------------------------------------ faults */
static char *put_str(char *p, const char *s)
{
    while (*s) {
        *p++ = *s++;
    }
    return p;
}

static char *put_hex(char *p, uint32_t v)
{
    int i;
    *p++ = '0';
    *p++ = 'x';
    for (i = 28; i >= 0; i -= 4) {
        *p++ = "0123456789abcdef"[(v >> i) & 0xFu];
    }
    return p;
}

void fw_fault_report(const uint32_t *frame, uint32_t ipsr)
{
    static char msg[200];
    static const char *const names[] = {"Thread", "Reset", "NMI", "HardFault", "MemManage", "BusFault",
                                        "UsageFault"};
    const uint32_t n = ipsr & 0x1FFu;
    char *p = put_str(msg, "mcudet firmware: ");
    p = put_str(p, n < sizeof names / sizeof names[0] ? names[n] : "unexpected exception");
    p = put_str(p, " (exception ");
    *p++ = (char)('0' + n / 10 % 10);
    *p++ = (char)('0' + n % 10);
    p = put_str(p, ") CFSR=");
    p = put_hex(p, SCB_CFSR);
    p = put_str(p, " HFSR=");
    p = put_hex(p, SCB_HFSR);
    p = put_str(p, " BFAR=");
    p = put_hex(p, SCB_BFAR);
    p = put_str(p, " MMFAR=");
    p = put_hex(p, SCB_MMFAR);
    p = put_str(p, " pc=");
    p = put_hex(p, frame[6]);
    p = put_str(p, " lr=");
    p = put_hex(p, frame[5]);
    p = put_str(p, "\n");
    *p = '\0';
    fw_semihost_write0(msg);
    fw_semihost_exit((int)(100u + (n > 99u ? 99u : n)));
}

/* The frame the core stacked (MSP or PSP, by EXC_RETURN bit 2) and IPSR go to fw_fault_report. */
__attribute__((naked)) void fw_fault_entry(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mrs r1, ipsr\n\t"
        "b fw_fault_report\n\t");
}

typedef void (*vector_t)(void);

/* Cortex-M system exceptions; no interrupt is enabled, so no device IRQ entry is needed. */
__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    fw_fault_entry, /* NMI */
    fw_fault_entry, /* HardFault */
    fw_fault_entry, /* MemManage */
    fw_fault_entry, /* BusFault */
    fw_fault_entry, /* UsageFault */
    0, 0, 0, 0,
    fw_fault_entry, /* SVCall */
    fw_fault_entry, /* DebugMonitor */
    0,
    fw_fault_entry, /* PendSV */
    fw_fault_entry, /* SysTick */
};
