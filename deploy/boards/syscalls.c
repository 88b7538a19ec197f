/*
 * syscalls.c: the heap for newlib (C99). newlib's own _sbrk compares the break with the current
 * stack pointer, which means nothing here (the stack sits below the data, see fw.h); this one
 * stops at __heap_limit, the end of the board's SRAM budget, and records the peak so the
 * firmware can report how much heap newlib took.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "fw.h"

void *_sbrk(ptrdiff_t incr);

static uint8_t *brk_now;
static uint8_t *brk_peak;

void *_sbrk(ptrdiff_t incr)
{
    uint8_t *const prev = brk_now != NULL ? brk_now : (uint8_t *)__heap_start;
    if (incr > 0 ? (uintptr_t)incr > (uintptr_t)((uint8_t *)__heap_limit - prev)
                 : (uintptr_t)(-incr) > (uintptr_t)(prev - (uint8_t *)__heap_start)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk_now = prev + incr;
    if (brk_now > brk_peak) {
        brk_peak = brk_now;
    }
    return prev;
}

uint32_t fw_heap_used(void)
{
    return brk_peak != NULL ? (uint32_t)(brk_peak - (uint8_t *)__heap_start) : 0u;
}
