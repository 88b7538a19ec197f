# STM32F412 (Cortex-M4F, 100 MHz, 256 KiB SRAM, 1 MiB flash): the MCUNetV2-M4 target of the paper.
# QEMU has no STM32F412; mps2-an386 (a Cortex-M4 with FPU) runs the image, linked to the budgets
# below (its own RAM is 4 MiB, so the budget is enforced by the linker script, not by a fault).
name = 'stm32f412'
description = 'STM32F412: Cortex-M4F, 256 KiB SRAM, 1 MiB flash (MCUNetV2-M4)'
cpu = 'cortex-m4'
sram_bytes = 256 * 1024
flash_bytes = 1024 * 1024
qemu_machine = 'mps2-an386'
stack_bytes = 8 * 1024
heap_bytes = 1024
