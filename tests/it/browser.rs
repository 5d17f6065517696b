//! The verification page in a real browser (headless Chromium through chromedriver), as a
//! citizen meets it: a licence is rendered, its QR code is read off the page image with
//! `zbarimg`, the URL it carries is opened, and what the page then says is asserted — in
//! each state, at a phone's width. Screenshots of each state go to
//! `target/screenshots/`. Without Chromium the tests say they were skipped (and fail on
//! CI, where `.ci/run` installs it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use elicence::api::pb::RenderLicenceCopyRequest;
use elicence::licence::qr::QrPayload;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::common::*;
use crate::lifecycle::{amend_holder_name, change, Op};
use crate::pdf;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// A phone's width in CSS pixels.
const WIDTH: u32 = 375;

/// A chromedriver of our own on a free port, and one browser session through it.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Why the browser tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    [CHROMEDRIVER, CHROMIUM]
        .iter()
        .find(|p| !std::path::Path::new(p).exists())
        .map(|p| format!("{p} not found (Debian packages chromium and chromium-driver)"))
}

async fn browser_or_skip() -> Option<Browser> {
    if let Some(why) = unavailable() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("browser tests cannot run on CI: {why}");
        }
        eprintln!("SKIPPED: browser tests: {why}");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                format!("--window-size={WIDTH},900"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        match builder.capabilities(caps.clone()).connect(&url).await {
            Ok(c) => break c,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("chromedriver did not answer: {e}"),
        }
    };
    client.set_window_size(WIDTH, 900).await.unwrap();
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

impl Browser {
    /// Opens `url` and waits until the page's script has given all its answers.
    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_done().await;
    }

    async fn wait_done(&self) {
        let started = Instant::now();
        loop {
            let done = self
                .client
                .execute(
                    "return document.body.dataset.done === 'true' || !document.getElementById('data');",
                    vec![],
                )
                .await
                .unwrap();
            if done == json!(true) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "the page never finished");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, id: &str) -> String {
        self.client.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
    }

    async fn state(&self, id: &str) -> String {
        let e = self.client.find(Locator::Id(id)).await.unwrap();
        e.attr("data-state").await.unwrap().unwrap_or_default()
    }

    /// Nothing is wider than the phone's screen.
    async fn assert_fits(&self, what: &str) {
        let r = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{what}: the page is {scroll} px wide in a {inner} px window"
        );
    }

    /// Saves a screenshot as `target/screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

/// Renders `identifier`'s PDF and reads its QR code off the page image.
async fn scanned_url(server: &TestServer, identifier: &str) -> String {
    let (_, bytes) = pdf::render(server, identifier, "扫码核验测试").await;
    let dir = tempfile::tempdir().unwrap();
    pdf::scan_qr(dir.path(), &bytes).pop().expect("a QR code on the page")
}

