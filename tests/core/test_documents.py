"""read_document and check_question (the CLIs and the app share them): every bad input gets its own clear message."""
import pytest

from core.documents import MAX_UPLOAD_BYTES, InputError as UserError, check_question, read_document as read_upload


def test_text_markdown_and_html_are_read(tmp_path):
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "b.md").write_text("# Title\nbody")
    (tmp_path / "c.html").write_text("<html><style>x{}</style><body><p>Hello</p><p>world</p><script>no()</script></body></html>")
    assert read_upload(tmp_path / "a.txt") == "plain text"
    assert read_upload(tmp_path / "b.md").startswith("# Title")
    html_text = read_upload(tmp_path / "c.html")
    assert "Hello" in html_text and "world" in html_text and "no()" not in html_text and "x{}" not in html_text


def test_pdf_text_is_extracted(tmp_path):
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(minimal_pdf("Hello from a PDF"))
    assert "Hello from a PDF" in read_upload(pdf)


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b"   \n ", "empty"),
    ("binary.txt", b"\x00\x01\x02abc" * 100, "binary"),
    ("image.png", b"\x89PNG", "Unsupported file type"),
    ("broken.pdf", b"%PDF-1.4 not really", "PDF"),
])
def test_bad_files_get_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_upload(path)


def test_oversized_missing_and_textless_pdf(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(UserError, match="limit"):
        read_upload(big)
    with pytest.raises(UserError, match="could not be read"):
        read_upload(tmp_path / "missing.txt")
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with (tmp_path / "scan.pdf").open("wb") as handle:
        writer.write(handle)
    with pytest.raises(UserError, match="no extractable text"):
        read_upload(tmp_path / "scan.pdf")


def test_questions_are_checked():
    with pytest.raises(UserError, match="Type a question"):
        check_question("   ")
    with pytest.raises(UserError, match="limit"):
        check_question("why? " * 1000)
    assert check_question("  Why?  ") == "Why?"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer, written by hand (offsets computed, not hard-coded)."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
