//! Licence → PDF rendering benchmark, over every built-in template with realistic data
//! (a 经营范围 of several hundred characters, rare name characters 堃 喆):
//!
//! - `render/warm/<template>`: one render with the font already parsed (criterion);
//! - `render/throughput/{1,2}_threads`: `BATCH` PDFs on 1 or 2 threads sharing one
//!   [`Renderer`], round-robin over the templates (criterion, PDFs/s as throughput);
//! - `baseline/*`: cheap, stable work measured in the same run (signing the QR payload,
//!   SHA-256 of a fixed 64 KiB buffer), to compare figures from a loaded machine;
//! - a summary printed at the end: median and p90 per template from individually timed
//!   renders, PDF size per template, CPU milliseconds per render, and PDFs/s on 2 threads.
//!
//! `cargo bench --bench render` (`cargo bench --bench render -- --quick` for a short run).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use elicence::catalog::{types, HolderCategory, LicenceType};
use elicence::licence::qr::QrPayload;
use elicence::licence::{CheckDigits, Field, KeyRing, Licence, LicenceDraft, LicenceId, Seal};
use elicence::render::{load_dir, Renderer, Template, DEFAULT_FONT_PATH};
use sha2::{Digest, Sha256};
use time::macros::datetime;

/// PDFs per throughput iteration.
const BATCH: usize = 64;

const SCOPE: &str = "许可项目：食品经营；第二类增值电信业务；互联网信息服务；道路货物运输（不含危险货物）。\
（依法须经批准的项目，经相关部门批准后方可开展经营活动，具体经营项目以相关部门批准文件或许可证件为准）\
一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；信息系统集成服务；\
计算机系统服务；数据处理和存储支持服务；办公用品销售；日用百货销售；五金产品零售；电子产品销售；\
家用电器销售；服装服饰零售；鞋帽零售；针纺织品销售；化妆品零售；个人卫生用品销售；农副产品销售；\
食用农产品零售；初级农产品收购；会议及展览服务；企业管理咨询；市场营销策划；广告设计、代理；\
广告制作；广告发布；组织文化艺术交流活动；礼仪服务；普通货物仓储服务（不含危险化学品等需许可审批的项目）；\
国内货物运输代理；装卸搬运。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）";

/// A realistic value for each type-specific field (the same data as the render tests).
fn field_value(name: &str) -> String {
    let v = match name {
        "经营范围" | "经营项目" => SCOPE,
        "诊疗科目" => {
            "预防保健科；内科；外科；妇产科；儿科；眼科；耳鼻咽喉科；口腔科；皮肤科；医学检验科；医学影像科；中医科"
        }
        "执业范围" => "内科专业",
        "执业类别" => "临床",
        "性别" => "男",
        "出生日期" => "1988年6月12日",
        "执业地点" | "主要执业机构" => "荆门市第一人民医院",
        "类型" => "有限责任公司（自然人投资或控股）",
        "注册资本" => "伍佰万元整",
        "成立日期" => "2019年4月18日",
        "合同价格" => "12850.36万元",
        "合同工期" => "540日历天",
        "建设规模" => "总建筑面积38652.17平方米，地上18层，地下2层",
        "投诉举报电话" => "12315",
        "床位" => "120张",
        "经济类型" | "所有制形式" => "民营",
        n if n.contains("地址") || n == "住所" || n == "经营场所" => {
            "湖北省荆门市掇刀区白庙街道培公大道188号喆堃大厦12楼"
        }
        n if n.contains("单位") || n.contains("机构") => "湖北长江建设工程有限公司",
        n if n.contains("负责人") || n.contains("代表人") => "王堃",
        n if n.contains("名称") => "荆门市中心城区综合管廊二期工程",
        _ => "经营",
    };
    v.to_string()
}

fn licence_of(ty: &LicenceType, ring: &KeyRing) -> Licence {
    let draft = LicenceDraft {
        licence_type_code: ty.code.clone(),
        licence_number: "JY14208020012345".into(),
        issuer_name: "荆门市市场监督管理局".into(),
        issuer_code: "11110000000021135M".into(),
        issuer_level: "地市级".into(),
        issue_date: "2026-03-01".into(),
        holder_name: "荆门市喆堃商贸有限公司".into(),
        holder_code: "91440300708461136T".into(),
        holder_code_type: "001".into(),
        valid_from: "2026-03-01".into(),
        valid_until: "2031-02-28".into(),
        region_code: "420800".into(),
        related_item: "许可申请".into(),
        seal: Seal::default(),
        fields: ty
            .field_names
            .iter()
            .map(|n| Field {
                name: n.clone(),
                value: field_value(n),
            })
            .collect(),
    };
    let (valid, _) = draft.validate(CheckDigits::Flag).expect("a valid draft");
    let id = LicenceId::new(&ty.code, "11110000000021135M", "20260000001", 1).expect("an identifier");
    let mut l = valid.into_licence(&id, &ty.name, ring.active_key_id(), datetime!(2026-03-01 08:00 UTC));
    if ty.holder_category == HolderCategory::NaturalPerson {
        l.holder_name = "李堃喆".into();
        l.holder_code_type = "111".into();
        l.holder_code = "42080219880612001X".into();
    }
    l
}

