"""Utilities: environment setup, paths of the files installed with the package."""
from .setup_env import get_mim_path, register_all_modules

__all__ = ['get_mim_path', 'register_all_modules']
