//! XLSX reader (calamine): the first sheet or a named one, the first non-empty row as the
//! header, each later non-empty row a record numbered by its sheet row. Cells are read
//! one at a time on a worker thread and handed over through a small bounded channel, so
//! memory holds the shared-string table and a few rows, never the whole sheet. The
//! callers in `source` measure the workbook first (`xlsx_limits`), so that table and
//! everything else calamine unpacks is bounded before it is parsed.
//!
//! calamine parses hostile bytes, and fuzzing found it can panic on them (an arithmetic
//! overflow on a huge cell reference, in builds with overflow checks). Every call into
//! it is contained: a panic while opening becomes an `ImportError`, a panic while
//! reading becomes a reject at the last row reached — the rows after it are reported as
//! not read, never silently dropped.

use std::io::{Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use calamine::{DataRef, Reader, Xlsx};

use super::source::{Columns, Settled, SourceRow};
use super::text::{number_text, trim};
use super::{ImportError, Reject};

type Item = Result<SourceRow, Reject>;

pub(crate) struct XlsxRows {
    rx: Receiver<Item>,
}

impl Iterator for XlsxRows {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        self.rx.recv().ok()
    }
}

pub(crate) fn open<R: Read + Seek + Send + 'static>(input: R, opts: &Settled) -> Result<XlsxRows, ImportError> {
    let opened = catch_unwind(AssertUnwindSafe(|| open_sheet(input, opts)));
    let (book, sheet) = opened.unwrap_or_else(|panic| {
        Err(ImportError::Xlsx(format!(
            "malformed workbook: the XLSX parser failed ({})",
            panic_message(&*panic)
        )))
    })?;
    let (tx, rx) = sync_channel(256);
    std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(move || {
            let mut last_line = 0;
            let read = catch_unwind(AssertUnwindSafe(|| read_sheet(book, &sheet, &tx, &mut last_line)));
            if let Err(panic) = read {
                let _ = tx.send(Err(Reject::new(
                    last_line + 1,
                    "",
                    "",
                    format!(
                        "reading the sheet failed: the XLSX parser stopped on malformed data ({}); \
                         rows from here on were not read",
                        panic_message(&*panic)
                    ),
                )));
            }
        })
        .map_err(|e| ImportError::Xlsx(format!("starting the reader thread: {e}")))?;
    Ok(XlsxRows { rx })
}

/// The workbook and the name of the sheet to read, checked to open.
fn open_sheet<R: Read + Seek>(input: R, opts: &Settled) -> Result<(Xlsx<R>, String), ImportError> {
    let mut book: Xlsx<R> = Xlsx::new(input).map_err(|e| ImportError::Xlsx(e.to_string()))?;
    let names = book.sheet_names();
    let sheet = match &opts.sheet {
        Some(s) if names.contains(s) => s.clone(),
        Some(s) => {
            return Err(ImportError::Xlsx(format!(
                "no sheet named {s:?}; the workbook has {names:?}"
            )))
        }
        None => names
            .first()
            .cloned()
            .ok_or_else(|| ImportError::Xlsx("the workbook has no sheets".into()))?,
    };
    // Fail early on a sheet that cannot be opened.
    book.worksheet_cells_reader(&sheet)
        .map_err(|e| ImportError::Xlsx(format!("sheet {sheet:?}: {e}")))?;
    Ok((book, sheet))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// A cell as source text; `Err` carries the Excel error shown in the cell (`#N/A`).
fn cell_text(v: &DataRef<'_>) -> Result<String, String> {
    Ok(match v {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        DataRef::DateTime(dt) => number_text(dt.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Err(e.to_string()),
    })
}

/// The row being gathered: its sheet row and its non-empty cells by column.
struct Pending {
    row: u32,
    cells: Vec<(u32, Result<String, String>)>,
}

/// Sends the sheet's rows; `last_line` follows the last row sent, so that a failure can
/// say where reading stopped.
fn read_sheet<R: Read + Seek>(mut book: Xlsx<R>, sheet: &str, tx: &SyncSender<Item>, last_line: &mut u64) {
    let mut cells = match book.worksheet_cells_reader(sheet) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(Reject::new(0, "", "", format!("sheet {sheet:?}: {e}"))));
            return;
        }
    };
    let mut columns: Option<Arc<Columns>> = None;
    let mut pending: Option<Pending> = None;
    loop {
        let cell = match cells.next_cell() {
            Ok(c) => c,
            Err(e) => {
                let line = pending.as_ref().map_or(0, |p| u64::from(p.row) + 1);
                let _ = tx.send(Err(Reject::new(line, "", "", format!("reading the sheet failed: {e}"))));
                return;
            }
        };
        let Some(cell) = cell else { break };
        let (row, col) = cell.get_position();
        if pending.as_ref().is_some_and(|p| p.row != row) {
            let done = pending.take().expect("checked above");
            *last_line = u64::from(done.row) + 1;
            if !emit(done, &mut columns, tx) {
                return;
            }
        }
        let text = cell_text(cell.get_value());
        if text.as_ref().is_ok_and(|t| trim(t).is_empty()) {
            continue;
        }
        pending
            .get_or_insert_with(|| Pending { row, cells: Vec::new() })
            .cells
            .push((col, text));
    }
    if let Some(done) = pending {
        emit(done, &mut columns, tx);
    }
}

/// Sends one gathered row (or makes it the header). Returns false when the receiver is
/// gone, which ends the reader.
fn emit(p: Pending, columns: &mut Option<Arc<Columns>>, tx: &SyncSender<Item>) -> bool {
    let line = u64::from(p.row) + 1;
    let Some(cols) = columns else {
        let width = p.cells.iter().map(|(c, _)| *c as usize + 1).max().unwrap_or(0);
        let mut names = vec![String::new(); width];
        for (c, t) in p.cells {
            names[c as usize] = trim(&t.unwrap_or_default()).to_string();
        }
        *columns = Some(Arc::new(Columns::new(names)));
        return true;
    };
    let width = cols.names().len();
    let mut values = vec![String::new(); width];
    let mut problem = None;
    for (c, t) in p.cells {
        let c = c as usize;
        match t {
            Ok(t) if c < width => values[c] = t,
            Ok(t) => {
                problem = Some(Reject::new(
                    line,
                    format!("column {}", c + 1),
                    t,
                    "value outside the header's columns",
                ));
                break;
            }
            Err(e) => {
                let name = cols.names().get(c).cloned().unwrap_or_default();
                problem = Some(Reject::new(line, name, e, "the cell holds an Excel error"));
                break;
            }
        }
    }
    let item = match problem {
        Some(r) => Err(r),
        None => Ok(SourceRow::new(line, cols.clone(), values)),
    };
    tx.send(item).is_ok()
}
