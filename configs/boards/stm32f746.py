# STM32F746 (Cortex-M7, 216 MHz, 320 KiB SRAM, 1 MiB flash): the board of the paper's Fig. 6
# measurements and of TinyEngine's demos. Runs on mps2-an500 (Cortex-M7); the budgets below are
# linker limits.
name = 'stm32f746'
description = 'STM32F746: Cortex-M7, 320 KiB SRAM, 1 MiB flash (paper Fig. 6)'
cpu = 'cortex-m7'
sram_bytes = 320 * 1024
flash_bytes = 1024 * 1024
qemu_machine = 'mps2-an500'
stack_bytes = 8 * 1024
heap_bytes = 1024
