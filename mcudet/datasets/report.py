"""Errors and warnings for annotation files, and a collector that warns once per kind of problem.

Datasets parse every annotation when they are built, so a broken file stops the run before the
first iteration with a message that names the file and the line, rather than half-way through
an epoch inside a data-loader worker.
"""
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class AnnotationError(ValueError):
    """An annotation file that cannot be read; the message names the file, the line and the fix."""


class AnnotationWarning(UserWarning):
    """A recoverable annotation problem: a clipped box, an unknown class, a skipped image."""


@dataclass
class ProblemReport:
    """Collects recoverable problems while a dataset loads and warns once per kind at the end.

    A full-size dataset can have hundreds of boxes that poke out of their image; one warning per
    box would bury the log, so each kind gets one warning with the count and the first examples.

    Args:
        source: What is being loaded (class name and annotation file), the start of each message.
        max_examples: How many examples each warning quotes.
    """

    source: str
    max_examples: int = 5
    items: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, message: str) -> None:
        """Record one problem of ``kind`` (e.g. 'boxes outside their image, clipped')."""
        self.items.setdefault(kind, []).append(message)

    def count(self, kind: str) -> int:
        return len(self.items.get(kind, []))

    def summary(self, kind: str) -> str:
        """One line: the source, the count, the first examples."""
        msgs = self.items.get(kind, [])
        shown = '; '.join(msgs[:self.max_examples])
        more = f'; ... and {len(msgs) - self.max_examples} more' if len(msgs) > self.max_examples else ''
        return f'{self.source}: {len(msgs)} {kind}: {shown}{more}'

    def warn(self, stacklevel: int = 3) -> None:
        """Emit one :class:`AnnotationWarning` per kind that was recorded."""
        for kind in self.items:
            warnings.warn(self.summary(kind), AnnotationWarning, stacklevel=stacklevel)


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and an interrupted writer leaves no truncated one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8, '\\n' line ends)."""
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
