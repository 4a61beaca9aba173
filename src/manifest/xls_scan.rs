//! Excel 97-2003 (.xls) workbooks are read whole by calamine when it opens them: every sheet is
//! laid out as a dense rectangle from its first to its last cell, after reserving room for the
//! size its DIMENSIONS record declares. A few hundred bytes can therefore ask for gigabytes. This
//! scan finds the workbook stream in the compound file, walks each sheet's records as calamine
//! will, and refuses a workbook whose sheets would take more cells than the bound, before
//! calamine allocates anything.

use super::limits::{Limits, VARIABLES};
use super::zipped::looks_like_text;

const SIGNATURE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
/// Sector numbers from this one up are markers (free, end of chain, FAT, DIFAT).
const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;

/// Refuse an .xls workbook whose sheets would expand beyond `max_sheet_cells`.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), String> {
    if !bytes.starts_with(SIGNATURE) {
        let is = if bytes.starts_with(b"PK") {
            "is a zip: an .xlsx or .ods workbook, to be named so"
        } else if looks_like_text(bytes) {
            "is text (CSV?): rename it to .csv"
        } else {
            "is not an OLE compound file, as every such workbook is"
        };
        return Err(format!(
            "is named like an Excel 97-2003 workbook (.xls) but {is}"
        ));
    }
    // What this scan cannot follow is not handed to calamine either: it might read it differently.
    let Some(stream) = Compound::new(bytes).and_then(|c| c.workbook_stream()) else {
        return Err(
            "cannot be read as an Excel 97-2003 workbook: its compound-file structure \
                    is damaged, or holds no workbook stream"
                .into(),
        );
    };
    let bound = limits.max_sheet_cells;
    let (positions, strings) = globals(&stream);
    let (mut total, mut text) = (0u64, 0u64);
    for (index, position) in positions.into_iter().enumerate() {
        let cost = sheet_cost(stream.get(position..).unwrap_or_default(), &strings);
        total = total.saturating_add(cost.cells);
        text = text.saturating_add(cost.text);
        if total > bound {
            return Err(format!(
                "would take more cells than the bound of {bound} ({}): sheet {} spans {} cells \
                 from its first to its last",
                VARIABLES[5],
                index + 1,
                cost.cells
            ));
        }
        if text > limits.max_text_bytes {
            return Err(format!(
                "would hold more than {} bytes of text once its cells are read, the bound ({})",
                limits.max_text_bytes, VARIABLES[6]
            ));
        }
    }
    Ok(())
}

/// What a sheet costs calamine: cells (reserved, listed and spanned) and bytes of text (each
/// cell holds its own copy of a shared string).
#[derive(Debug, Default, PartialEq, Eq)]
struct Cost {
    cells: u64,
    text: u64,
}

/// From the globals: the sheets' positions in the workbook stream (BoundSheet8 records), and the
/// length in bytes (UTF-8, at most) of each string of the shared-string table.
fn globals(stream: &[u8]) -> (Vec<usize>, Vec<u64>) {
    let mut positions = Vec::new();
    let mut strings = Vec::new();
    let mut records = Records(stream).peekable();
    while let Some((typ, data)) = records.next() {
        match typ {
            0x0085 if data.len() >= 4 => {
                positions.push(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize);
            }
            0x00FC => {
                let mut parts = vec![data.get(8..).unwrap_or_default()];
                while let Some((0x003C, more)) = records.peek() {
                    parts.push(more);
                    records.next();
                }
                strings = string_lengths(&parts);
            }
            0x000A => break,
            _ => {}
        }
    }
    (positions, strings)
}

/// The lengths of the strings of an SST record and its CONTINUE records (MS-XLS 2.5.293
/// XLUnicodeRichExtendedString): character count, flags, optional run and extension sizes, the
/// characters (one or two bytes each, and a CONTINUE starts again with a flags byte), then runs and
/// extension. A length is counted as 3 bytes per character, what UTF-8 may take.
fn string_lengths(parts: &[&[u8]]) -> Vec<u64> {
    let mut reader = Parts {
        parts,
        part: 0,
        at: 0,
    };
    let mut lengths = Vec::new();
    while let (Some(count), Some(flags)) = (reader.u16(), reader.byte()) {
        let runs = if flags & 0x08 != 0 {
            reader.u16()
        } else {
            Some(0)
        };
        let extension = if flags & 0x04 != 0 {
            reader.u32()
        } else {
            Some(0)
        };
        let (Some(runs), Some(extension)) = (runs, extension) else {
            break;
        };
        let mut wide = flags & 0x01 != 0;
        let mut left = usize::from(count);
        while left > 0 {
            let room = reader.left_in_part() / if wide { 2 } else { 1 };
            let take = left.min(room);
            reader.skip_in_part(take * if wide { 2 } else { 1 });
            left -= take;
            if left > 0 {
                // The characters go on in the next CONTINUE, after a new flags byte.
                if !reader.next_part() {
                    break;
                }
                match reader.byte() {
                    Some(flags) => wide = flags & 0x01 != 0,
                    None => break,
                }
            }
        }
        lengths.push(u64::from(count) * 3);
        if !reader.skip(usize::from(runs) * 4 + extension as usize) {
            break;
        }
    }
    lengths
}

