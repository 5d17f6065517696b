//! End-to-end rendering tests: every built-in template with realistic data, checked with
//! poppler (`pdftotext -raw`, `pdffonts`, `pdfinfo`, `pdftoppm`) and zbar (`zbarimg`). These
//! tools are required (Debian `poppler-utils zbar-tools`); a missing tool fails the test.
//! Set `ELICENCE_RENDER_OUT=<dir>` to keep the rendered PDFs for inspection.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::catalog::LicenceType;
use crate::licence::qr::tests::{example_licence, example_ring};
use crate::licence::qr::QrPayload;
use crate::licence::{Field, KeyRing, Licence};

use super::test_support::font;
use super::{extract_qr_payload, load_dir, CopyMark, RenderError, Renderer, Template};

const SCOPE: &str = "许可项目：食品经营；第二类增值电信业务；互联网信息服务；道路货物运输（不含危险货物）。\
（依法须经批准的项目，经相关部门批准后方可开展经营活动，具体经营项目以相关部门批准文件或许可证件为准）\
一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；信息系统集成服务；\
计算机系统服务；数据处理和存储支持服务；办公用品销售；日用百货销售；五金产品零售；电子产品销售；\
家用电器销售；服装服饰零售；鞋帽零售；针纺织品销售；化妆品零售；个人卫生用品销售；农副产品销售；\
食用农产品零售；初级农产品收购；会议及展览服务；企业管理咨询；市场营销策划；广告设计、代理；\
广告制作；广告发布；组织文化艺术交流活动；礼仪服务；普通货物仓储服务（不含危险化学品等需许可审批的项目）；\
国内货物运输代理；装卸搬运。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）";

fn builtin_templates() -> Vec<Template> {
    load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/layouts"))).unwrap()
}

fn builtin_types() -> Vec<LicenceType> {
    crate::catalog::types::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog"))).unwrap()
}

fn business_type() -> LicenceType {
    builtin_types()
        .into_iter()
        .find(|t| t.template_id == "business-licence")
        .unwrap()
}

fn renderer() -> Renderer {
    Renderer::with_font(font())
}

/// A realistic value for each type-specific field.
fn field_value(name: &str) -> String {
    match name {
        "经营范围" | "经营项目" => SCOPE.to_string(),
        "诊疗科目" => {
            "预防保健科；内科；外科；妇产科；儿科；眼科；耳鼻咽喉科；口腔科；皮肤科；医学检验科；医学影像科；中医科"
                .into()
        }
        "执业范围" => "内科专业".into(),
        "执业类别" => "临床".into(),
        "性别" => "男".into(),
        "出生日期" => "1988年6月12日".into(),
        "执业地点" | "主要执业机构" => "荆门市第一人民医院".into(),
        "类型" => "有限责任公司（自然人投资或控股）".into(),
        "注册资本" => "伍佰万元整".into(),
        "成立日期" => "2019年4月18日".into(),
        "合同价格" => "12850.36万元".into(),
        "合同工期" => "540日历天".into(),
        "建设规模" => "总建筑面积38652.17平方米，地上18层，地下2层".into(),
        "投诉举报电话" => "12315".into(),
        "床位" => "120张".into(),
        "经济类型" | "所有制形式" => "民营".into(),
        n if n.contains("地址") || n == "住所" || n == "经营场所" => {
            "湖北省荆门市掇刀区白庙街道培公大道188号喆堃大厦12楼".into()
        }
        n if n.contains("单位") || n.contains("机构") => "湖北长江建设工程有限公司".into(),
        n if n.contains("负责人") || n.contains("代表人") => "王堃".into(),
        n if n.contains("名称") => "荆门市中心城区综合管廊二期工程".into(),
        _ => "经营".into(),
    }
}

/// A signed licence of `ty` with realistic data; persons get the rare name 李堃喆.
fn licence_of(ty: &LicenceType, ring: &KeyRing) -> Licence {
    let mut l = example_licence(ring);
    l.licence_type_code = ty.code.clone();
    l.licence_name = ty.name.clone();
    l.licence_number = "JY14208020012345".into();
    if ty.holder_category == crate::catalog::HolderCategory::NaturalPerson {
        l.holder_name = "李堃喆".into();
        l.holder_code_type = "111".into();
        l.holder_code = "42080219880612001X".into();
    } else {
        l.holder_name = "荆门市喆堃商贸有限公司".into();
    }
    l.fields = ty
        .field_names
        .iter()
        .map(|n| Field {
            name: n.clone(),
            value: field_value(n),
        })
        .collect();
    l
}

