"""Training text that is not the eval's haystack: the docstrings of Python's own standard library.

The eval reads Python's Language Reference (pydoc_data.topics, core.documents.language_reference); training
reads the standard library's module, class and function docstrings, parsed from its source files (nothing is
imported), without doctest examples, with any paragraph that also occurs in the Language Reference dropped.
Both ship with every Python, so set-up installs nothing for it. Cached as plain text under core.loading.cache_root.
"""
from __future__ import annotations

import ast
import hashlib
import sys
import sysconfig
from pathlib import Path

from core.documents import language_reference
from core.loading import cache_root

# Folders of the standard library whose text is not prose (tests, demos) or is the eval's (pydoc_data).
SKIPPED = {"test", "tests", "idlelib", "site-packages", "dist-packages", "pydoc_data", "lib2to3", "turtledemo",
           "ensurepip", "__pycache__"}
MIN_PARAGRAPH = 80  # characters: shorter paragraphs are signatures and one-liners


def docstring_paragraphs(root: Path) -> list[str]:
    """Paragraphs of every docstring under `root`, in file order, each once; doctest paragraphs left out."""
    seen, paragraphs = set(), []
    for path in sorted(root.rglob("*.py")):
        if SKIPPED & set(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for paragraph in (ast.get_docstring(node) or "").split("\n\n"):
                paragraph = paragraph.strip()
                if len(paragraph) >= MIN_PARAGRAPH and ">>>" not in paragraph and paragraph not in seen:
                    seen.add(paragraph)
                    paragraphs.append(paragraph)
    return paragraphs


def training_text() -> str:
    """The standard library's docstrings (~1 MB), none of whose paragraphs is in the Language Reference."""
    root = Path(sysconfig.get_paths()["stdlib"])
    tag = hashlib.sha256(f"{sys.version}|{root}".encode()).hexdigest()[:12]
    cached = cache_root() / "train-text" / f"stdlib-docstrings-{tag}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    reference = language_reference()
    text = "\n\n".join(p for p in docstring_paragraphs(root) if p not in reference)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{hashlib.sha256(text.encode()).hexdigest()[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(cached)  # whole or absent: two processes building it at once both write complete files
    return text
