/*
 * fw.h: the pieces shared by the firmware's startup code, system calls and test harness.
 *
 * Memory layout (the linker script firmware.ld.in, sizes from the board profile):
 *
 *   FLASH  .isr_vector | .text | .rodata (weights) | .data image
 *   SRAM   stack | .data | .bss (newlib, harness buffers, model arena) | heap ...
 *          ^ORIGIN = __stack_limit       __stack_top ^      __heap_start ^  ^__heap_limit
 *
 * __heap_limit = ORIGIN(SRAM) + the board's SRAM budget, so everything the image needs lies inside
 * the budget. The stack grows down towards ORIGIN(SRAM): an overflow faults, it cannot overwrite
 * data silently.
 */
#ifndef MCUDET_FW_H
#define MCUDET_FW_H

#include <stdint.h>

/* Linker-script symbols (addresses only). */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __heap_start[], __heap_limit[], __stack_limit[], __stack_top[];

/* Stack painting: every word of the stack region the program has not used yet holds this. */
#define FW_STACK_PAINT 0xC5AC5AC5u

/* Paint the stack region from __stack_limit up to a little below the caller's stack pointer. */
void fw_stack_paint(void);
/* Bytes of stack used since the last paint: __stack_top minus the lowest overwritten word. */
uint32_t fw_stack_used(void);
/* Peak heap (bytes above __heap_start) newlib has taken through _sbrk. */
uint32_t fw_heap_used(void);

/* Semihosting: write a NUL-terminated string to the host's stderr-like console, exit with a code. */
void fw_semihost_write0(const char *s);
void fw_semihost_exit(int code) __attribute__((noreturn));

/*
 * Instruction-count markers: the QEMU plugin (qemu/insn_count.c) counts the instructions executed
 * from the first instruction of fw_bench_begin to the first instruction of fw_bench_end. They are
 * never inlined, cloned or merged (noipa), so each is one real call with a distinct address.
 */
void fw_bench_begin(void);
void fw_bench_end(void);

/* The model glue written by mcudet/deploy/firmware.py next to the generated model.c. */
extern int8_t fw_input[];
extern int8_t *const fw_outputs[];
extern const uint32_t fw_input_bytes;
extern const uint32_t fw_output_bytes[];
extern const uint32_t fw_num_outputs;
int fw_invoke(void);

int main(void);

#endif /* MCUDET_FW_H */
