"""Small real documents of every type file_search reads, made in the test (nothing downloaded)."""

from __future__ import annotations

import io
import json


def pdf(text: str) -> bytes:
    """A one-page PDF written by hand: Helvetica text, a correct xref table."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx(text: str) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Report", level=1)
    document.add_paragraph(text)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "cell"
    table.rows[0].cells[1].text = "value"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx(text: str) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly deck"
    slide.placeholders[1].text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def html(text: str) -> bytes:
    return (
        "<!doctype html><html><head><title>Page</title><style>body{color:red}</style>"
        "<script>var hidden = 'scriptword';</script></head>"
        f"<body><h1>Heading</h1><p>{text}</p></body></html>"
    ).encode()


def markdown(text: str) -> bytes:
    return f"# Notes\n\n- {text}\n".encode()


def json_doc(text: str) -> bytes:
    return json.dumps({"title": "record", "body": text}).encode()


def python_source(text: str) -> bytes:
    return f'def answer():\n    """{text}"""\n    return 42\n'.encode()


MAKERS = {
    "pdf": pdf,
    "docx": docx,
    "pptx": pptx,
    "html": html,
    "md": markdown,
    "json": json_doc,
    "py": python_source,
    "txt": lambda text: text.encode(),
}