/// A cursor over an SST record's data and its CONTINUE records.
struct Parts<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    at: usize,
}

impl Parts<'_> {
    fn left_in_part(&self) -> usize {
        self.parts
            .get(self.part)
            .map_or(0, |p| p.len().saturating_sub(self.at))
    }

    fn skip_in_part(&mut self, n: usize) {
        self.at += n;
    }

    fn next_part(&mut self) -> bool {
        self.part += 1;
        self.at = 0;
        self.part < self.parts.len()
    }

    fn byte(&mut self) -> Option<u8> {
        while self.left_in_part() == 0 {
            if !self.next_part() {
                return None;
            }
        }
        let b = self.parts[self.part][self.at];
        self.at += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.byte()?,
            self.byte()?,
            self.byte()?,
            self.byte()?,
        ]))
    }

    /// Skip `n` bytes across parts; false past the end.
    fn skip(&mut self, mut n: usize) -> bool {
        while n > 0 {
            let here = self.left_in_part();
            if here == 0 && !self.next_part() {
                return false;
            }
            let take = n.min(self.left_in_part());
            self.at += take;
            n -= take;
        }
        true
    }
}

/// The cells calamine would hold for the sheet starting here: the room its DIMENSIONS records
/// reserve, the cells listed and the rectangle they span; and the text of its string cells.
fn sheet_cost(sheet: &[u8], strings: &[u64]) -> Cost {
    let mut reserved = 0u64;
    let mut listed = 0u64;
    let mut text = 0u64;
    let mut span: Option<(u32, u32, u32, u32)> = None;
    let mut seen_bof = false;
    let mut depth = 0usize;
    let mut extend = |row: u32, first: u32, last: u32| {
        span = Some(match span {
            None => (row, row, first, last),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(first), c1.max(last)),
        });
    };
    for (typ, data) in Records(sheet) {
        if depth > 0 {
            match typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let u16_at = |i: usize| data.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        match typ {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x000A => break,
            0x0200 => reserved = reserved.saturating_add(dimensions_area(data)),
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 | 0x0207 => {
                if let (Some(row), Some(col)) = (u16_at(0), u16_at(2)) {
                    listed += 1;
                    if typ != 0x0207 {
                        extend(row.into(), col.into(), col.into());
                    }
                }
                text = text.saturating_add(match typ {
                    // LabelSst: a copy of the shared string it points at.
                    0x00FD => data
                        .get(6..10)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                        .and_then(|i| strings.get(i).copied())
                        .unwrap_or(0),
                    // Label, RString, String: text held in the record itself.
                    0x0204 | 0x00D6 | 0x0207 => data.len() as u64 * 3,
                    _ => 0,
                });
            }
            0x00BD => {
                if let (Some(row), Some(first), Some(last)) = (
                    u16_at(0),
                    u16_at(2),
                    data.len().checked_sub(2).and_then(u16_at),
                ) {
                    listed += u64::from(last.saturating_sub(first)) + 1;
                    extend(row.into(), first.into(), last.max(first).into());
                }
            }
            _ => {}
        }
    }
    let area = span.map_or(0, |(r0, r1, c0, c1)| {
        u64::from(r1 - r0 + 1).saturating_mul(u64::from(c1 - c0 + 1))
    });
    Cost {
        cells: reserved.saturating_add(listed).saturating_add(area),
        text,
    }
}

/// The cells a DIMENSIONS record makes calamine reserve; a reversed range counts as unbounded.
fn dimensions_area(data: &[u8]) -> u64 {
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([data[i], data[i + 1]]));
    let u32_at = |i: usize| {
        u64::from(u32::from_le_bytes([
            data[i],
            data[i + 1],
            data[i + 2],
            data[i + 3],
        ]))
    };
    let (first_row, last_row, mut first_col, last_col) = match data.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return 0,
    };
    if first_col > 0xFF || last_col < first_col {
        first_col = 0;
    }
    if last_row < 1 || last_col < 1 {
        return 1;
    }
    let rows = (last_row - 1)
        .checked_sub(first_row)
        .map_or(u64::MAX, |r| r + 1);
    let cols = (last_col - 1)
        .checked_sub(first_col)
        .map_or(u64::MAX, |c| c + 1);
    rows.saturating_mul(cols)
}

/// BIFF records: (type, data), until the stream ends or a length runs past it.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let head = self.0.get(..4)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let data = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some((typ, data))
    }
}

/// Just enough of the compound file format to find the workbook stream.
struct Compound<'a> {
    bytes: &'a [u8],
    sector_size: usize,
    fat: Vec<u32>,
    entries: Vec<(String, u32, u64)>,
    mini_fat_start: u32,
}

