"""The files accreditation makes: the *bewijs van deelname* (PDF, fpdf2), a ZIP of an
event's certificates, and the check-in QR image (segno for the code, Pillow to print
the code under it). Pure functions of their texts: the caller renders the catalogue.

Fonts come from matplotlib's bundled DejaVu (already a dependency for the charts): a
built-in PDF font knows only Latin-1, and members' names need not."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# fpdf2, segno and Pillow are imported where a file is made: together they cost the
# bot about 1.5 s and several MB at every start, for files made a few times a year.


@cache
def _font(bold: bool = False) -> Path:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


@dataclass(frozen=True)
class CertificateText:
    """Every line of one certificate, already in the member's language."""

    heading: str
    intro: str
    name: str
    after_name: str
    # (label, value) rows: event, date, duration, accreditation, organiser.
    rows: tuple[tuple[str, str], ...]
    footer: str
    title: str  # the PDF's metadata title


def certificate_pdf(text: CertificateText) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(text.title)
    pdf.set_creator("Kennisbrug")
    pdf.add_font("DejaVu", "", str(_font()))
    pdf.add_font("DejaVu", "B", str(_font(bold=True)))
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_margins(25, 25, 25)
    pdf.set_draw_color(30, 90, 130)
    pdf.set_line_width(1.2)
    pdf.rect(12, 12, 186, 273)
    pdf.set_y(45)
    pdf.set_font("DejaVu", "B", 26)
    pdf.set_text_color(30, 90, 130)
    pdf.cell(0, 14, text.heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "", 13)
    pdf.multi_cell(0, 8, text.intro, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("DejaVu", "B", 20)
    pdf.multi_cell(0, 11, text.name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "", 13)
    pdf.multi_cell(0, 8, text.after_name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(12)
    for label, value in text.rows:
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(45, 8, label)
        pdf.set_font("DejaVu", "", 12)
        pdf.multi_cell(0, 8, value, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_y(250)
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(0, 5, text.footer, align="C")
    return bytes(pdf.output())


def zip_of(files: Sequence[tuple[str, bytes]]) -> bytes:
    """One ZIP of the files; a name given twice gets a number (two members, one name)."""
    out = io.BytesIO()
    seen: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            count = seen.get(name, 0)
            seen[name] = count + 1
            if count:
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}-{count + 1}{dot}{ext}" if dot else f"{name}-{count + 1}"
            archive.writestr(name, data)
    return out.getvalue()


def checkin_png(link: str, code: str, caption: str) -> bytes:
    """A QR code of ``link`` with the code in large letters under it and a caption
    (how to check in without a camera), sized for a projector."""
    import segno
    from PIL import Image, ImageDraw, ImageFont

    qr = segno.make(link, error="m")
    scale, border = 12, 4
    size = int(qr.symbol_size(scale=scale, border=border)[0])
    width = max(size, 900)
    code_font = ImageFont.truetype(str(_font(bold=True)), 110)
    caption_font = ImageFont.truetype(str(_font()), 34)
    height = size + 260
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left = (width - size) // 2
    for row_index, row in enumerate(qr.matrix):
        for col_index, dark in enumerate(row):
            if dark:
                x = left + (col_index + border) * scale
                y = (row_index + border) * scale
                draw.rectangle((x, y, x + scale - 1, y + scale - 1), fill="black")
    draw.text((width // 2, size + 70), code, fill="black", font=code_font, anchor="mm")
    draw.text((width // 2, size + 190), caption, fill=(60, 60, 60), font=caption_font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
