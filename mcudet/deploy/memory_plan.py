"""Static memory planning for the generated C code (the package :mod:`mcudet.deploy.memplan`; its
docstring describes what the code generator reads).

    from mcudet.deploy.memory_plan import plan_memory
    plan = plan_memory(graph, patch_plan, input_resident=False)
    plan.validate()
    print(plan.summary())
"""
from .memplan import (
    HEURISTICS,
    INPLACE_RULES,
    PAPER_INPLACE,
    RUNTIME_INPLACE,
    Alias,
    AutoCandidate,
    AutoResult,
    Buffer,
    FlashBytes,
    KernelCall,
    MemoryPlan,
    MemoryPlanError,
    ScratchFn,
    Step,
    auto_plan,
    default_scratch_bytes,
    flash_bytes,
    plan_memory,
)

__all__ = ['HEURISTICS', 'INPLACE_RULES', 'PAPER_INPLACE', 'RUNTIME_INPLACE', 'Alias', 'AutoCandidate',
           'AutoResult', 'Buffer', 'FlashBytes', 'KernelCall', 'MemoryPlan', 'MemoryPlanError', 'ScratchFn',
           'Step', 'auto_plan', 'default_scratch_bytes', 'flash_bytes', 'plan_memory']
