"""Write ``files/public-travel-policy.pdf``: a small text PDF, hand-assembled, no dependencies.

Run ``python data/sample/make_pdf.py`` to regenerate it; the output is byte-for-byte
deterministic. ``build_pdf`` is also used by the parser tests to make fixtures in memory.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

TITLE = "Business Travel Policy"

# "# " starts a heading; a blank string separates paragraphs; "\f" starts a new page.
TRAVEL_POLICY = """\
# Business Travel Policy
Northwind Analytics - applies to all employees and contractors travelling on company business.
Owner: Finance (Carol Mendes). Effective 1 April 2025.

# Booking
All flights, hotels and rental cars are booked through TripDesk, our travel booking portal, at \
least 14 days before departure. Bookings made later than that need a short justification in \
TripDesk. Personal loyalty programmes may be used, but never to choose a more expensive option.

# Flights
Economy class is required for flights under 6 hours. Premium economy is allowed for flights of 6 \
hours or more; business class is allowed only for flights over 10 hours with approval from your \
vice president. For trips under 3 hours by train, rail is preferred over flying.

# Approvals
Domestic trips are approved by your manager in TripDesk. International trips need approval from \
your department head at least 21 days before departure. Travel to countries rated high risk by \
our security provider also needs approval from the security team.
\f
# Ground transport and mileage
Use public transport, shuttles or ride-hailing where practical. Rental cars are limited to compact \
or mid-size categories. Use of a personal car for business is reimbursed at $0.70 per mile, the \
2025 IRS standard rate; commuting to your usual office is not reimbursed.

# Meals and hotels
Meal and hotel limits are set in the Expense Reimbursement Policy: meals up to $75 per day \
domestic and $100 per day international; hotels up to $250 per night in tier-1 cities.

# Safety
Travellers are covered by the company travel insurance. In an emergency abroad, call Sentinel \
Assist on +1 202 555 0110, available 24 hours a day. Register every international trip in \
TripDesk so that we can reach you during an emergency.

# Expenses after the trip
Submit travel expenses in Ledgerly within 30 days of returning, with itemised receipts for any \
expense over $25.
"""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(lines: list[str]) -> bytes:
    """One page's content stream: headings in bold 13 pt, body text in 10 pt, 14 pt leading."""
    ops: list[str] = []
    y = 770
    for line in lines:
        if line.startswith("# "):
            y -= 8
            ops.append(f"BT /F2 13 Tf 72 {y} Td ({_escape(line[2:])}) Tj ET")
            y -= 18
        elif not line:
            y -= 6
        else:
            for wrapped in textwrap.wrap(line, 95):
                ops.append(f"BT /F1 10 Tf 72 {y} Td ({_escape(wrapped)}) Tj ET")
                y -= 14
    return "\n".join(ops).encode("cp1252")


def build_pdf(title: str, pages: list[list[str]]) -> bytes:
    """A valid, uncompressed PDF with the given pages of lines (text is extractable)."""
    n_pages = len(pages)
    first_page = 5  # objects 1-4: catalog, pages, two fonts; then page/content pairs; info last
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n_pages))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for i, lines in enumerate(pages):
        content = _page_stream(lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {first_page + 2 * i + 1} 0 R "
            "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    info_obj = len(objects) + 1
    objects.append(f"<< /Title ({_escape(title)}) /Producer (northwind make_pdf.py) >>".encode("cp1252"))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, info_obj)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def main() -> None:
    pages = [page.strip("\n").split("\n") for page in TRAVEL_POLICY.split("\f")]
    target = HERE / "files" / "public-travel-policy.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_pdf(TITLE, pages))
    print(f"wrote {target.relative_to(HERE)}")


if __name__ == "__main__":
    main()
