/*
 * harness.c: the test firmware's main (C99). Runs the generated model on frames from the host.
 *
 * Host files (semihosting, relative to QEMU's working directory):
 *   input.bin   K frames of fw_input_bytes int8 values each (the model's int8 NHWC input)
 *   output.bin  written: per frame, output 0 .. N-1 (fw_output_bytes[i] bytes each)
 *
 * Measured per frame, with nothing of newlib inside the measured region:
 *   - instructions: fw_bench_begin() / fw_bench_end() bracket fw_invoke() alone; the QEMU plugin
 *     counts between them. An empty begin/end pair runs first so the driver can subtract the cost
 *     of the markers themselves.
 *   - stack: the stack below the current SP is painted before the inference and scanned after it
 *     (stack_inference: bytes below __stack_top, main's frame included); the peak of the
 *     harness's own file I/O through newlib is reported apart (stack_io).
 *   - SysTick ticks (core clock, no interrupt) around the call, for runs under -icount without
 *     the plugin; -1 when the 24-bit counter wrapped.
 * The last line printed is
 *   MCUDET-RESULT frames=K status=S stack_inference=B stack_io=B heap=B stack_reserved=B
 * Exit status: 0 ok, 2 cannot open the files, 3 model_invoke failed (status S), 4 no frame.
 */
#include <stdio.h>

#include "fw.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_COUNTFLAG (1u << 16)

static volatile uint32_t bench_marker;

__attribute__((noinline, noipa)) void fw_bench_begin(void)
{
    bench_marker = 1u;
}

__attribute__((noinline, noipa)) void fw_bench_end(void)
{
    bench_marker = 2u;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

int main(void)
{
    FILE *fin = fopen("input.bin", "rb");
    FILE *fout = fopen("output.bin", "wb");
    uint32_t frames = 0, stack_io = 0, stack_inf = 0, i;
    int status = 0;
    /* Unbuffered: each fread / fwrite is one semihosting call, and newlib allocates no stdio
     * buffers on the heap (the heap then holds only the FILE structures). */
    setvbuf(stdout, NULL, _IONBF, 0);
    if (fin == NULL || fout == NULL) {
        printf("MCUDET-ERROR cannot open input.bin / output.bin on the host\n");
        return 2;
    }
    setvbuf(fin, NULL, _IONBF, 0);
    setvbuf(fout, NULL, _IONBF, 0);
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 0x5u; /* processor clock, enabled, no interrupt */
    fw_bench_begin(); /* the empty interval: the markers' own instructions */
    fw_bench_end();
    for (;;) {
        uint32_t t0, t1, wrapped;
        if (fread(fw_input, 1, fw_input_bytes, fin) != fw_input_bytes) {
            break;
        }
        stack_io = max_u32(stack_io, fw_stack_used());
        fw_stack_paint();
        (void)SYST_CSR; /* clears COUNTFLAG */
        t0 = SYST_CVR;
        fw_bench_begin();
        status = fw_invoke();
        fw_bench_end();
        t1 = SYST_CVR;
        wrapped = SYST_CSR & SYST_COUNTFLAG;
        stack_inf = max_u32(stack_inf, fw_stack_used());
        fw_stack_paint();
        if (status != 0) {
            break;
        }
        for (i = 0; i < fw_num_outputs; ++i) {
            if (fwrite(fw_outputs[i], 1, fw_output_bytes[i], fout) != fw_output_bytes[i]) {
                printf("MCUDET-ERROR cannot write output.bin\n");
                return 2;
            }
        }
        printf("MCUDET-FRAME %lu systick=%ld\n", (unsigned long)frames,
               wrapped ? -1L : (long)((t0 - t1) & 0x00FFFFFFu));
        ++frames;
    }
    fclose(fin);
    fclose(fout);
    stack_io = max_u32(stack_io, fw_stack_used());
    printf("MCUDET-RESULT frames=%lu status=%d stack_inference=%lu stack_io=%lu heap=%lu stack_reserved=%lu\n",
           (unsigned long)frames, status, (unsigned long)stack_inf, (unsigned long)stack_io,
           (unsigned long)fw_heap_used(), (unsigned long)((uintptr_t)__stack_top - (uintptr_t)__stack_limit));
    if (status != 0) {
        return 3;
    }
    return frames > 0 ? 0 : 4;
}
