"""``tools/export.py --board NAME [--run-qemu]``: build an export's firmware for a board, run it in
QEMU, compare with the reference executor, and report in one record (:class:`BoardCheck`).

    from mcudet.deploy.firmware import check_export
    ex = codegen.export(graph, out_dir, ...)
    check = check_export(ex, 'stm32f412', export_dir=out_dir)   # run_qemu=True by default
    print(check.line()); report['firmware'] = check.to_dict()
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .boards import BoardProfile, load_board
from .codegen.detect import parse_boxes, same_detections, yolo_spec
from .firmware_budget import BudgetError
from .yolo import decode_yolo

if TYPE_CHECKING:
    from .codegen.build import Export


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class BoardCheck:
    """What ``tools/export.py --board NAME [--run-qemu]`` reports (:meth:`to_dict` for report.json)."""

    board: str
    cpu: str
    qemu_machine: str
    dsp: bool
    fits: bool                            # links within both budgets (and, when run, the stack fits)
    flash_bytes: int                      # code + constants + .data image
    flash_budget: int
    sram_bytes: int                       # stack + .data + .bss + heap as reserved (what the ASSERT checks)
    sram_budget: int
    stack_reserved: int
    stack_bytes: Optional[int] = None     # measured peak during inference (None: not run)
    heap_bytes: Optional[int] = None      # measured peak heap of the harness's I/O
    instructions: Optional[int] = None    # between the markers, first frame; instructions, not cycles
    instruction_counter: str = 'none'     # 'plugin' (exact), 'icount-systick' (+- one SysTick tick), 'none'
    macs: Optional[int] = None
    bitexact_vs_reference: Optional[bool] = None
    detections_match_reference: Optional[bool] = None  # detectors: model_detect's boxes vs decode_yolo
    flash: dict = field(default_factory=dict)
    sram: dict = field(default_factory=dict)
    error: str = ''                       # the BudgetError message when it does not fit

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d['instructions_per_mac'] = (round(self.instructions / self.macs, 4)
                                     if self.instructions and self.macs else None)
        return d

    def line(self) -> str:
        """One line for the console."""
        if self.error:
            return self.error
        head = (f'{self.board} ({self.cpu}, {"DSP" if self.dsp else "portable"}): flash '
                f'{self.flash_bytes:,} / {self.flash_budget:,} B, SRAM {self.sram_bytes:,} / '
                f'{self.sram_budget:,} B (stack reserved {self.stack_reserved:,} B)')
        if self.stack_bytes is None:
            return head
        ipm = self.to_dict()['instructions_per_mac']
        count = (f'{self.instructions:,} instructions ({self.instruction_counter}'
                 f'{f", {ipm} per MAC" if ipm else ""})' if self.instructions is not None else 'not counted')
        exact = {True: 'bit-exact', False: 'MISMATCH', None: 'not compared'}[self.bitexact_vs_reference]
        if self.detections_match_reference is not None:
            exact += (', boxes identical' if self.detections_match_reference else ', boxes DIFFER')
        return (f'{head}; QEMU {self.qemu_machine}: {exact} vs reference, stack {self.stack_bytes:,} B, '
                f'{count}')


def check_export(ex: Export, board: Union[str, Path, BoardProfile], *, export_dir: Optional[Path] = None,
                 dsp: bool = True, run_qemu: bool = True,
                 inputs: Optional[Sequence[Sequence[np.ndarray]]] = None, timeout: float = 300,
                 count: str = 'auto') -> BoardCheck:
    """Build the firmware of an :class:`~mcudet.deploy.codegen.Export` for ``board`` and (``run_qemu``)
    run it in QEMU on ``inputs`` (graph input lists; default the export's own random sample), compare
    with the reference executor, and write ``firmware.json`` beside the image.

    An over-budget model returns ``fits=False`` with the :class:`BudgetError` message in ``error``
    (how many bytes over, and a patch schedule that fits); any other failure raises.
    """
    from .codegen.build import reference_io, sample_input
    from .firmware import build_firmware, run_firmware

    board = load_board(board)
    export_dir = Path(export_dir) if export_dir is not None else Path(ex.exe).parent.parent
    macs = ex.report.get('macs')
    try:
        fw = build_firmware(export_dir, board, dsp, graph=ex.graph)
    except BudgetError as e:
        return BoardCheck(board.name, board.cpu, board.qemu_machine, dsp, False, e.flash.total,
                          board.flash_bytes, e.sram.total, board.sram_bytes, e.sram.stack_reserved, macs=macs,
                          flash=e.flash.to_dict(), sram=e.sram.to_dict(), error=str(e))
    check = BoardCheck(board.name, board.cpu, board.qemu_machine, dsp, fw.fits, fw.flash.total,
                       board.flash_bytes, fw.sram.total, board.sram_bytes, fw.sram.stack_reserved, macs=macs,
                       flash=fw.flash.to_dict(), sram=fw.sram.to_dict())
    if run_qemu:
        sets = list(inputs) if inputs is not None else [[sample_input(ex.graph)]]
        pairs = [reference_io(ex.graph, ex.plan, ins) for ins in sets]
        run = run_firmware(fw, [f for f, _ in pairs], timeout=timeout, count=count)
        check.bitexact_vs_reference = all(np.array_equal(g, r.reshape(-1)) for got, (_, ref)
                                          in zip(run.outputs, pairs) for g, r in zip(got, ref))
        spec = yolo_spec(ex.graph)
        if spec is not None:  # a detector: the last output is model_detect's record of boxes
            check.detections_match_reference = all(
                same_detections(parse_boxes(got[-1].tobytes()), decode_yolo(spec, ref))
                for got, (_, ref) in zip(run.outputs, pairs))
        check.stack_bytes, check.heap_bytes = run.stack_bytes, run.heap_bytes
        check.instructions = run.instructions[0] if run.instructions else None
        check.instruction_counter = run.counter
        check.fits = fw.fits and run.stack_bytes <= fw.sram.stack_reserved
    _atomic_write(fw.build_dir / 'firmware.json', json.dumps(check.to_dict(), indent=2) + '\n')
    return check


__all__ = ['BoardCheck', 'check_export']
