"""Utilities: environment setup, paths of the files installed with the package."""
from .dist import process_group_teardown
from .setup_env import get_mim_path, register_all_modules

__all__ = ['get_mim_path', 'process_group_teardown', 'register_all_modules']
