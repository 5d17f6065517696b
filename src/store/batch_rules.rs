//! What a batch insert (a migration) does with each record, decided in input order from
//! what the store holds and what earlier records of the same batch wrote: a backend
//! looks the stored facts up its own way (fjall key by key in its committer, PostgreSQL
//! by one join over the batch) and both answer the same.

use std::collections::HashMap;

use super::{BatchItem, NewRecord};

/// What the store already holds for one record of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The identifier its import key already points at.
    pub import_key_owner: Option<String>,
    /// The identifier already holding its `(type, number)`.
    pub number_owner: Option<String>,
    /// Its identifier is already a stored record.
    pub identifier_taken: bool,
}

/// Each record's fate, in input order: an import key already present (stored or earlier
/// in the batch) is skipped as already present; then a number taken; then an
/// identifier taken; otherwise it is written, and later records see it.
pub fn classify(batch: &[NewRecord], stored: &[Stored]) -> Vec<BatchItem> {
    assert_eq!(batch.len(), stored.len(), "one stored fact per record");
    let mut keys: HashMap<&str, &str> = HashMap::new();
    let mut numbers: HashMap<(&str, &str), &str> = HashMap::new();
    let mut identifiers: std::collections::HashSet<&str> = Default::default();
    batch
        .iter()
        .zip(stored)
        .map(|(new, stored)| {
            let id = new.identifier.as_str();
            if let Some(k) = new.import_key.as_deref() {
                if let Some(owner) = stored.import_key_owner.as_deref().or(keys.get(k).copied()) {
                    return BatchItem::AlreadyPresent(owner.to_string());
                }
            }
            let number = (new.type_code.as_str(), new.licence_number.as_str());
            if let Some(owner) = stored.number_owner.as_deref().or(numbers.get(&number).copied()) {
                return BatchItem::NumberTaken(owner.to_string());
            }
            if stored.identifier_taken || identifiers.contains(id) {
                return BatchItem::IdentifierTaken;
            }
            if let Some(k) = new.import_key.as_deref() {
                keys.insert(k, id);
            }
            numbers.insert(number, id);
            identifiers.insert(id);
            BatchItem::Written
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::SignedRecord;

    fn new(id: &str, number: &str, key: &str) -> NewRecord {
        NewRecord {
            identifier: id.into(),
            type_code: "T".into(),
            licence_number: number.into(),
            holder_code_type: "001".into(),
            holder_code: "H".into(),
            issuer_code: "I".into(),
            issue_date: "2020-01-01".into(),
            record: SignedRecord {
                bytes: Vec::new(),
                signature: [0; 64],
                key_id: "k".into(),
            },
            first_event: None,
            import_key: Some(key.into()),
        }
    }

    /// Stored facts come first, then what earlier records of the batch wrote; a record
    /// refused writes nothing later records could trip on.
    #[test]
    fn stored_facts_and_earlier_records_decide_in_order() {
        let batch = [
            new("a", "N1", "k1"),
            new("b", "N1", "k2"), // number of a
            new("c", "N3", "k1"), // key of a
            new("a", "N4", "k4"), // identifier of a
            new("e", "N5", "k5"), // key stored
            new("f", "N6", "k6"), // number stored
            new("g", "N7", "k7"), // identifier stored
            new("h", "N4", "k4"), // N4 and k4 were refused above: free
        ];
        let mut stored = vec![Stored::default(); batch.len()];
        stored[4].import_key_owner = Some("old-e".into());
        stored[5].number_owner = Some("old-f".into());
        stored[6].identifier_taken = true;
        assert_eq!(
            classify(&batch, &stored),
            vec![
                BatchItem::Written,
                BatchItem::NumberTaken("a".into()),
                BatchItem::AlreadyPresent("a".into()),
                BatchItem::IdentifierTaken,
                BatchItem::AlreadyPresent("old-e".into()),
                BatchItem::NumberTaken("old-f".into()),
                BatchItem::IdentifierTaken,
                BatchItem::Written,
            ]
        );
    }
}
