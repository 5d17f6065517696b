//! Template parsing, then — when the text parses — rendering the sample licence on it.
//! Input: the template TOML, optionally a NUL and U+001F-separated values that replace
//! the holder name and the 营业执照 fields (and, with a fourth part, make it a per-use
//! copy). Every accepted template renders or returns an error, never panics, and the
//! PDF carries exactly the payload it was given.
#![no_main]

use elicence::licence::qr::QrPayload;
use elicence::licence::Field;
use elicence::render::{extract_qr_payload, CopyMark, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (template, extra) = elicence_fuzz::split_nul(data);
    let Ok(text) = std::str::from_utf8(template) else {
        return;
    };
    let Ok(t) = Template::parse(text) else {
        return;
    };
    let _ = (t.literal_texts(), t.page_name(), t.serves("business-licence"));
    for ty in elicence_fuzz::catalog() {
        let _ = t.validate_for_type(ty);
    }

    let mut licence = elicence_fuzz::sample_licence();
    let extra = String::from_utf8_lossy(extra);
    let parts: Vec<&str> = if extra.is_empty() {
        Vec::new()
    } else {
        extra.split('\u{1f}').collect()
    };
    if let Some(name) = parts.first() {
        licence.holder_name = name.to_string();
    }
    if let Some(business) = elicence_fuzz::catalog()
        .iter()
        .find(|ty| ty.code == licence.licence_type_code)
    {
        if parts.len() > 1 {
            licence.fields = business
                .field_names
                .iter()
                .zip(parts[1..].iter().cycle())
                .map(|(name, value)| Field {
                    name: name.clone(),
                    value: value.to_string(),
                })
                .collect();
        }
    }
    let keys = elicence_fuzz::keys();
    let (payload, copy) = match parts.get(3) {
        Some(purpose) => {
            let mark = CopyMark {
                copy_for: parts[2].to_string(),
                purpose: purpose.to_string(),
                made_at: "2026-03-05 10:20".into(),
                valid_until: "2026-04-30".into(),
            };
            let Ok(p) = QrPayload::sign_copy(&licence, &mark.qr_fields(), keys) else {
                return;
            };
            (p, Some(mark))
        }
        None => {
            let Ok(p) = QrPayload::sign(&licence, keys) else {
                return;
            };
            (p, None)
        }
    };
    if let Ok(pdf) = elicence_fuzz::renderer().render(&t, &licence, &payload, copy.as_ref()) {
        assert_eq!(extract_qr_payload(&pdf), Some(payload.encode().unwrap()));
    }
});
