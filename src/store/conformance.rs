//! One storage test suite, run against every backend (as trillian's `storage/testonly`
//! does): each test body takes a way to open a store in a directory, and a macro
//! instantiates the bodies once per backend.

use std::path::Path;
use std::sync::Arc;

use super::{BatchItem, IndexKey, IndexName, IndexQuery, NewRecord, RequestKey, SignedEvent};
use super::{Store, StoreError, StoredTemplate, WriteOutcome};
use crate::audit::{test_seal, AuditEntry, AuditLink, AuditSeal};
use crate::licence::SignedRecord;

pub type Open = fn(&Path) -> Arc<dyn Store>;

/// Every stored identifier, read page by page (small stores in tests only).
pub fn all_identifiers(store: &dyn Store) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    loop {
        let page = store.identifiers(all.last().map(String::as_str), 1000).unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Every entry of one index, read page by page (small stores in tests only).
pub fn all_entries(store: &dyn Store, index: IndexName) -> Vec<IndexKey> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let page = store.index_page(index, after.as_deref(), 1000).unwrap();
        let Some(last) = page.last() else { return all };
        after = Some(last.position.clone());
        all.extend(page.into_iter().map(|e| e.key));
    }
}

const TYPE: &str = "11100000000013338W011";

fn record(id: &str, number: &str, import_key: Option<&str>) -> NewRecord {
    NewRecord {
        identifier: id.into(),
        type_code: TYPE.into(),
        licence_number: number.into(),
        holder_code_type: "001".into(),
        holder_code: "91440300708461136T".into(),
        issuer_code: "11110000000021135M".into(),
        issue_date: "2015-03-01".into(),
        record: SignedRecord {
            bytes: format!("{{\"identifier\":\"{id}\"}}").into_bytes(),
            signature: [1; 64],
            key_id: "0123456789abcdef".into(),
        },
        first_event: Some(event(0)),
        import_key: import_key.map(str::to_string),
    }
}

fn event(seq: u32) -> SignedEvent {
    SignedEvent {
        seq,
        bytes: format!("{{\"seq\":{seq}}}").into_bytes(),
        signature: [2; 64],
        key_id: "0123456789abcdef".into(),
    }
}

fn request(id: &str) -> Option<RequestKey> {
    Some(RequestKey {
        caller: "dept".into(),
        request_id: id.into(),
    })
}

/// Uniqueness holds inside one batch as well as against what is stored, and a re-run
/// of the same batch writes nothing and leaves every index agreeing.
pub fn batch_checks_keys_numbers_and_identifiers(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let batch = || {
        vec![
            record("id-1", "N1", Some("k1")),
            record("id-2", "N1", Some("k2")), // same number as id-1
            record("id-3", "N3", Some("k1")), // same import key as id-1
            record("id-1", "N4", Some("k4")), // same identifier as id-1
            record("id-5", "N5", Some("k5")),
        ]
    };
    let first = store.insert_batch(batch()).wait().unwrap();
    assert_eq!(
        first.items,
        vec![
            BatchItem::Written,
            BatchItem::NumberTaken("id-1".into()),
            BatchItem::AlreadyPresent("id-1".into()),
            BatchItem::IdentifierTaken,
            BatchItem::Written,
        ]
    );
    let again = store.insert_batch(batch()).wait().unwrap();
    assert_eq!(again.items[0], BatchItem::AlreadyPresent("id-1".into()));
    assert_eq!(again.items[4], BatchItem::AlreadyPresent("id-5".into()));
    assert!(!again.items.contains(&BatchItem::Written));
    assert_eq!(all_identifiers(&*store), vec!["id-1", "id-5"]);
    assert_eq!(store.find_number(TYPE, "N1").unwrap().as_deref(), Some("id-1"));
    assert_eq!(store.find_number(TYPE, "N4").unwrap(), None);
    assert_eq!(all_entries(&*store, IndexName::Holder).len(), 2);
    assert_eq!(all_entries(&*store, IndexName::ImportKeys).len(), 2);
    let event = |id: &str| IndexKey::Event {
        identifier: id.into(),
        seq: 0,
    };
    assert_eq!(
        all_entries(&*store, IndexName::Events),
        vec![event("id-1"), event("id-5")]
    );
}