/// Runs a required external tool; a missing tool is a test failure, never a skip.
fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} is required for rendering tests ({e}); install Debian packages: poppler-utils zbar-tools")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn no_space(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

struct Rendered {
    _dir: tempfile::TempDir,
    pdf: PathBuf,
    bytes: Vec<u8>,
}

fn render_to_file(t: &Template, l: &Licence, qr: &QrPayload, copy: Option<&CopyMark>) -> Rendered {
    let bytes = renderer()
        .render(t, l, qr, copy)
        .unwrap_or_else(|e| panic!("{}: {e}", t.id));
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join(format!("{}.pdf", t.id));
    std::fs::write(&pdf, &bytes).unwrap();
    if let Some(out) = std::env::var_os("ELICENCE_RENDER_OUT") {
        let kind = if copy.is_some() { "-copy" } else { "" };
        std::fs::write(Path::new(&out).join(format!("{}{kind}.pdf", t.id)), &bytes).unwrap();
    }
    Rendered { _dir: dir, pdf, bytes }
}

fn text_of(r: &Rendered) -> String {
    String::from_utf8(run(
        "pdftotext",
        &["-raw", "-enc", "UTF-8", r.pdf.to_str().unwrap(), "-"],
    ))
    .unwrap()
}

/// Rasterises the page at 150 dpi and reads every QR code on it.
fn scan_qr(r: &Rendered) -> Vec<String> {
    let prefix = r.pdf.with_extension("");
    run(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            r.pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let png = prefix.with_extension("png");
    let out = run(
        "zbarimg",
        &["--raw", "-q", "-Sdisable", "-Sqrcode.enable", png.to_str().unwrap()],
    );
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_builtin_template_renders_real_text_subset_font_and_a_scannable_qr() {
    let ring = example_ring();
    let types = builtin_types();
    let mut report = Vec::new();
    for t in builtin_templates() {
        let ty = types
            .iter()
            .find(|ty| t.id == ty.template_id || t.id.starts_with(&format!("{}-", ty.template_id)))
            .unwrap_or_else(|| panic!("no type for template {}", t.id));
        let l = licence_of(ty, &ring);
        let qr = QrPayload::sign(&l, &ring).unwrap();
        let r = render_to_file(&t, &l, &qr, None);

        // Text comes back exactly, including rare characters and the wrapped 经营范围.
        let text = no_space(&text_of(&r));
        let mut expected = vec![l.holder_name.clone(), l.licence_number.clone(), l.issuer_name.clone()];
        expected.extend(l.fields.iter().map(|f| f.value.clone()));
        for want in expected {
            assert!(
                text.contains(&no_space(&want)),
                "{}: {want:?} not in extracted text:\n{text}",
                t.id
            );
        }
        assert!(text.contains("堃") && text.contains("喆"), "{}", t.id);

        // The font is embedded as a subset, and the file stays small.
        let fonts = String::from_utf8(run("pdffonts", &[r.pdf.to_str().unwrap()])).unwrap();
        let row = fonts
            .lines()
            .nth(2)
            .unwrap_or_else(|| panic!("{}: no fonts:\n{fonts}", t.id));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(
            cols[0].len() > 7 && cols[0].as_bytes()[6] == b'+',
            "{}: not a subset name: {row}",
            t.id
        );
        assert!(row.contains("yes yes yes"), "{}: emb/sub/uni not all yes: {row}", t.id);
        assert!(r.bytes.len() < 150_000, "{}: {} bytes", t.id, r.bytes.len());

        // The QR code scans from the page image and verifies offline; so does the copy in metadata.
        let scanned = scan_qr(&r);
        assert_eq!(scanned.len(), 1, "{}: {scanned:?}", t.id);
        let payload = QrPayload::decode(&scanned[0]).unwrap();
        payload.verify(&ring.public_keys()).unwrap();
        payload.matches_record(&l.canonical_bytes()).unwrap();
        assert_eq!(
            extract_qr_payload(&r.bytes).as_deref(),
            Some(scanned[0].as_str()),
            "{}",
            t.id
        );

        report.push(format!(
            "{:32} {:?} {:?} {:>7} bytes",
            t.id,
            t.page.size,
            t.page.orientation,
            r.bytes.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn metadata_carries_identifier_digest_and_payload() {
    let ring = example_ring();
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.id == "business-licence")
        .unwrap();
    let l = licence_of(&business_type(), &ring);
    let qr = QrPayload::sign(&l, &ring).unwrap();
    let r = render_to_file(&t, &l, &qr, None);
    let info = String::from_utf8(run("pdfinfo", &[r.pdf.to_str().unwrap()])).unwrap();
    let entry = |key: &str| {
        let line = info
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("{key}: {info}"));
        line[key.len() + 1..].trim().to_string()
    };
    let digest = qr.digest_hex();
    assert_eq!(entry("Subject"), format!("{} sha256:{digest}", l.identifier));
    assert_eq!(
        entry("Keywords"),
        format!("{},sha256:{digest},{}", l.identifier, qr.encode().unwrap())
    );
    assert_eq!(entry("Title"), format!("{} {}", l.licence_name, l.licence_number));
    assert_eq!(entry("Pages"), "1");
}

#[test]
fn a_tampered_payload_fails_verification() {
    let ring = example_ring();
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.id == "business-licence")
        .unwrap();
    let l = licence_of(&business_type(), &ring);
    let qr = QrPayload::sign(&l, &ring).unwrap();
    let bytes = renderer().render(&t, &l, &qr, None).unwrap();
    let text = extract_qr_payload(&bytes).unwrap();
    let mut p = QrPayload::decode(&text).unwrap();
    p.holder_name = "荆门市别家商贸有限公司".into();
    assert!(p.verify(&ring.public_keys()).is_err());
    // Same licence re-signed by someone else's key does not verify with the published keys.
    let forger = KeyRing::single(ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
    let forged = QrPayload::sign(&l, &forger).unwrap();
    assert!(forged.verify(&ring.public_keys()).is_err());
    assert_eq!(extract_qr_payload(b"%PDF-1.7 not really"), None);
    assert_eq!(extract_qr_payload(&bytes[..bytes.len() / 2]), None);
}

#[test]
fn a_missing_glyph_names_the_character_and_field() {
    let ring = example_ring();
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.id == "business-licence")
        .unwrap();
    let mut l = licence_of(&business_type(), &ring);
    l.holder_name = "荆门市𠀋记商贸有限公司".into();
    let qr = QrPayload::sign(&l, &ring).unwrap();
    let e = renderer().render(&t, &l, &qr, None).unwrap_err();
    assert_eq!(
        e,
        RenderError::MissingGlyph {
            field: "holder_name".into(),
            ch: '𠀋'
        }
    );
    assert_eq!(e.to_string(), "holder_name: the font has no glyph for '𠀋' (U+2000B)");

    let mut l = licence_of(&business_type(), &ring);
    l.fields[5].value.push('𠀋');
    let qr = QrPayload::sign(&l, &ring).unwrap();
    let e = renderer().render(&t, &l, &qr, None).unwrap_err();
    assert_eq!(
        e,
        RenderError::MissingGlyph {
            field: "fields.经营范围".into(),
            ch: '𠀋'
        }
    );
}

#[test]
fn text_too_long_for_its_box_is_an_error_naming_the_field() {
    let ring = example_ring();
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.id == "business-licence")
        .unwrap();
    let mut l = licence_of(&business_type(), &ring);
    l.fields[5].value = SCOPE.repeat(6);
    let qr = QrPayload::sign(&l, &ring).unwrap();
    match renderer().render(&t, &l, &qr, None) {
        Err(RenderError::Overflow { field, reason }) => {
            assert_eq!(field, "fields.经营范围");
            assert!(reason.contains("max_lines = 14"), "{reason}");
        }
        other => panic!("expected overflow, got {other:?}"),
    }
}

#[test]
fn a_copy_is_watermarked_and_its_qr_says_so() {
    let ring = example_ring();
    let types = builtin_types();
    let mark = CopyMark {
        copy_for: "荆门市人力资源和社会保障局".into(),
        purpose: "办理企业职工社会保险登记，核验营业执照信息".into(),
        made_at: "2026-03-05 10:20".into(),
        valid_until: "2026-03-31".into(),
    };
    for id in ["business-licence", "physician-practice-certificate"] {
        let t = builtin_templates().into_iter().find(|t| t.id == id).unwrap();
        let ty = types.iter().find(|ty| ty.template_id == id).unwrap();
        let l = licence_of(ty, &ring);
        let qr = QrPayload::sign_copy(&l, &mark.qr_fields(), &ring).unwrap();
        let r = render_to_file(&t, &l, &qr, Some(&mark));
        let text = no_space(&text_of(&r));
        assert!(
            text.contains(&no_space(&mark.statement())),
            "{id}: statement missing:\n{text}"
        );
        let [first, _] = mark.lines();
        assert!(
            text.matches(&no_space(&first)).count() >= 3,
            "{id}: watermark not repeated:\n{text}"
        );
        assert!(text.contains(&l.holder_name), "{id}: content still extracts");
        let scanned = scan_qr(&r);
        assert_eq!(scanned.len(), 1, "{id}: the watermark must not hide the code");
        let p = QrPayload::decode(&scanned[0]).unwrap();
        p.verify(&ring.public_keys()).unwrap();
        let c = p.copy.unwrap();
        assert_eq!(
            (c.copy_for.as_str(), c.copy_until.as_str()),
            ("荆门市人力资源和社会保障局", "2026-03-31")
        );
    }
    // A copy mark without a copy payload (or the reverse) is refused.
    let t = builtin_templates()
        .into_iter()
        .find(|t| t.id == "business-licence")
        .unwrap();
    let l = licence_of(&business_type(), &ring);
    let plain = QrPayload::sign(&l, &ring).unwrap();
    assert_eq!(
        renderer().render(&t, &l, &plain, Some(&mark)),
        Err(RenderError::CopyMismatch)
    );
}

/// With `--public-url`, every layout's code — of a licence and of a per-use copy, whose
/// payload is the longest — carries the page's address then the payload, stays within
/// the module count a printed page scans at, and still verifies once scanned.
#[test]
fn with_a_public_url_the_code_opens_the_page_and_still_scans() {
    let ring = example_ring();
    let types = builtin_types();
    let url = crate::licence::qr::PublicUrl::parse("https://verify.example.gov.cn/v/").unwrap();
    let with_url = renderer().with_public_url(Some(url.clone()));
    let mark = CopyMark {
        copy_for: "荆门市人力资源和社会保障局".into(),
        purpose: "办理企业职工社会保险登记，核验营业执照信息".into(),
        made_at: "2026-03-05 10:20".into(),
        valid_until: "2026-03-31".into(),
    };
    for t in builtin_templates() {
        let ty = types
            .iter()
            .find(|ty| t.id == ty.template_id || t.id.starts_with(&format!("{}-", ty.template_id)))
            .unwrap();
        let l = licence_of(ty, &ring);
        for copy in [None, Some(&mark)] {
            let qr = match copy {
                None => QrPayload::sign(&l, &ring).unwrap(),
                Some(m) => QrPayload::sign_copy(&l, &m.qr_fields(), &ring).unwrap(),
            };
            let text = qr.encode().unwrap();
            let content = with_url.qr_content(&text);
            assert_eq!(content, format!("HTTPS://VERIFY.EXAMPLE.GOV.CN/V/{text}"));
            let (width, _) = super::qrcode::matrix(&content).unwrap();
            assert!(width <= 77, "{}: {width} modules", t.id);
            let bytes = with_url.render(&t, &l, &qr, copy).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let pdf = dir.path().join("l.pdf");
            std::fs::write(&pdf, &bytes).unwrap();
            let r = Rendered { _dir: dir, pdf, bytes };
            assert_eq!(scan_qr(&r), vec![content.clone()], "{}", t.id);
            QrPayload::decode(&content)
                .unwrap()
                .verify(&ring.public_keys())
                .unwrap();
            // The document's metadata keeps the bare payload, for offline tools.
            assert_eq!(extract_qr_payload(&r.bytes), Some(text));
        }
    }
}
