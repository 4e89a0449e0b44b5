"""The files: the certificate PDF (its text read back with pdftotext, its page drawn
with pdftoppm), the ZIP, and the check-in QR image."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from commands.accreditation.documents import CertificateText, certificate_pdf, checkin_png, zip_of

POPPLER = shutil.which("pdftotext") is not None and shutil.which("pdftoppm") is not None
needs_poppler = pytest.mark.skipif(
    not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) is not installed: `make poppler` installs it"
)

TEXT = CertificateText(
    heading="Bewijs van deelname",
    intro="Hierbij verklaren wij dat",
    name="Łucja van den Brink-Ölçer",
    after_name="heeft deelgenomen aan",
    rows=(
        ("Bijeenkomst", "Casus FML"),
        ("Datum", "dinsdag 13 april 2027, 09:30–13:00"),
        ("Duur", "3:30 uur"),
        ("Accreditatie", "3 PE-punten NVvA, BIG"),
        ("Organisator", "Kennisbrug"),
    ),
    footer="Uitgegeven door Kennisbrug op 14 april 2027.",
    title="Bewijs van deelname",
)


@needs_poppler
def test_certificate_text_reads_back_and_the_page_renders(tmp_path: Path) -> None:
    pdf = tmp_path / "bewijs.pdf"
    pdf.write_bytes(certificate_pdf(TEXT))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True)
    words = " ".join(text.stdout.split())
    for expected in (
        "Bewijs van deelname",
        "Łucja van den Brink-Ölçer",
        "heeft deelgenomen aan",
        "Casus FML",
        "dinsdag 13 april 2027, 09:30–13:00",
        "3:30 uur",
        "3 PE-punten NVvA, BIG",
        "Organisator Kennisbrug",
    ):
        assert expected in words, expected
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-singlefile", str(pdf), str(tmp_path / "page")], check=True
    )
    page = Image.open(tmp_path / "page.png")
    assert page.width < page.height  # A4 portrait, one page
    # Not a blank page: the heading and the frame put dark pixels on it.
    assert sum(page.convert("L").histogram()[:128]) > 500


def test_zip_holds_every_file_also_under_a_shared_name() -> None:
    data = zip_of([("a.pdf", b"1"), ("a.pdf", b"2"), ("b.pdf", b"3")])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["a.pdf", "a-2.pdf", "b.pdf"]
        assert archive.read("a-2.pdf") == b"2"


def _dark(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(image.crop(box).convert("L").histogram()[:128])


def test_checkin_image_has_the_qr_code_and_the_code_printed_under_it() -> None:
    png = checkin_png("https://matrix.to/#/@kennisbrug:localhost", "K7M 3QX", "!inchecken K7M3QX")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    text_top = image.height - 260
    # The QR code above, the code and caption in the band below it, white in between.
    assert _dark(image, (0, 0, image.width, text_top)) > 10_000
    assert _dark(image, (0, text_top + 20, image.width, text_top + 130)) > 2_000
    assert _dark(image, (0, text_top + 165, image.width, image.height)) > 200
