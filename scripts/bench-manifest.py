#!/usr/bin/env python3
"""A manifest of ROWS consignment notes with PHOTOS photos of BYTES bytes each, for `make bench`.

Usage: bench-manifest.py DIR ROWS PHOTOS BYTES [xlsx]

Writes DIR/manifest.csv and DIR/img/<BL>/xray-N.jpg (the sandbox knows every well-formed
document by default); with `xlsx`, also DIR/manifest.xlsx holding the same rows, its text in a
shared-strings table as Excel writes it. Every photo starts with the JPEG magic bytes, then
random bytes, so that no two photos are alike. A folder already holding the photos is reused.
"""

import os
import sys
import zipfile
from xml.sax.saxutils import escape

HEADER = ["nomorAju", "nomorBlAwb", "tanggalBlAwb", "kodeKantor", "folder"]


def rows(n):
    for i in range(1, n + 1):
        bl = f"CNBENCH{i:07d}"
        aju = f"BENCH{i:09d}202611200000{i % 100:02d}"
        yield [aju, bl, "2026-11-20", "009000", f"img/{bl}"]


def column(i):
    return "ABCDE"[i]


def write_xlsx(path, n):
    strings, index = [], {}

    def sid(text):
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        sheet = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                 '<sheetData>']
        for r, cells in enumerate([HEADER, *rows(n)], start=1):
            sheet.append(f'<row r="{r}">')
            for c, text in enumerate(cells):
                sheet.append(f'<c r="{column(c)}{r}" t="s"><v>{sid(text)}</v></c>')
            sheet.append("</row>")
        sheet.append("</sheetData></worksheet>")
        z.writestr("xl/worksheets/sheet1.xml", "".join(sheet))
        shared = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                  f'count="{len(strings)}" uniqueCount="{len(strings)}">']
        shared += [f"<si><t>{escape(s)}</t></si>" for s in strings]
        shared.append("</sst>")
        z.writestr("xl/sharedStrings.xml", "".join(shared))
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                   '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                   '</Relationships>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                   '<sheets><sheet name="Manifest" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                   '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                   '</Relationships>')


def main() -> None:
    out, n, photos, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    with open(os.path.join(out, "manifest.csv"), "w") as manifest:
        manifest.write(",".join(HEADER) + "\n")
        for cells in rows(n):
            folder = os.path.join(out, cells[4])
            if not os.path.isdir(folder):
                os.mkdir(folder)
                for p in range(1, photos + 1):
                    with open(os.path.join(folder, f"xray-{p}.jpg"), "wb") as photo:
                        photo.write(b"\xff\xd8\xff\xe0" + os.urandom(max(size - 4, 0)))
            manifest.write(",".join(cells) + "\n")
    if len(sys.argv) > 5 and sys.argv[5] == "xlsx":
        write_xlsx(os.path.join(out, "manifest.xlsx"), n)


if __name__ == "__main__":
    main()
