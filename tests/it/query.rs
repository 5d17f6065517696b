//! Queries and field checks: holder, issuer and type look-ups, paging across pages with
//! concurrent inserts, page tokens, the use cause, read permissions, and 核验.

use elicence::api::pb::query_licences_request::Selector;
use elicence::api::pb::{
    FieldMatch, GetLicenceHistoryRequest, GetLicenceRequest, HolderSelector, IssuerSelector, PresentedField,
    QueryLicencesRequest, QueryLicencesResponse, TypeSelector, VerifyLicenceFieldsRequest,
};
use prost::Message;
use tonic::{Code, Status};

use crate::common::*;
use crate::lifecycle::amend_holder_name;

const COMPANY: &str = "91440300708461136T";

fn holder(code_type: &str, code: &str, licence_type: &str, number: &str) -> Option<Selector> {
    Some(Selector::Holder(HolderSelector {
        holder_code_type: code_type.into(),
        holder_code: code.into(),
        licence_type_code: licence_type.into(),
        licence_number: number.into(),
    }))
}

fn company() -> Option<Selector> {
    holder("001", COMPANY, "", "")
}

async fn query(
    server: &TestServer,
    token: &str,
    selector: Option<Selector>,
    page_size: u32,
    page_token: &str,
) -> Result<QueryLicencesResponse, Status> {
    server
        .licences()
        .query_licences(authed(
            token,
            QueryLicencesRequest {
                selector,
                use_cause: "企业开办联办核查".into(),
                page_size,
                page_token: page_token.into(),
                include_superseded: false,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn ids(r: &QueryLicencesResponse) -> Vec<String> {
    r.results
        .iter()
        .map(|r| r.licence.as_ref().unwrap().identifier.clone())
        .collect()
}

#[tokio::test]
async fn holder_query_pages_stably_across_concurrent_inserts() {
    let server = spawn_server().await;
    let mut issued = Vec::new();
    for i in 0..7 {
        issued.push(issue_id(&server, &format!("q-{i}"), business_licence(&format!("Q-{i}"))).await);
    }
    // Someone else's licence must never show up.
    let mut other = business_licence("Q-OTHER");
    other.holder_code = "11420800MB1A234561".into();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = query(&server, ZJJ, company(), 3, &token).await.unwrap();
        assert!(page.results.len() <= 3);
        seen.extend(ids(&page));
        pages += 1;
        // Inserts between pages: later ones sort after, and nothing repeats or is skipped.
        if pages == 1 {
            issue_id(&server, "q-late-1", business_licence("Q-LATE-1")).await;
            let _ = issue(&server, "q-other", other.clone()).await;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "stable order, no duplicates");
    for id in &issued {
        assert!(seen.contains(id), "{id} was skipped");
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(pages >= 3);
    for r in query(&server, ZJJ, company(), 0, "").await.unwrap().results {
        assert_eq!(r.licence.unwrap().holder_code, COMPANY);
    }
    server.stop().await;
}

#[tokio::test]
async fn holder_query_shows_only_readable_types() {
    let server = spawn_server().await;
    let business = issue_id(&server, "r-1", business_licence("R-1")).await;
    let mut permit = food_permit_for_person("R-2");
    permit.holder_code = COMPANY.into();
    permit.holder_code_type = "001".into();
    permit.holder_name = "荆门市楚韵食品有限公司".into();
    let permit = issue_id(&server, "r-2", permit).await;

    let all = query(&server, SCJGJ, company(), 0, "").await.unwrap();
    let mut both = vec![business.clone(), permit.clone()];
    both.sort();
    assert_eq!(ids(&all), both);
    // 住建局 may read business licences only: the permit is left out...
    let zjj = query(&server, ZJJ, company(), 0, "").await.unwrap();
    assert_eq!(ids(&zjj), vec![business.clone()]);
    // ...and naming the permit's type is refused outright.
    let e = query(&server, ZJJ, holder("001", COMPANY, FOOD_PERMIT, ""), 0, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = query(
        &server,
        RSJ,
        Some(Selector::LicenceType(TypeSelector {
            licence_type_code: BUSINESS_LICENCE.into(),
            ..Default::default()
        })),
        0,
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // A department reading none of them sees nothing, not an error.
    assert!(query(&server, RSJ, company(), 0, "").await.unwrap().results.is_empty());

    // Holder + type + number goes straight through the number index.
    let one = query(&server, ZJJ, holder("001", COMPANY, BUSINESS_LICENCE, "R-1"), 0, "")
        .await
        .unwrap();
    assert_eq!(ids(&one), vec![business.clone()]);
    let none = query(
        &server,
        ZJJ,
        holder("001", "11420800MB1A234561", BUSINESS_LICENCE, "R-1"),
        0,
        "",
    )
    .await
    .unwrap();
    assert!(none.results.is_empty(), "number of another holder");
    server.stop().await;
}

#[tokio::test]
async fn superseded_versions_only_when_asked() {
    let server = spawn_server().await;
    let v1 = issue_id(&server, "s-1", business_licence("S-1")).await;
    let v2 = amend_holder_name(&server, SCJGJ, &v1, "s-2", "新名称")
        .await
        .unwrap()
        .identifier;
    assert_eq!(
        ids(&query(&server, ZJJ, company(), 0, "").await.unwrap()),
        vec![v2.clone()]
    );
    for selector in [company(), holder("001", COMPANY, BUSINESS_LICENCE, "S-1")] {
        let all = server
            .licences()
            .query_licences(authed(
                ZJJ,
                QueryLicencesRequest {
                    selector,
                    use_cause: "历史版本".into(),
                    include_superseded: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ids(&all), vec![v1.clone(), v2.clone()]);
    }
    server.stop().await;
}

#[tokio::test]
async fn type_and_issuer_queries_use_issue_date_ranges() {
    let server = spawn_server().await;
    let mut by_date = Vec::new();
    for (i, date) in ["2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10"]
        .iter()
        .enumerate()
    {
        let mut l = business_licence(&format!("D-{i}"));
        l.issue_date = (*date).into();
        by_date.push(issue_id(&server, &format!("d-{i}"), l).await);
    }
    let range = |from: &str, to: &str| {
        Some(Selector::LicenceType(TypeSelector {
            licence_type_code: BUSINESS_LICENCE.into(),
            issue_date_from: from.into(),
            issue_date_to: to.into(),
        }))
    };
    let r = query(&server, ZJJ, range("2026-02-10", "2026-03-10"), 0, "")
        .await
        .unwrap();
    assert_eq!(ids(&r), by_date[1..3].to_vec(), "inclusive bounds, date order");
    let r = query(&server, ZJJ, range("", "2026-01-31"), 0, "").await.unwrap();
    assert_eq!(ids(&r), by_date[..1].to_vec());
    let e = query(&server, ZJJ, range("2026-13-01", ""), 0, "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("issue_date_from"), "{}", e.message());

    let issuer = Some(Selector::Issuer(IssuerSelector {
        issuer_code: SCJGJ_CODE.into(),
        issue_date_from: "2026-03-01".into(),
        issue_date_to: String::new(),
    }));
    let r = query(&server, ZWFW, issuer.clone(), 0, "").await.unwrap();
    assert_eq!(ids(&r), by_date[2..].to_vec());
    assert!(query(&server, RSJ, issuer, 0, "").await.unwrap().results.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn page_tokens_are_checked() {
    let server = spawn_server().await;
    for i in 0..3 {
        issue_id(&server, &format!("t-{i}"), business_licence(&format!("T-{i}"))).await;
    }
    let first = query(&server, ZJJ, company(), 1, "").await.unwrap();
    assert_eq!(first.results.len(), 1);
    assert!(!first.next_page_token.is_empty());
    for bad in ["garbage!", "AAAAAAAAAAAAAAAAAAAA"] {
        let e = query(&server, ZJJ, company(), 1, bad).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("page_token"), "{}", e.message());
    }
    // A token belongs to its query.
    let other = holder("001", "11420800MB1A234561", "", "");
    let e = query(&server, ZJJ, other, 1, &first.next_page_token).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = query(&server, ZJJ, None, 1, "").await.unwrap_err();
    assert!(e.message().contains("selector"), "{}", e.message());
    let e = query(&server, ZJJ, holder("001", "91440300708461136A", "", ""), 1, "")
        .await
        .unwrap_err();
    assert!(e.message().contains("holder.holder_code"), "{}", e.message());
    server.stop().await;
}

#[tokio::test]
async fn use_cause_is_required_on_every_read() {
    let server = spawn_server().await;
    let id = issue_id(&server, "u-1", business_licence("U-1")).await;
    let long = "因".repeat(201);
    for cause in ["", "   ", long.as_str()] {
        let mut c = server.licences();
        let errors = [
            c.get_licence(authed(
                ZJJ,
                GetLicenceRequest {
                    identifier: id.clone(),
                    use_cause: cause.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
            c.get_licence_history(authed(
                ZJJ,
                GetLicenceHistoryRequest {
                    identifier: id.clone(),
                    use_cause: cause.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
            c.query_licences(authed(
                ZJJ,
                QueryLicencesRequest {
                    selector: company(),
                    use_cause: cause.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
            c.verify_licence_fields(authed(
                ZJJ,
                VerifyLicenceFieldsRequest {
                    identifier: id.clone(),
                    use_cause: cause.into(),
                    fields: vec![PresentedField {
                        name: "holder_name".into(),
                        value: "x".into(),
                    }],
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ()),
        ];
        for e in errors {
            let e = e.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
            assert!(e.message().starts_with("use_cause"), "{}", e.message());
        }
    }
    let ok = "因".repeat(200);
    query(&server, ZJJ, company(), 0, "").await.unwrap();
    server
        .licences()
        .get_licence(authed(
            ZJJ,
            GetLicenceRequest {
                identifier: id,
                use_cause: ok,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn field_check_answers_per_field_without_revealing_values() {
    let server = spawn_server().await;
    let id = issue_id(&server, "f-1", food_permit_for_person("F-1")).await;
    let presented = [
        ("holder_name", "张小明"),
        ("holder_code", "420802199001011235"),
        ("licence_number", "F-1"),
        ("valid_from", "2026-01-01"),
        ("valid_until", "2031-12-31"),
        ("issuer_name", "荆门市市场监督管理局"),
        ("经营项目", "预包装食品销售"),
        ("注册资本", "100万元"),
    ];
    let check = |token: &'static str, id: String| {
        let mut c = server.licences();
        let fields = presented
            .iter()
            .map(|(n, v)| PresentedField {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect();
        async move {
            c.verify_licence_fields(authed(
                token,
                VerifyLicenceFieldsRequest {
                    identifier: id,
                    use_cause: "办理业务核验".into(),
                    fields,
                    ..Default::default()
                },
            ))
            .await
        }
    };
    let r = check(SCJGJ, id.clone()).await.unwrap().into_inner();
    assert!(r.authentic);
    let results: Vec<(String, FieldMatch)> = r
        .checks
        .iter()
        .map(|c| (c.name.clone(), FieldMatch::try_from(c.result).unwrap()))
        .collect();
    use FieldMatch::*;
    let expected = [Match, Mismatch, Match, Match, Mismatch, Match, Match, NotPresent];
    for ((name, got), want) in results.iter().zip(expected) {
        assert_eq!(*got, want, "{name}");
    }
    // Nothing of the stored record beyond what was presented comes back.
    let bytes = r.encode_to_vec();
    for stored in ["420802199001011234", "2030-12-31", "张小明"] {
        assert!(
            !bytes.windows(stored.len()).any(|w| w == stored.as_bytes()),
            "{stored} leaked"
        );
    }
    // Only departments that may read the type may check it.
    assert_eq!(check(RSJ, id).await.unwrap_err().code(), Code::PermissionDenied);
    server.stop().await;
}
