//! A hostile sample: a small, well-formed XLSX workbook whose shared-string table unpacks
//! to far more than the file's size — the decompression bomb that `xlsx_limits` refuses.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#;

/// The table's start, declaring no count (as an attacker's would not).
const SST_START: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

/// One shared string, as repeated in the table.
const STRING: &[u8] = b"<si><t>x</t></si>";

/// A workbook of one sheet whose shared-string table holds `strings` copies of one short
/// string: `STRING.len()` bytes each unpacked, about a thousandth of that packed (6
/// million strings: 100 MB of XML in about 250 KB).
pub fn xlsx_bomb(strings: u64) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let small = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let parts = [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", SHEET),
    ];
    let io = |e: std::io::Error| panic!("writing to memory: {e}");
    for (name, text) in parts {
        zip.start_file(name, small).expect("zip entry");
        zip.write_all(text.as_bytes()).unwrap_or_else(io);
    }
    let dense = small
        .compression_level(Some(9))
        .large_file(strings * STRING.len() as u64 > u32::MAX as u64);
    zip.start_file("xl/sharedStrings.xml", dense).expect("zip entry");
    zip.write_all(SST_START.as_bytes()).unwrap_or_else(io);
    let block = STRING.repeat(4096);
    let mut left = strings;
    while left > 0 {
        let n = left.min(4096);
        zip.write_all(&block[..n as usize * STRING.len()]).unwrap_or_else(io);
        left -= n;
    }
    zip.write_all(b"</sst>").unwrap_or_else(io);
    zip.finish().expect("zip archive").into_inner()
}
