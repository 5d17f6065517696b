//! TemplateService over gRPC: versioned layouts, validated before they are stored, and
//! rendering that follows the current version without changing any issued licence.

use elicence::api::pb::{GetTemplateRequest, ListTemplatesRequest, PutTemplateRequest, RenderLicencePdfRequest};
use tonic::Code;

use crate::common::*;
use crate::pdf;

const LAYOUT: &str = include_str!("../../templates/layouts/business-licence.toml");

async fn put(
    server: &TestServer,
    token: &str,
    toml: String,
) -> Result<elicence::api::pb::TemplateVersion, tonic::Status> {
    server
        .templates()
        .put_template(authed(token, PutTemplateRequest { toml }))
        .await
        .map(|r| r.into_inner())
}

async fn current(server: &TestServer, id: &str) -> elicence::api::pb::TemplateVersion {
    server
        .templates()
        .get_template(authed(
            ZJJ,
            GetTemplateRequest {
                id: id.into(),
                version: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn built_in_layouts_are_listed_at_version_one() {
    let server = spawn_server().await;
    let list = server
        .templates()
        .list_templates(authed(ZJJ, ListTemplatesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .templates;
    let files = std::fs::read_dir(format!("{ROOT}/templates/layouts")).unwrap().count();
    assert_eq!(list.len(), files);
    for t in &list {
        assert_eq!((t.version, t.put_by.as_str()), (1, "built-in"), "{}", t.id);
        assert!(t.page.starts_with("A4") || t.page.starts_with("A3"), "{}", t.page);
    }
    let e = server
        .templates()
        .list_templates(tonic::Request::new(ListTemplatesRequest {}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_bad_template_is_refused_with_the_reason_and_nothing_is_stored() {
    let server = spawn_server().await;
    let cases = [
        // The seal moved off the page.
        (LAYOUT.replacen("[seal]\nx_mm = 238", "[seal]\nx_mm = 400", 1), "seal"),
        // A field the business licence does not have.
        (
            LAYOUT.replacen("source = \"fields.经营范围\"", "source = \"fields.注册地址\"", 1),
            "注册地址",
        ),
        // A title the font cannot draw (U+1F600).
        (
            LAYOUT.replacen("[title]\n", "[title]\ntext = \"营业执照😀\"\n", 1),
            "U+1F600",
        ),
        (
            "id = \"business-licence\"\nname = \"x\"\npage = \"A4\"".to_string(),
            "toml",
        ),
        (String::new(), "toml"),
    ];
    for (toml, reason) in cases {
        assert_ne!(toml, LAYOUT, "the case must change the layout");
        let e = put(&server, ZWFW, toml).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{reason}: {e:?}");
        assert!(
            e.message().contains("toml") && e.message().contains(reason),
            "{reason}: {}",
            e.message()
        );
    }
    let e = put(&server, SCJGJ, LAYOUT.to_string()).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(current(&server, "business-licence").await.version, 1);
}

#[tokio::test]
async fn a_new_version_changes_the_document_but_never_the_licence() {
    let server = spawn_server().await;
    let id = issue_id(&server, "tpl-1", business_licence("91420800MA4F0010X1")).await;
    let render = |server: &TestServer| {
        let mut docs = server.documents();
        let id = id.clone();
        async move {
            let req = RenderLicencePdfRequest {
                identifier: id,
                use_cause: "档案核对".into(),
                ..Default::default()
            };
            pdf::collect(docs.render_licence_pdf(authed(SCJGJ, req)).await.unwrap().into_inner()).await
        }
    };
    let (before, _) = render(&server).await;

    let changed = LAYOUT.replacen("[title]\n", "[title]\ntext = \"营业执照（电子）\"\n", 1);
    let v2 = put(&server, ZWFW, changed.clone()).await.unwrap();
    assert_eq!(
        (v2.id.as_str(), v2.version, v2.put_by.as_str()),
        ("business-licence", 2, "zwfw")
    );
    assert_eq!(v2.toml, changed);

    let (after, bytes) = render(&server).await;
    assert_eq!(after.template_version, 2);
    let dir = tempfile::tempdir().unwrap();
    assert!(pdf::text(dir.path(), &bytes).contains("营业执照（电子）"));
    // Identifier, record digest and the licence's signature are what they were.
    assert_eq!(after.identifier, before.identifier);
    assert_eq!(after.record_digest, before.record_digest);

    // Version 1 is kept as it was.
    let v1 = server
        .templates()
        .get_template(authed(
            ZJJ,
            GetTemplateRequest {
                id: "business-licence".into(),
                version: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.toml, LAYOUT);
    let e = server
        .templates()
        .get_template(authed(
            ZJJ,
            GetTemplateRequest {
                id: "business-licence".into(),
                version: 3,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}