/// Importers writing batches at once (two `elicence import` runs, or processes on one
/// database) that overlap: each row is stored exactly once, and of two rows with one
/// number exactly one is stored and the other refused, whichever committed first.
pub fn concurrent_batches_store_each_row_once(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let row = |i: usize| record(&format!("id-{i:04}"), &format!("N{i}"), Some(&format!("k{i}")));
    let rival = |i: usize| record(&format!("rival-{i:04}"), &format!("N{i}"), Some(&format!("r{i}")));
    let run = |rows: Vec<NewRecord>| {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut items = Vec::new();
            for chunk in rows.chunks(50) {
                let ids: Vec<String> = chunk.iter().map(|r| r.identifier.clone()).collect();
                let out = store.insert_batch(chunk.to_vec()).wait().unwrap();
                items.extend(ids.into_iter().zip(out.items));
            }
            items
        })
    };
    // Two runs of the same 600 rows, and a third with rivals of every fourth row: other
    // identifiers and import keys, the same numbers. All three start together.
    let runs = [
        run((0..600).map(row).collect()),
        run((0..600).map(row).collect()),
        run((0..600).step_by(4).map(rival).collect()),
    ];
    let items: Vec<(String, BatchItem)> = runs.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let answers = |id: &str| -> Vec<String> {
        let mut a: Vec<String> = items
            .iter()
            .filter(|(x, _)| x == id)
            .map(|(_, it)| format!("{it:?}"))
            .collect();
        a.sort();
        a
    };

    let mut written: Vec<String> = items
        .iter()
        .filter(|(_, item)| *item == BatchItem::Written)
        .map(|(id, _)| id.clone())
        .collect();
    written.sort_unstable();
    let stored = all_identifiers(&*store);
    assert_eq!(written, stored, "what was answered Written is exactly what is stored");
    for i in 0..600 {
        let (id, rival) = (format!("id-{i:04}"), format!("rival-{i:04}"));
        let owner = store.find_number(TYPE, &format!("N{i}")).unwrap().unwrap();
        let taken = format!("NumberTaken({owner:?})");
        if owner == id {
            assert_eq!(
                answers(&id),
                [format!("AlreadyPresent({id:?})"), "Written".into()],
                "{id}"
            );
            if i % 4 == 0 {
                assert_eq!(answers(&rival), [taken], "{rival}");
            }
        } else {
            assert!(i % 4 == 0 && owner == rival, "N{i} belongs to {owner}");
            assert_eq!(answers(&id), [taken.clone(), taken], "{id}");
            assert_eq!(answers(&rival), ["Written"], "{rival}");
        }
    }
    assert_eq!(stored.len(), 600);
    assert_eq!(all_entries(&*store, IndexName::ImportKeys).len(), 600);
    assert_eq!(all_entries(&*store, IndexName::Events).len(), 600);
}