#[tokio::test]
async fn a_citizen_scans_a_printed_licence_and_sees_it_genuine_and_valid() {
    let Some(b) = browser_or_skip().await else { return };
    let server = spawn_server_with_public_url(elicence::limits::Limits::default()).await;
    let issued = issue(&server, "br-1", business_licence("BR-1")).await;
    let url = scanned_url(&server, &issued.identifier).await;
    assert!(
        url.starts_with(&format!("HTTP://{}/V/ELC1:", server.http_addr)),
        "{url}"
    );
    b.open(&url).await;
    assert_eq!(b.text("summary").await, "✔ 真实，且今天有效");
    assert_eq!(b.state("signature").await, "good");
    assert_eq!(b.text("signature-verdict").await, "✔ 真实：签名核验通过");
    assert!(b.text("signature-explain").await.contains("WebCrypto"));
    assert!(b.text("status-verdict").await.starts_with("✔ 有效，自 "));
    assert!(b.text("status-explain").await.starts_with("查询时间"));
    assert!(b.text("issuance-verdict").await.contains(&issued.key_id));
    assert_eq!(b.state("issuance").await, "good");
    let fields = b.text("fields").await;
    for want in ["BR-1", "荆门市市场监督管理局", "营业执照"] {
        assert!(fields.contains(want), "{want} not in {fields}");
    }
    b.assert_fits("valid").await;
    b.screenshot("valid").await;

    // The vendored fallback, in this browser, agrees with WebCrypto on this payload and
    // refuses it changed by one byte.
    let fallback = b
        .client
        .execute_async(
            "const done = arguments[0];
             const d = JSON.parse(document.getElementById('data').textContent);
             const k = d.keys.keys.find((k) => k.key_id === d.key_id);
             const b = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
             import('/static/vendor/noble-ed25519-3.1.0.js').then(async (ed) => {
               const msg = b(d.signed_hex);
               const good = await ed.verifyAsync(b(d.signature_hex), msg, b(k.public_key_hex), { zip215: false });
               msg[10] ^= 1;
               const bad = await ed.verifyAsync(b(d.signature_hex), msg, b(k.public_key_hex), { zip215: false });
               done([good, bad]);
             }, (e) => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fallback, json!([true, false]));

    // In English, by the link on the page.
    b.client
        .find(Locator::LinkText("English"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_done().await;
    assert_eq!(b.text("summary").await, "✔ Genuine and valid today");
    assert!(b.text("status-verdict").await.starts_with("✔ Valid, since "));
    b.assert_fits("valid, English").await;
    b.screenshot("valid-en").await;
}

#[tokio::test]
async fn revoked_and_superseded_licences_say_so() {
    let Some(b) = browser_or_skip().await else { return };
    let server = spawn_server_with_public_url(elicence::limits::Limits::default()).await;
    let revoked = issue(&server, "br-2", business_licence("BR-2")).await;
    let url = scanned_url(&server, &revoked.identifier).await;
    change(&server, SCJGJ, Op::Revoke, &revoked.identifier, "br-2-revoke")
        .await
        .unwrap();
    b.open(&url).await;
    assert_eq!(b.text("signature-verdict").await, "✔ 真实：签名核验通过");
    assert_eq!(b.state("status").await, "bad");
    assert!(
        b.text("status-verdict").await.starts_with("✘ 已吊销"),
        "{}",
        b.text("status-verdict").await
    );
    assert!(b.text("summary").await.starts_with("✘ 真实，但今天无效"));
    b.assert_fits("revoked").await;
    b.screenshot("revoked").await;

    let old = issue(&server, "br-3", business_licence("BR-3")).await;
    let url = scanned_url(&server, &old.identifier).await;
    let new = amend_holder_name(
        &server,
        SCJGJ,
        &old.identifier,
        "br-3-amend",
        "荆门市楚韵食品股份有限公司",
    )
    .await
    .unwrap();
    b.open(&url).await;
    assert!(b.text("status-verdict").await.starts_with("✘ 已被新版本取代"));
    let link = b.client.find(Locator::Id("current-version")).await.unwrap();
    assert_eq!(link.text().await.unwrap(), new.identifier);
    b.assert_fits("superseded").await;
    b.screenshot("superseded").await;
    // The link leads to the form for the current version, its identifier filled in: its
    // own 核验码 is still needed to see it.
    link.click().await.unwrap();
    let field = b.client.find(Locator::Id("identifier")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().unwrap(), new.identifier);
}

#[tokio::test]
async fn a_per_use_copy_says_for_whom_and_stops_being_valid() {
    let Some(b) = browser_or_skip().await else { return };
    let server = spawn_server_with_public_url(elicence::limits::Limits::default()).await;
    let issued = issue(&server, "br-4", business_licence("BR-4")).await;
    let stream = server
        .documents()
        .render_licence_copy(authed(
            SCJGJ,
            RenderLicenceCopyRequest {
                identifier: issued.identifier.clone(),
                use_cause: "施工许可审查".into(),
                receiving_department: "zjj".into(),
                valid_until: "2026-12-31".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (_, copy_pdf) = pdf::collect(stream).await;
    let dir = tempfile::tempdir().unwrap();
    let url = pdf::scan_qr(dir.path(), &copy_pdf).pop().unwrap();
    b.open(&url).await;
    let copy = b.text("copy").await;
    assert!(copy.contains("施工许可审查") && copy.contains("2026-12-31"), "{copy}");
    assert_eq!(b.text("copy-explain").await, "✔ 加注件在有效期内。");
    assert_eq!(b.text("summary").await, "✔ 真实，且今天有效");
    b.assert_fits("copy").await;
    b.screenshot("copy").await;

    server.clock.set(default_now() + time::Duration::days(40));
    b.open(&url).await;
    assert_eq!(b.text("copy-explain").await, "✘ 加注件已过有效期，不能再使用。");
    assert_eq!(b.state("copy").await, "bad");
    assert!(b.text("summary").await.starts_with("✘"), "{}", b.text("summary").await);
    b.screenshot("copy-expired").await;
}

#[tokio::test]
async fn a_tampered_code_is_not_genuine_and_a_silent_status_service_is_said_so() {
    let Some(b) = browser_or_skip().await else { return };
    let server = spawn_server_with_public_url(elicence::limits::Limits {
        verify_rate_per_client: 1,
        verify_burst_per_client: 2,
        ..Default::default()
    })
    .await;
    let issued = issue(&server, "br-5", business_licence("BR-5")).await;
    let url = scanned_url(&server, &issued.identifier).await;

    // One field changed after signing.
    let (base, text) = url.split_at(url.find("ELC1:").unwrap());
    let mut p = QrPayload::decode(text).unwrap();
    p.licence_number = "BR-5-FORGED".into();
    b.open(&format!("{base}{}", p.encode().unwrap())).await;
    assert_eq!(b.text("summary").await, "✘ 不是真实的证照");
    assert_eq!(b.state("signature").await, "bad");
    assert!(b.text("signature-explain").await.contains("签名与内容不符"));
    b.assert_fits("tampered").await;
    b.screenshot("tampered").await;

    // Unreadable: the server's not-genuine page.
    b.client.goto(&format!("{base}ELC1:NOTAPAYLOAD")).await.unwrap();
    assert_eq!(b.text("summary").await, "✘ 不是真实的证照");

    // The status service refuses this client (its rate is spent): the signature verdict
    // stands, and the page says the status could not be checked.
    // Kept spent while the page loads (a slow store must not let the bucket refill).
    let spend = reqwest::Client::builder().no_proxy().build().unwrap();
    let keys_url = server.http("/api/v1/keys");
    for _ in 0..3 {
        let _ = spend.get(&keys_url).send().await.unwrap();
    }
    let spender = tokio::spawn(async move {
        loop {
            let _ = spend.get(&keys_url).send().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    b.open(&url).await;
    assert_eq!(b.text("signature-verdict").await, "✔ 真实：签名核验通过");
    assert_eq!(b.state("status").await, "unknown");
    assert_eq!(b.text("status-verdict").await, "⚠ 无法查询状态");
    assert!(b.text("status-explain").await.contains("查询过于频繁"));
    assert_eq!(b.text("summary").await, "⚠ 签名真实；状态无法查询");
    b.assert_fits("status unavailable").await;
    spender.abort();
    b.screenshot("status-unavailable").await;
}
