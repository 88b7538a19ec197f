# STM32H743 (Cortex-M7, 480 MHz, 512 KiB SRAM usable as one block, 2 MiB flash): the MCUNetV2-H7
# target and TinyEngine's benchmark board. Runs on mps2-an500 (Cortex-M7); the budgets below are
# linker limits.
name = 'stm32h743'
description = 'STM32H743: Cortex-M7, 512 KiB SRAM, 2 MiB flash (MCUNetV2-H7)'
cpu = 'cortex-m7'
sram_bytes = 512 * 1024
flash_bytes = 2 * 1024 * 1024
qemu_machine = 'mps2-an500'
stack_bytes = 8 * 1024
heap_bytes = 1024