/// Records and every index read back in pages: in key order, each page continuing
/// after the last identifier or position of the one before, whatever its size; every
/// entry decodes to what was written and is found again by a point lookup.
pub fn records_and_indexes_read_in_pages(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.identifiers(None, 10).unwrap().is_empty(), "an empty store");
    for index in IndexName::ALL {
        assert!(store.index_page(index, None, 10).unwrap().is_empty(), "{index:?}");
    }
    for i in 0..5 {
        let n = format!("N{i}");
        store
            .insert(record(&format!("id-{i}"), &n, Some(&format!("k{i}"))), request(&n))
            .wait()
            .unwrap();
    }
    store.append_event("id-0", event(1), None).wait().unwrap();
    let ids: Vec<String> = (0..5).map(|i| format!("id-{i}")).collect();

    assert_eq!(store.identifiers(None, 2).unwrap(), ids[..2]);
    assert_eq!(store.identifiers(Some("id-1"), 2).unwrap(), ids[2..4]);
    assert_eq!(
        store.identifiers(Some("id-3"), 2).unwrap(),
        ids[4..],
        "a short last page"
    );
    assert_eq!(
        store.identifiers(Some("id-2"), 2).unwrap(),
        ids[3..],
        "a page exactly to the end"
    );
    assert!(store.identifiers(Some("id-4"), 2).unwrap().is_empty());
    assert!(store.identifiers(Some("zz"), 2).unwrap().is_empty(), "after the end");
    assert_eq!(store.identifiers(Some("id-1a"), 1).unwrap(), ids[2..3], "after a gap");
    assert!(store.identifiers(None, 0).unwrap().is_empty());
    for size in [1, 2, 5, 6] {
        let mut walked: Vec<String> = Vec::new();
        loop {
            let page = store.identifiers(walked.last().map(String::as_str), size).unwrap();
            assert!(page.len() <= size);
            if page.is_empty() {
                break;
            }
            walked.extend(page);
        }
        assert_eq!(walked, ids, "pages of {size}");
    }

    for index in IndexName::ALL {
        let all = store.index_page(index, None, 100).unwrap();
        let expected = if index == IndexName::Events { 6 } else { 5 };
        assert_eq!(all.len(), expected, "{index:?}");
        assert!(
            all.windows(2).all(|w| w[0].position < w[1].position),
            "{index:?} in order"
        );
        for size in [1, 2, expected] {
            let mut walked = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = store.index_page(index, after.as_deref(), size).unwrap();
                assert!(page.len() <= size);
                let Some(last) = page.last() else { break };
                after = Some(last.position.clone());
                walked.extend(page);
            }
            assert_eq!(walked, all, "{index:?} in pages of {size}");
        }
        let last = &all[expected - 1].position;
        assert!(store.index_page(index, Some(last), 10).unwrap().is_empty(), "{index:?}");
        let mut past = last.clone();
        past.push(0xff);
        assert!(
            store.index_page(index, Some(&past), 10).unwrap().is_empty(),
            "{index:?}"
        );
        for e in &all {
            assert_eq!(e.key.index(), index);
            assert!(store.has_index_key(&e.key).unwrap(), "{:?} is held", e.key);
        }
    }

    let entries = |index| all_entries(&*store, index);
    assert_eq!(
        entries(IndexName::Number)[0],
        IndexKey::Number {
            type_code: TYPE.into(),
            number: "N0".into(),
            identifier: "id-0".into()
        }
    );
    assert_eq!(
        entries(IndexName::Holder)[1],
        IndexKey::Holder {
            code_type: "001".into(),
            code: "91440300708461136T".into(),
            identifier: "id-1".into()
        }
    );
    assert_eq!(
        entries(IndexName::Type)[2],
        IndexKey::Type {
            type_code: TYPE.into(),
            issue_date: "2015-03-01".into(),
            identifier: "id-2".into()
        }
    );
    assert_eq!(
        entries(IndexName::Issuer)[3],
        IndexKey::Issuer {
            issuer_code: "11110000000021135M".into(),
            issue_date: "2015-03-01".into(),
            identifier: "id-3".into()
        }
    );
    assert_eq!(
        entries(IndexName::Events)[..2],
        [
            IndexKey::Event {
                identifier: "id-0".into(),
                seq: 0
            },
            IndexKey::Event {
                identifier: "id-0".into(),
                seq: 1
            }
        ]
    );
    assert_eq!(
        entries(IndexName::Requests)[4],
        IndexKey::Request {
            caller: "dept".into(),
            request_id: "N4".into(),
            identifier: "id-4".into()
        }
    );
    assert_eq!(
        entries(IndexName::ImportKeys)[0],
        IndexKey::ImportKey {
            key: "k0".into(),
            identifier: "id-0".into()
        }
    );

    // Point lookups: an entry not stored, or a pointer to another identifier, is not held.
    let absent = [
        IndexKey::Number {
            type_code: TYPE.into(),
            number: "N0".into(),
            identifier: "id-1".into(),
        },
        IndexKey::Number {
            type_code: TYPE.into(),
            number: "N9".into(),
            identifier: "id-0".into(),
        },
        IndexKey::Holder {
            code_type: "001".into(),
            code: "91440300708461136T".into(),
            identifier: "id-9".into(),
        },
        IndexKey::Type {
            type_code: TYPE.into(),
            issue_date: "2015-03-02".into(),
            identifier: "id-0".into(),
        },
        IndexKey::Issuer {
            issuer_code: "other".into(),
            issue_date: "2015-03-01".into(),
            identifier: "id-0".into(),
        },
        IndexKey::Event {
            identifier: "id-1".into(),
            seq: 1,
        },
        IndexKey::Request {
            caller: "dept".into(),
            request_id: "N0".into(),
            identifier: "id-1".into(),
        },
        IndexKey::ImportKey {
            key: "k9".into(),
            identifier: "id-0".into(),
        },
    ];
    for key in absent {
        assert!(!store.has_index_key(&key).unwrap(), "{key:?} is not held");
    }
}

