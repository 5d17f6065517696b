//! One source row straight into the row mapper, and each value through the date parser
//! under every style: the field-level half of the import, without a reader in front so
//! the fuzzer spends its time on values. The first byte picks the mapping; the rest,
//! split at U+001F, are the values of the mapping's columns in order.
#![no_main]

use elicence::import::dates::{self, DateRules, DateStyle};
use elicence::import::SourceRow;
use elicence_fuzz::MAPPINGS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let name = MAPPINGS[usize::from(options) % MAPPINGS.len()];
    let (mapping, mapper) = elicence_fuzz::mapping(name);
    let mut columns: Vec<String> = mapping.columns.values().cloned().collect();
    columns.extend(mapping.fields.iter().map(|f| f.column.clone()));
    let text = String::from_utf8_lossy(rest);
    let values: Vec<&str> = text.split('\u{1f}').collect();
    let pairs = columns
        .into_iter()
        .zip(
            values
                .iter()
                .map(|v| v.to_string())
                .chain(std::iter::repeat(String::new())),
        )
        .collect();
    let row = SourceRow::from_pairs(2, pairs);
    if let Ok(record) = mapper.map(&row) {
        assert!(!record.key.is_empty());
    }

    let all = DateRules {
        styles: vec![DateStyle::Ymd, DateStyle::ExcelSerial, DateStyle::Dmy, DateStyle::Mdy],
        excel_1904: options & 0x80 != 0,
        ..DateRules::default()
    };
    for v in &values {
        for rules in [&DateRules::default(), &all] {
            if let Ok(d) = dates::parse(v, rules) {
                assert!((1900..=2199).contains(&d.year()), "{v:?} → {d}");
            }
            let _ = dates::parse_end(v, rules);
        }
    }
    // Excel serials arrive as floats from numeric cells.
    for chunk in rest.chunks_exact(8) {
        let f = f64::from_le_bytes(chunk.try_into().unwrap());
        let _ = dates::excel_serial(f, options & 0x80 != 0);
    }
});
