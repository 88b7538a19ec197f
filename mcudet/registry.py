"""mcudet's registries: children of mmdet's, so mmdet names resolve without a prefix.

``locations`` lets mmengine import the modules that register into each registry the
first time a registry is used with ``default_scope='mcudet'``; a registry gets a
location once mcudet has a module that registers into it.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMDET_RUNNERS)
LOOPS = Registry('loop', parent=MMDET_LOOPS)
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mcudet.quantization'])
LOG_PROCESSORS = Registry('log_processor', parent=MMDET_LOG_PROCESSORS)
OPTIMIZERS = Registry('optimizer', parent=MMDET_OPTIMIZERS)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mcudet.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMDET_PARAM_SCHEDULERS)

DATASETS = Registry('dataset', parent=MMDET_DATASETS, locations=['mcudet.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMDET_DATA_SAMPLERS, locations=['mcudet.datasets'])
TRANSFORMS = Registry('transform', parent=MMDET_TRANSFORMS, locations=['mcudet.datasets'])

MODELS = Registry('model', parent=MMDET_MODELS, locations=['mcudet.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMDET_MODEL_WRAPPERS, locations=['mcudet.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMDET_WEIGHT_INITIALIZERS,
                               locations=['mcudet.models'])
TASK_UTILS = Registry('task util', parent=MMDET_TASK_UTILS, locations=['mcudet.models'])

METRICS = Registry('metric', parent=MMDET_METRICS, locations=['mcudet.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMDET_EVALUATOR, locations=['mcudet.evaluation'])

VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS)
VISBACKENDS = Registry('vis_backend', parent=MMDET_VISBACKENDS)


def build_model(cfg):
    """Build a sub-module of an mcudet model in mcudet's scope, whatever the current default scope is.

    mmengine builds a dict in the *default* scope's registry; when another library (or test) has
    left that at 'mmdet', mcudet names such as 'MCUNetV2Backbone' would not resolve. mcudet's
    registries find mmdet's names through their parents, so building here is always safe.
    """
    if isinstance(cfg, dict) and '_scope_' not in cfg:
        cfg = {**cfg, '_scope_': 'mcudet'}
    return MODELS.build(cfg)