/// One built-in template with the licence and signed payload it renders.
struct Case {
    template: Template,
    licence: Licence,
    qr: QrPayload,
}

fn cases(ring: &KeyRing) -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = types::load_dir(&root.join("templates/catalog")).expect("catalogue");
    load_dir(&root.join("templates/layouts"))
        .expect("layouts")
        .into_iter()
        .map(|template| {
            let ty = catalog
                .iter()
                .find(|ty| template.id == ty.template_id || template.id.starts_with(&format!("{}-", ty.template_id)))
                .unwrap_or_else(|| panic!("no type for {}", template.id));
            let licence = licence_of(ty, ring);
            let qr = QrPayload::sign(&licence, ring).expect("payload");
            Case { template, licence, qr }
        })
        .collect()
}

fn render(r: &Renderer, c: &Case) -> Vec<u8> {
    r.render(&c.template, &c.licence, &c.qr, None)
        .unwrap_or_else(|e| panic!("{}: {e}", c.template.id))
}

/// Renders `n` PDFs on `threads` threads sharing `r`, round-robin over `cases`.
fn render_batch(r: &Renderer, cases: &[Case], threads: usize, n: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    black_box(render(r, &cases[i % cases.len()]));
                }
            });
        }
    });
}

/// CPU seconds this process has used (Linux); stays meaningful on a shared machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ring = KeyRing::single(SigningKey::from_bytes(&[42; 32]));
    let renderer = Renderer::from_font_file(&root.join(DEFAULT_FONT_PATH)).expect("font");
    let cases = cases(&ring);

    let mut warm = c.benchmark_group("render/warm");
    warm.warm_up_time(Duration::from_secs(1));
    warm.measurement_time(Duration::from_secs(3));
    for case in &cases {
        warm.bench_function(&case.template.id, |b| b.iter(|| render(&renderer, case)));
    }
    warm.finish();

    let mut tp = c.benchmark_group("render/throughput");
    tp.throughput(Throughput::Elements(BATCH as u64));
    tp.sample_size(10);
    tp.measurement_time(Duration::from_secs(5));
    for threads in [1, 2] {
        tp.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| render_batch(&renderer, &cases, threads, BATCH))
        });
    }
    tp.finish();

    let mut base = c.benchmark_group("baseline");
    let l = &cases[0].licence;
    base.bench_function("qr_sign", |b| b.iter(|| QrPayload::sign(black_box(l), &ring).unwrap()));
    let buffer: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    base.throughput(Throughput::Bytes(buffer.len() as u64));
    base.bench_function("sha256_64k", |b| b.iter(|| Sha256::digest(black_box(&buffer))));
    base.finish();

    summary(&renderer, &cases, &ring);
}

/// The figures docs/BENCHMARKS-HISTORY.md records, as medians (robust on a shared machine).
fn summary(renderer: &Renderer, cases: &[Case], ring: &KeyRing) {
    println!("\nrender summary (medians of individually timed runs)");
    println!("| template | page | median ms | p90 ms | PDF bytes |");
    println!("|---|---|---|---|---|");
    for case in cases {
        let t = &case.template;
        let size = render(renderer, case).len();
        let mut times: Vec<Duration> = (0..101)
            .map(|_| {
                let start = Instant::now();
                black_box(render(renderer, case));
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "| {} | {:?} {:?} | {:.2} | {:.2} | {} |",
            t.id,
            t.page.size,
            t.page.orientation,
            ms(quantile(&times, 0.5)),
            ms(quantile(&times, 0.9)),
            size
        );
    }

    // CPU time per render, all templates round-robin, over at least two CPU seconds.
    if let Some(start) = cpu_seconds() {
        let mut n = 0;
        while cpu_seconds().is_some_and(|now| now - start < 2.0) {
            black_box(render(renderer, &cases[n % cases.len()]));
            n += 1;
        }
        if let Some(end) = cpu_seconds() {
            println!(
                "CPU per render (all templates): {:.2} ms",
                (end - start) * 1e3 / n as f64
            );
        }
    }

    // PDFs/s on 1 and 2 threads: median of 9 batches of BATCH.
    for threads in [1, 2] {
        let mut rates: Vec<f64> = (0..9)
            .map(|_| {
                let start = Instant::now();
                render_batch(renderer, cases, threads, BATCH);
                BATCH as f64 / start.elapsed().as_secs_f64()
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "throughput on {threads} thread(s): {:.0} PDFs/s (median of 9 × {BATCH})",
            rates[4]
        );
    }

    let l = &cases[0].licence;
    let mut times: Vec<Duration> = (0..1001)
        .map(|_| {
            let start = Instant::now();
            black_box(QrPayload::sign(l, ring).unwrap());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "baseline QR payload sign: median {:.1} µs",
        quantile(&times, 0.5).as_secs_f64() * 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