impl<'a> Compound<'a> {
    fn new(bytes: &'a [u8]) -> Option<Compound<'a>> {
        let u32_at = |i: usize| -> Option<u32> {
            let b = bytes.get(i..i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let shift = u16::from_le_bytes([*bytes.get(0x1E)?, *bytes.get(0x1F)?]);
        if !(7..=16).contains(&shift) {
            return None;
        }
        let mut compound = Compound {
            bytes,
            sector_size: 1 << shift,
            fat: Vec::new(),
            entries: Vec::new(),
            mini_fat_start: u32_at(0x3C)?,
        };
        let max_sectors = bytes.len() / compound.sector_size + 1;
        // The FAT's own sectors: 109 listed in the header, then a chain of DIFAT sectors.
        let mut fat_sectors: Vec<u32> = (0..109).filter_map(|i| u32_at(0x4C + 4 * i)).collect();
        let mut difat = u32_at(0x44)?;
        let mut hops = 0;
        while difat < MAX_REGULAR_SECTOR && hops <= max_sectors {
            let ids: Vec<u32> = compound
                .sector(difat)?
                .chunks_exact(4)
                .map(le_u32)
                .collect();
            let (next, listed) = ids.split_last()?;
            fat_sectors.extend_from_slice(listed);
            difat = *next;
            hops += 1;
        }
        for id in fat_sectors
            .into_iter()
            .filter(|id| *id < MAX_REGULAR_SECTOR)
        {
            if compound.fat.len() > max_sectors * compound.sector_size / 4 {
                return None;
            }
            let entries: Vec<u32> = compound.sector(id)?.chunks_exact(4).map(le_u32).collect();
            compound.fat.extend(entries);
        }
        // calamine reads the directory chain to its end, the mini stream and the mini FAT to the
        // sizes the file declares: a chain that loops, or a size beyond the file, would make it
        // read for ever.
        let directory = compound.chain(u32_at(0x30)?, &compound.fat, None, usize::MAX)?;
        let mini_fat_sectors = u32_at(0x40)? as usize;
        compound.entries = directory
            .chunks_exact(128)
            .map(|e| {
                // Named as calamine names it: all 32 UTF-16 units, cut at the first NUL.
                let units: Vec<u16> = e[..64]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|u| *u != 0)
                    .collect();
                let size = if shift == 9 {
                    u64::from(le_u32(&e[120..124]))
                } else {
                    u64::from_le_bytes(e[120..128].try_into().unwrap_or([0; 8]))
                };
                (String::from_utf16_lossy(&units), le_u32(&e[116..120]), size)
            })
            .collect();
        if mini_fat_sectors > 0 {
            let (_, _, root_size) = compound.entries.first()?;
            let mini_fat_size = mini_fat_sectors.checked_mul(compound.sector_size)?;
            if *root_size > bytes.len() as u64 || mini_fat_size > bytes.len() {
                return None;
            }
        }
        Some(compound)
    }

    /// Sector `id`; the last one of a file may be cut short.
    fn sector(&self, id: u32) -> Option<&'a [u8]> {
        let start = (id as usize)
            .checked_add(1)?
            .checked_mul(self.sector_size)?;
        if start >= self.bytes.len() {
            return None;
        }
        let end = start.saturating_add(self.sector_size).min(self.bytes.len());
        Some(&self.bytes[start..end])
    }

    /// The bytes of a chain of sectors (regular ones when `mini` is None, else 64-byte sectors of
    /// the mini stream), cut to `len` when given; None on a broken or looping chain.
    fn chain(&self, start: u32, fat: &[u32], mini: Option<&[u8]>, limit: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut id = start;
        let mut hops = 0usize;
        while id != END_OF_CHAIN && out.len() < limit {
            if id >= MAX_REGULAR_SECTOR || hops > fat.len() {
                return None;
            }
            match mini {
                None => out.extend_from_slice(self.sector(id)?),
                Some(stream) => {
                    let at = (id as usize).checked_mul(64)?;
                    out.extend_from_slice(stream.get(at..at + 64)?);
                }
            }
            id = *fat.get(id as usize)?;
            hops += 1;
        }
        Some(out)
    }

    /// The `Workbook` (or, in BIFF5, `Book`) stream.
    fn workbook_stream(&self) -> Option<Vec<u8>> {
        let (_, start, size) = self
            .entries
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case("Workbook"))
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|(n, _, _)| n.eq_ignore_ascii_case("Book"))
            })?;
        if *size > self.bytes.len() as u64 {
            return None;
        }
        let size = *size as usize;
        // calamine takes a stream under 4096 bytes from the mini stream, whatever the header says.
        let mut stream = if size < 4096 {
            let (_, root_start, root_size) = self.entries.first()?;
            let root_size = usize::try_from(*root_size).ok()?;
            let mini_stream = self.chain(*root_start, &self.fat, None, root_size)?;
            let mini_fat: Vec<u32> = self
                .chain(self.mini_fat_start, &self.fat, None, usize::MAX)?
                .chunks_exact(4)
                .map(le_u32)
                .collect();
            self.chain(*start, &mini_fat, Some(&mini_stream), size)?
        } else {
            self.chain(*start, &self.fat, None, size)?
        };
        stream.truncate(size);
        Some(stream)
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
#[path = "xls_scan_tests.rs"]
mod tests;
