#!/usr/bin/env python
"""Packaging for mcudet, an OpenMMLab downstream project.

Like mmdet, ``configs/``, ``tools/`` and ``deploy/`` travel inside the package as
``mcudet/.mim`` (symlinks for an editable install, copies otherwise) so that a
non-editable install still finds them (``mcudet.utils.get_mim_path``).
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

MIM_FOLDERS = ('configs', 'tools', 'deploy')


def get_version() -> str:
    scope: dict = {}
    with open(osp.join('mcudet', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'mcudet/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>``, comments dropped."""
    reqs = []
    with open(osp.join('requirements', fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Link (editable install) or copy (wheel / sdist) the MIM folders into mcudet/.mim."""
    editable = any(cmd in sys.argv for cmd in ('develop', 'editable_wheel'))
    building = any(cmd in sys.argv for cmd in
                   ('install', 'bdist_wheel', 'sdist', 'build', 'build_py'))
    if not (editable or building):
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo, 'mcudet', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FOLDERS:
        src = osp.join(repo, name)
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if editable:
            os.symlink(osp.relpath(src, mim_path), dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.o', '*.elf', 'build'))


if __name__ == '__main__':
    add_mim_extension()
    with open('README.md', encoding='utf-8') as f:
        long_description = f.read()
    setup(
        name='mcudet',
        version=get_version(),
        description='Tiny detectors for microcontrollers: OpenMMLab training, '
                    'MCUNetV2 patch-based inference, int8 C firmware',
        long_description=long_description,
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'deploy')),
        include_package_data=True,
        package_data={'mcudet': ['.mim/**/*']},
        python_requires='>=3.10,<3.13',
        install_requires=parse_requirements('runtime.txt') + ['torch==2.13.0', 'mmcv==2.1.0'],
        extras_require={'tests': parse_requirements('tests.txt')},
        license='Apache License 2.0',
        zip_safe=False,
    )
