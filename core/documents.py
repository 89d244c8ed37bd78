"""Reading what a user hands in, for the CLIs and the app alike: documents (text, Markdown, HTML, PDF)
and questions. Every problem is an InputError whose message says what is wrong and what to do."""
from __future__ import annotations

import html.parser
import re
from functools import lru_cache
from pathlib import Path

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB; about 5M tokens of plain text
MAX_QUESTION_CHARS = 2000
ACCEPTED = (".txt", ".md", ".html", ".htm", ".pdf")


class InputError(ValueError):
    """A problem with what the user gave; the message is shown as it is (in the page, or after "error:")."""


class _TextExtractor(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0
        if tag in ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr"):
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def read_document(path: str | Path) -> str:
    """Text of a document file, or an InputError saying why not."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ACCEPTED:
        raise InputError(f"Unsupported file type '{suffix or path.name}'. Use one of: {', '.join(ACCEPTED)}.")
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise InputError(f"The file is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB.")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"The file could not be read: {exc.strerror or exc}.") from exc
    if not data.strip():
        raise InputError("The file is empty.")
    if suffix == ".pdf":
        return _pdf_text(path)
    if b"\x00" in data[:8192]:
        raise InputError("The file looks binary, not text. Upload a .txt, .md, .html or .pdf file.")
    text = data.decode("utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        extractor = _TextExtractor()
        extractor.feed(text)
        text = re.sub(r"\n\s*\n+", "\n\n", "".join(extractor.parts))
    if not text.strip():
        raise InputError("The file has no text in it.")
    return text


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        text = "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    except (PdfReadError, ValueError, OSError) as exc:
        raise InputError(f"The PDF could not be read: {exc}.") from exc
    if not text.strip():
        raise InputError("The PDF has no extractable text (a scan?). Upload a PDF with a text layer.")
    return text


def check_question(question: str | None) -> str:
    question = (question or "").strip()
    if not question:
        raise InputError("Type a question first.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question has {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}.")
    return question


@lru_cache(maxsize=1)
def language_reference() -> str:
    """The default document: Python's Language Reference (pydoc_data.topics, ~465K characters), shipped with
    every Python. The eval's default haystack too; training text comes from elsewhere."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))
