"""Registration of mcudet's modules and the default scope, as mmdet does it."""
import datetime
import os.path as osp
import warnings

from mmengine import DefaultScope

# Packages whose import registers modules; extended as mcudet grows.
_MODULES = ('mcudet.engine', 'mcudet.models', 'mcudet.datasets', 'mcudet.evaluation',
            'mcudet.quantization')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mcudet module that registers into the registries.

    Args:
        init_default_scope: Set the default scope to 'mcudet' so that names resolve
            in mcudet's registries first, then in mmdet's and mmengine's.
    """
    import importlib

    import mmdet.utils
    mmdet.utils.register_all_modules(init_default_scope=False)
    for name in _MODULES:
        importlib.import_module(name)
    if not init_default_scope:
        return
    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('mcudet'))
    if never_created:
        DefaultScope.get_instance('mcudet', scope_name='mcudet')
        return
    current = DefaultScope.get_current_instance()
    if current.scope_name != 'mcudet':
        warnings.warn(f'The current default scope "{current.scope_name}" is not "mcudet"; '
                      '`register_all_modules` forces it to "mcudet".', stacklevel=2)
        # DefaultScope instances need unique names.
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
        DefaultScope.get_instance(f'mcudet-{stamp}', scope_name='mcudet')


def get_mim_path(name: str) -> str:
    """Absolute path of ``configs``, ``tools`` or ``deploy`` for any kind of install.

    A wheel install carries them in ``mcudet/.mim``; a source checkout has them at the
    repository root.
    """
    if name not in ('configs', 'tools', 'deploy'):
        raise ValueError(f"get_mim_path: unknown folder {name!r}; use 'configs', 'tools' or 'deploy'")
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for candidate in (osp.join(pkg, '.mim', name), osp.join(osp.dirname(pkg), name)):
        if osp.isdir(candidate):
            return candidate
    raise FileNotFoundError(f'mcudet: cannot find the {name}/ folder next to {pkg}; reinstall mcudet')
