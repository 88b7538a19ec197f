# Netduino Plus 2 (STM32F405, Cortex-M4F): QEMU emulates this board itself, with 1 MiB of flash at
# 0x08000000 and 192 KiB of SRAM at 0x20000000 that faults past its end. Used to check a firmware
# against a physical limit, not only a linker budget.
name = 'netduinoplus2'
description = 'Netduino Plus 2 (STM32F405): Cortex-M4F, 192 KiB SRAM, 1 MiB flash, physical limits'
cpu = 'cortex-m4'
sram_bytes = 192 * 1024
flash_bytes = 1024 * 1024
qemu_machine = 'netduinoplus2'
stack_bytes = 8 * 1024
heap_bytes = 1024
