"""The course kit for teachers: chapters, exercises marked in the library, student kits and their
grading. `minillm course list | make | grade` (minillm/cli/course_cmd.py); docs/teaching.md is
the course map.

It works on a source checkout (the library's files, its tests and notebooks): the solution of
every exercise is the library itself, so a kit can never drift from it."""

from .chapters import CHAPTERS, Chapter, chapter
from .grade import grade, write_gradebook
from .kit import Marker, find_markers, make_kit, restore

__all__ = [
    "CHAPTERS",
    "Chapter",
    "Marker",
    "chapter",
    "find_markers",
    "grade",
    "make_kit",
    "restore",
    "write_gradebook",
]