/// A licence number is taken once per type; a request id replays its first result.
pub fn insert_is_unique_and_idempotent(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.insert(record("a", "N", None), request("r1")).wait().unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.insert(record("b", "M", None), request("r1")).wait().unwrap(),
        WriteOutcome::Replayed("a".into())
    );
    assert!(matches!(
        store.insert(record("c", "N", None), request("r2")).wait(),
        Err(StoreError::NumberTaken { identifier, .. }) if identifier == "a"
    ));
    assert_eq!(store.get("b").unwrap(), None, "a refused write leaves nothing");
    assert_eq!(store.replayed(&request("r2").unwrap()).unwrap(), None);
    assert_eq!(store.events("a").unwrap(), vec![event(0)]);
    assert_eq!(store.get("a").unwrap().unwrap().signature, [1; 64]);
}

/// Events continue the chain: the next seq only, never twice; a reissue moves the
/// number to the new version in one write.
pub fn events_chain_and_reissue(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.insert(record("v1", "N", None), None).wait().unwrap();
    assert!(matches!(
        store.append_event("v1", event(2), None).wait(),
        Err(StoreError::Conflict(_))
    ));
    store.append_event("v1", event(1), request("e1")).wait().unwrap();
    assert!(matches!(
        store.append_event("v1", event(1), None).wait(),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.append_event("v1", event(9), request("e1")).wait().unwrap(),
        WriteOutcome::Replayed("v1".into())
    );
    let mut v2 = record("v2", "N", None);
    v2.first_event = Some(event(0));
    store.reissue("v1", event(2), v2.clone(), request("re")).wait().unwrap();
    assert_eq!(store.find_number(TYPE, "N").unwrap().as_deref(), Some("v2"));
    assert_eq!(store.events("v1").unwrap().len(), 3);
    // The number no longer points at v1: reissuing it again conflicts.
    let mut v3 = record("v3", "N", None);
    v3.first_event = Some(event(0));
    assert!(matches!(
        store.reissue("v1", event(3), v3, None).wait(),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get("v3").unwrap(), None);
}

/// Index queries page in key order; each identifier comes with its position, and a
/// query after a position continues with the next entry.
pub fn queries_page_by_position(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..7 {
        store
            .insert(record(&format!("id-{i}"), &format!("N{i}"), None), None)
            .wait()
            .unwrap();
    }
    let holder = IndexQuery::Holder {
        code_type: "001".into(),
        code: "91440300708461136T".into(),
    };
    let first = store.query(&holder, None, 3).unwrap();
    assert_eq!(first.identifiers, vec!["id-0", "id-1", "id-2"]);
    assert_eq!(first.positions.len(), 3);
    let next = store.query(&holder, Some(&first.positions[1]), 3).unwrap();
    assert_eq!(next.identifiers, vec!["id-2", "id-3", "id-4"]);
    let all = store.query(&holder, None, 100).unwrap();
    assert_eq!(all.identifiers.len(), 7);
    assert!(all.next.is_none());
    let by_type = IndexQuery::Type {
        type_code: TYPE.into(),
        from: "2015-01-01".into(),
        to: "2015-03-01".into(),
    };
    assert_eq!(store.query(&by_type, None, 100).unwrap().identifiers.len(), 7);
    let none = IndexQuery::Issuer {
        issuer_code: "11110000000021135M".into(),
        from: "2016-01-01".into(),
        to: "2016-12-31".into(),
    };
    assert!(store.query(&none, None, 100).unwrap().identifiers.is_empty());
}

/// Audit entries are written once per seq; templates count versions up; serials never
/// repeat, across a reopen too.
pub fn audit_templates_and_sequence(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::HashSet::new();
    {
        let store = open(dir.path());
        // The writer numbers and links entries: each seal gets the link after the last.
        assert_eq!(store.append_audit(test_seal("first")).wait().unwrap(), 0);
        // A seal that ignores its link is refused and the chain stays where it was.
        let stale: AuditSeal = Box::new(|link: &AuditLink| {
            let mut e = test_seal("stale")(link);
            e.seq = 0;
            e
        });
        assert!(matches!(store.append_audit(stale).wait(), Err(StoreError::Conflict(_))));
        assert_eq!(store.append_audit(test_seal("second")).wait().unwrap(), 1);
        let entries = store.audit_range(0, 10).unwrap();
        assert_eq!(entries.len(), 2);
        let second = AuditEntry::from_canonical(&entries[1].bytes).unwrap();
        assert_eq!(second.method, "second");
        assert_eq!(
            second.prev_digest,
            hex::encode(crate::licence::signing::digest(&entries[0].bytes))
        );
        assert_eq!(store.last_audit().unwrap().unwrap().seq, 1);
        assert_eq!(store.audit_range(1, 10).unwrap().len(), 1);
        let t = StoredTemplate {
            id: "layout".into(),
            version: 0,
            text: "v".into(),
            put_by: "built-in".into(),
            put_at: "2026-12-01T00:00:00Z".into(),
        };
        assert_eq!(store.put_template(t.clone()).wait().unwrap(), 1);
        assert_eq!(store.put_template(t.clone()).wait().unwrap(), 2);
        assert_eq!(store.get_template("layout", None).unwrap().unwrap().version, 2);
        assert_eq!(store.latest_templates().unwrap().len(), 1);
        for _ in 0..2500 {
            assert!(seen.insert(store.next_sequence().unwrap()));
        }
        store.flush().unwrap();
    }
    let store = open(dir.path());
    for _ in 0..10 {
        assert!(
            seen.insert(store.next_sequence().unwrap()),
            "a serial came back after reopen"
        );
    }
    assert_eq!(store.last_audit().unwrap().unwrap().seq, 1);
    // After a reopen the chain continues from the stored end.
    assert_eq!(store.append_audit(test_seal("third")).wait().unwrap(), 2);
    let third = store.last_audit().unwrap().unwrap();
    let before = &store.audit_range(1, 1).unwrap()[0];
    assert_eq!(
        AuditEntry::from_canonical(&third.bytes).unwrap().prev_digest,
        hex::encode(crate::licence::signing::digest(&before.bytes))
    );
}

/// Writes queued together are checked against each other as well as against the store:
/// of many writes that only one may win, exactly one does, whatever the grouping; a
/// refused write leaves the others of its group written.
pub fn queued_writes_are_checked_against_each_other(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Eight writers of each number, all queued before any answer is read.
    let mut pending = Vec::new();
    for n in 0..40 {
        for w in 0..8 {
            pending.push((
                n,
                store.insert(record(&format!("id-{n}-{w}"), &format!("N{n}"), None), None),
            ));
        }
    }
    let mut won = std::collections::HashMap::new();
    for (n, p) in pending {
        match p.wait() {
            Ok(WriteOutcome::Written) => *won.entry(n).or_insert(0) += 1,
            Err(StoreError::NumberTaken { .. }) => {}
            other => panic!("number {n}: {other:?}"),
        }
    }
    assert!((0..40).all(|n| won.get(&n) == Some(&1)), "{won:?}");

    // One request id, eight different records: one is written, the rest replay it.
    let answers: Vec<_> = (0..8)
        .map(|w| store.insert(record(&format!("req-{w}"), &format!("R{w}"), None), request("same")))
        .collect();
    let answers: Vec<_> = answers.into_iter().map(|p| p.wait().unwrap()).collect();
    let written = answers.iter().filter(|a| **a == WriteOutcome::Written).count();
    assert_eq!(written, 1, "{answers:?}");
    let first = answers.iter().position(|a| *a == WriteOutcome::Written).unwrap();
    let replayed = WriteOutcome::Replayed(format!("req-{first}"));
    assert!(
        answers.iter().all(|a| *a == WriteOutcome::Written || *a == replayed),
        "{answers:?}"
    );
    assert_eq!(
        store.find_number(TYPE, &format!("R{first}")).unwrap(),
        Some(format!("req-{first}"))
    );
    let others = (0..8).filter(|w| *w != first);
    for w in others {
        assert_eq!(store.get(&format!("req-{w}")).unwrap(), None);
    }

    // Eight appends of the same next event: one continues the chain. (Which writer of
    // N0 won is the backend's business: a database runs them concurrently.)
    let winner = store.find_number(TYPE, "N0").unwrap().expect("N0 written");
    let appends: Vec<_> = (0..8).map(|_| store.append_event(&winner, event(1), None)).collect();
    let ok = appends
        .into_iter()
        .map(|p| p.wait())
        .filter(|r| match r {
            Ok(_) => true,
            Err(StoreError::Conflict(_)) => false,
            other => panic!("{other:?}"),
        })
        .count();
    assert_eq!(ok, 1);
    assert_eq!(store.events(&winner).unwrap().len(), 2);

    // Audit entries queued together are numbered and linked in one order.
    let seals: Vec<_> = (0..200).map(|_| store.append_audit(test_seal("queued"))).collect();
    let mut seqs: Vec<u64> = seals.into_iter().map(|p| p.wait().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    let entries = store.audit_range(0, 1000).unwrap();
    for pair in entries.windows(2) {
        let next = AuditEntry::from_canonical(&pair[1].bytes).unwrap();
        assert_eq!(
            next.prev_digest,
            hex::encode(crate::licence::signing::digest(&pair[0].bytes))
        );
    }
}

/// Waits until the log has `n` leaves (a backend may position queued leaves moments
/// after their commit), and fails past ten seconds.
pub fn wait_for_log(store: &dyn Store, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let size = store.log_size().unwrap();
        assert!(size <= n, "the log has {size} leaves, more than the {n} written");
        if size == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log has {size} of {n} leaves after 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The leaf every stored record, event and audit entry should have, by key.
fn expected_leaves(store: &dyn Store) -> std::collections::HashMap<crate::tlog::LeafKey, Vec<u8>> {
    use crate::tlog::Leaf;
    let mut want = std::collections::HashMap::new();
    for id in all_identifiers(store) {
        let (record, events) = store.load(&id).unwrap().unwrap();
        let l = Leaf::record(&id, &record);
        want.insert(l.key.clone(), l.entry());
        for e in &events {
            let l = Leaf::event(&id, e);
            want.insert(l.key.clone(), l.entry());
        }
    }
    for a in store.audit_range(0, 100_000).unwrap() {
        let l = Leaf::audit(&a);
        want.insert(l.key.clone(), l.entry());
    }
    want
}

/// Every record, event and audit entry written is a leaf of the log, with its position
/// indexed; refused writes add none; roots and proofs read from the store agree with a
/// tree rebuilt from the entries; checkpoints are kept (the first of a size); and a
/// reopened store extends the same tree.
pub fn transparency_log_logs_every_entry(open: Open) {
    use crate::tlog::{tree, Leaf};
    let dir = tempfile::tempdir().unwrap();
    let old_root;
    {
        let store = open(dir.path());
        assert_eq!(store.log_size().unwrap(), 0);
        assert_eq!(store.latest_checkpoint().unwrap(), None);
        store.insert(record("id-1", "N1", None), request("r1")).wait().unwrap();
        store.append_event("id-1", event(1), None).wait().unwrap();
        // Refused: the number is taken, and the event does not follow. No leaf.
        assert!(store.insert(record("id-9", "N1", None), None).wait().is_err());
        assert!(store.append_event("id-1", event(5), None).wait().is_err());
        // A replayed request writes nothing either.
        store.insert(record("id-1", "N1", None), request("r1")).wait().unwrap();
        store
            .reissue("id-1", event(2), record("id-2", "N1", None), None)
            .wait()
            .unwrap();
        store
            .insert_batch(vec![record("id-3", "N3", Some("k3")), record("id-4", "N4", Some("k4"))])
            .wait()
            .unwrap();
        store.append_audit(crate::audit::test_seal("a")).wait().unwrap();
        store.append_audit(crate::audit::test_seal("b")).wait().unwrap();
        // id-1: record, events 0 and 1 and 2; id-2, id-3, id-4: record and event 0; two audits.
        let n = 4 + 6 + 2;
        wait_for_log(&*store, n);
        let entries = store.log_entries(0, 100).unwrap();
        assert_eq!(entries.len() as u64, n);
        let want = expected_leaves(&*store);
        assert_eq!(want.len() as u64, n);
        let mut rebuilt = tree::MemoryHashes::default();
        for (i, e) in entries.iter().enumerate() {
            let leaf = Leaf::parse(e).unwrap();
            assert_eq!(want.get(&leaf.key), Some(e), "leaf {i} logs what is stored");
            assert_eq!(store.log_position(&leaf.key).unwrap(), Some(i as u64));
            rebuilt.push(leaf.hash());
        }
        let stored = super::LogHashes(&*store);
        for size in 0..=n {
            assert_eq!(tree::root(size, &stored).unwrap(), tree::root(size, &rebuilt).unwrap());
        }
        let root = tree::root(n, &stored).unwrap();
        for (i, e) in entries.iter().enumerate() {
            let p = tree::inclusion(n, i as u64, &stored).unwrap();
            p.verify(&crate::tlog::leaf::leaf_hash(e), &root).unwrap();
        }
        assert_eq!(
            store
                .log_position(&crate::tlog::LeafKey::Record("id-9".into()))
                .unwrap(),
            None
        );
        assert!(store.log_entries(n, 10).unwrap().is_empty());
        // Checkpoints: all kept, the first of a size stays.
        store.put_checkpoint(3, b"three".to_vec()).wait().unwrap();
        store.put_checkpoint(3, b"three again".to_vec()).wait().unwrap();
        store.put_checkpoint(n, b"all".to_vec()).wait().unwrap();
        assert_eq!(store.latest_checkpoint().unwrap(), Some((n, b"all".to_vec())));
        assert_eq!(
            store.checkpoints(0, 10).unwrap(),
            vec![(3, b"three".to_vec()), (n, b"all".to_vec())]
        );
        assert_eq!(store.checkpoints(4, 10).unwrap(), vec![(n, b"all".to_vec())]);
        old_root = (n, root);
    }
    // Reopened, the store extends the same tree.
    let store = open(dir.path());
    assert_eq!(store.log_size().unwrap(), old_root.0);
    store.insert(record("id-5", "N5", None), None).wait().unwrap();
    let n = old_root.0 + 2;
    wait_for_log(&*store, n);
    let stored = super::LogHashes(&*store);
    let root = tree::root(n, &stored).unwrap();
    tree::consistency(old_root.0, n, &stored)
        .unwrap()
        .verify(&old_root.1, &root)
        .unwrap();
    assert_eq!(expected_leaves(&*store).len() as u64, n);
}

/// Writers at once (and, on a shared database, processes at once): every entry gets
/// exactly one leaf, positions run without a gap, and the tree adds up.
pub fn concurrent_writes_get_one_leaf_each(open: Open) {
    use crate::tlog::{tree, Leaf};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (mut inserts, mut audits) = (Vec::new(), Vec::new());
    for i in 0..100 {
        inserts.push(store.insert(record(&format!("id-{i:03}"), &format!("N{i}"), None), None));
        audits.push(store.append_audit(crate::audit::test_seal("x")));
    }
    for p in inserts {
        p.wait().unwrap();
    }
    for p in audits {
        p.wait().unwrap();
    }
    wait_for_log(&*store, 300);
    let entries = store.log_entries(0, 1000).unwrap();
    let want = expected_leaves(&*store);
    let mut seen = std::collections::HashSet::new();
    let mut rebuilt = tree::MemoryHashes::default();
    for e in &entries {
        let leaf = Leaf::parse(e).unwrap();
        assert_eq!(want.get(&leaf.key), Some(e));
        assert!(seen.insert(leaf.key.clone()), "one leaf per entry");
        rebuilt.push(leaf.hash());
    }
    assert_eq!(seen.len(), want.len());
    assert_eq!(
        tree::root(300, &super::LogHashes(&*store)).unwrap(),
        tree::root(300, &rebuilt).unwrap()
    );
}

/// Runs the log's tests against a backend that has the transparency log (every backend
/// but sled, which is kept only to convert old data directories).
#[macro_export]
#[doc(hidden)]
macro_rules! log_conformance {
    ($name:ident, $open:expr) => {
        $crate::log_conformance!($name, $open, skip_unless = || true);
    };
    ($name:ident, $open:expr, skip_unless = $available:expr) => {
        mod $name {
            use $crate::store::conformance as c;
            $crate::store_conformance!(@tests $open, $available;
                transparency_log_logs_every_entry,
                concurrent_writes_get_one_leaf_each,
            );
        }
    };
}

/// Runs the suite against a backend: `store_conformance!(module_name, open_fn);`, or
/// `store_conformance!(module_name, open_fn, skip_unless = available_fn)` for a backend
/// that needs something the machine may lack (each test returns early when it answers
/// `false`).
#[macro_export]
#[doc(hidden)]
macro_rules! store_conformance {
    ($name:ident, $open:expr) => {
        $crate::store_conformance!($name, $open, skip_unless = || true);
    };
    ($name:ident, $open:expr, skip_unless = $available:expr) => {
        mod $name {
            use $crate::store::conformance as c;
            $crate::store_conformance!(@tests $open, $available;
                batch_checks_keys_numbers_and_identifiers,
                concurrent_batches_store_each_row_once,
                records_and_indexes_read_in_pages,
                insert_is_unique_and_idempotent,
                events_chain_and_reissue,
                queries_page_by_position,
                audit_templates_and_sequence,
                queued_writes_are_checked_against_each_other,
            );
        }
    };
    (@tests $open:expr, $available:expr; $($test:ident,)*) => {
        $(
            #[test]
            fn $test() {
                if ($available)() {
                    c::$test($open);
                }
            }
        )*
    };
}
