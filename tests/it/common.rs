//! Shared helpers: start a real server on 127.0.0.1:0 over a temp data directory, or,
//! with `ELICENCE_TEST_BACKEND=postgres`, over a private PostgreSQL server whose files
//! live in that directory (`on_postgres` runs the whole suite so).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use elicence::api::pb::audit_service_client::AuditServiceClient;
use elicence::api::pb::catalog_service_client::CatalogServiceClient;
use elicence::api::pb::document_service_client::DocumentServiceClient;
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::template_service_client::TemplateServiceClient;
use elicence::api::pb::verification_service_client::VerificationServiceClient;
use elicence::api::pb::{self, Field, IssueLicenceRequest};
use elicence::api::server::{self, Limits};
use elicence::catalog::Directory;
use elicence::clock::{Clock, FixedClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, ServerTlsConfig};
use tonic::Request;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const SCJGJ: &str = "dev-scjgj-token";
pub const ZJJ: &str = "dev-zjj-token";
pub const ZWFW: &str = "dev-zwfw-token";
pub const RSJ: &str = "dev-rsj-token";
pub const BUSINESS_LICENCE: &str = "11100000000013338W011";
pub const FOOD_PERMIT: &str = "11100000000013338W012";
pub const SCJGJ_CODE: &str = "11420800MB1A234561";

/// The store backend the tests run on (`ELICENCE_TEST_BACKEND`: `embedded`, the
/// default, or `postgres`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("ELICENCE_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("embedded") | Err(_) => Backend::Embedded,
        Ok(other) => panic!("ELICENCE_TEST_BACKEND={other}: embedded or postgres"),
    }
}

/// Returns early from a test that is about the embedded store's files (its data
/// directory, raw keyspaces, file backups, control socket) when the suite runs on
/// PostgreSQL.
#[macro_export]
macro_rules! embedded_only {
    () => {
        if $crate::common::backend() != $crate::common::Backend::Embedded {
            return;
        }
    };
}

/// Where a server or command under test keeps its store.
#[derive(Clone)]
pub enum Place {
    Dir(PathBuf),
    /// A database URL, and the private server behind it when this place keeps it running.
    Database {
        url: String,
        /// Hot standbys to read from (`--read-database-url`).
        read_url: Option<String>,
        _server: Option<Arc<elicence::testing::postgres::Cluster>>,
    },
}

impl Place {
    /// A database by URL (its server kept running by the caller).
    pub fn database(url: String) -> Place {
        Place::Database {
            url,
            read_url: None,
            _server: None,
        }
    }

    /// A database by URL, read from the standbys at `read_url`.
    pub fn database_with_standby(url: String, read_url: String) -> Place {
        Place::Database {
            url,
            read_url: Some(read_url),
            _server: None,
        }
    }

    /// The command-line options that point a command at the store.
    pub fn args(&self) -> Vec<OsString> {
        match self {
            Place::Dir(d) => vec!["--data-dir".into(), d.into()],
            Place::Database { url, read_url, .. } => {
                let mut a = vec!["--database-url".into(), url.into()];
                if let Some(r) = read_url {
                    a.extend(["--read-database-url".into(), r.into()]);
                }
                a
            }
        }
    }

    pub fn location(&self) -> elicence::store::StoreLocation {
        match self {
            Place::Dir(d) => elicence::store::StoreLocation::Embedded {
                dir: d.clone(),
                config: Default::default(),
            },
            Place::Database { url, read_url, .. } => {
                elicence::store::StoreLocation::Postgres(elicence::store::postgres::PgConfig {
                    url: url.clone(),
                    pool_size: 4,
                    read_url: read_url.clone(),
                })
            }
        }
    }

    /// Every identifier stored, read directly (no server may be running on a data
    /// directory).
    pub fn identifiers(&self) -> Vec<String> {
        let opened = elicence::store::OpenedStore::open(&self.location()).unwrap();
        stored_identifiers(opened.store().as_ref())
    }
}

/// The store for a test's data directory on the backend the suite runs on: the directory
/// itself, or a private PostgreSQL server with its files in it (the same server, or one
/// started again on the same files, for every use of the directory).
pub fn place_of(data_dir: &Path) -> Place {
    match backend() {
        Backend::Embedded => Place::Dir(data_dir.to_path_buf()),
        Backend::Postgres => {
            let server = elicence::testing::postgres::shared_in(data_dir);
            Place::Database {
                url: server.url("postgres"),
                read_url: None,
                _server: Some(server),
            }
        }
    }
}

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    /// The HTTP side (verification page, JSON API, metrics).
    pub http_addr: std::net::SocketAddr,
    pub channel: Channel,
    pub data_dir: PathBuf,
    /// Where its store is (`data_dir` itself, or a database).
    pub place: Place,
    pub clock: Arc<FixedClock>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

/// 2026-11-27 10:00 China time.
pub fn default_now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-27 02:00 UTC)
}

pub async fn spawn_server() -> TestServer {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = spawn_server_at(&dir, Arc::new(FixedClock::new(default_now()))).await;
    s._tmp = Some(tmp);
    s
}

pub async fn spawn_server_at(data_dir: &Path, clock: Arc<FixedClock>) -> TestServer {
    let directory = elicence::testing::example_directory();
    spawn_server_with(data_dir, clock, directory, None).await
}

/// TLS for a test server: the server's config and the matching client config.
pub struct TestTls {
    pub server: ServerTlsConfig,
    pub client: ClientTlsConfig,
}

pub async fn spawn_server_with(
    data_dir: &Path,
    clock: Arc<FixedClock>,
    directory: Directory,
    tls: Option<TestTls>,
) -> TestServer {
    // Tests verify in bulk from one address; the per-client limit has its own test.
    let limits = Limits {
        verify_rate_per_client: 0,
        ..Limits::default()
    };
    let keys = Path::new(ROOT).join("keys-example");
    spawn_server_full(data_dir, &keys, clock, directory, tls, limits, false).await
}

/// A server with the given limits over a temp directory.
pub async fn spawn_server_with_limits(limits: Limits) -> TestServer {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Path::new(ROOT).join("keys-example");
    let clock = Arc::new(FixedClock::new(default_now()));
    let directory = elicence::testing::example_directory();
    let mut s = spawn_server_full(&tmp.path().join("data"), &keys, clock, directory, None, limits, false).await;
    s._tmp = Some(tmp);
    s
}

/// A server whose rendered QR codes carry its own verification page's address
/// (`--public-url http://127.0.0.1:PORT/v/`), with the given limits.
pub async fn spawn_server_with_public_url(limits: Limits) -> TestServer {
    let tmp = tempfile::tempdir().unwrap();
    let keys = Path::new(ROOT).join("keys-example");
    let clock = Arc::new(FixedClock::new(default_now()));
    let directory = elicence::testing::example_directory();
    let data = tmp.path().join("data");
    let mut s = spawn_server_full(&data, &keys, clock, directory, None, limits, true).await;
    s._tmp = Some(tmp);
    s
}

/// A server on the key ring in `keys_dir` (e.g. after a rotation).
pub async fn spawn_server_with_keys(data_dir: &Path, keys_dir: &Path, clock: Arc<FixedClock>) -> TestServer {
    let directory = elicence::testing::example_directory();
    spawn_server_full(data_dir, keys_dir, clock, directory, None, Limits::default(), false).await
}

/// The log origin of test servers' checkpoints.
pub const TEST_LOG_ORIGIN: &str = "elicence.test/log";

async fn spawn_server_full(
    data_dir: &Path,
    keys_dir: &Path,
    clock: Arc<FixedClock>,
    directory: Directory,
    tls: Option<TestTls>,
    limits: Limits,
    public_url: bool,
) -> TestServer {
    let place = place_of(data_dir);
    let (state, opened) =
        elicence::testing::state_at(&place.location(), keys_dir, clock.clone() as Arc<dyn Clock>, directory);
    // The operator's control socket, as `elicence serve` binds it for a data directory
    // (backup, check).
    let (control_stop, control_stopped) = oneshot::channel::<()>();
    let control = opened.embedded().map(|store| {
        let control =
            elicence::control::ControlEndpoint::bind(data_dir, store.clone(), state.registry.clone()).unwrap();
        tokio::spawn(control.run(async move {
            let _ = control_stopped.await;
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let mut state = state;
    if public_url {
        let url = elicence::licence::qr::PublicUrl::parse(&format!("http://{http_addr}/v/")).unwrap();
        state.renderer = state.renderer.clone().with_public_url(Some(url));
    }
    let (tx, rx) = oneshot::channel::<()>();
    let (http_stop, http_stopped) = oneshot::channel::<()>();
    let web = elicence::web::WebState::new(state.registry.clone(), limits.clone());
    let web = tokio::spawn(elicence::web::run(http, web, async {
        let _ = http_stopped.await;
    }));
    // The transparency log's checkpointer, as `elicence serve` runs it.
    let (checkpoints_stop, checkpoints_stopped) = oneshot::channel::<()>();
    let checkpointer = tokio::spawn(elicence::registry::log::run_checkpointer(
        state.registry.clone(),
        TEST_LOG_ORIGIN.to_string(),
        async move {
            let _ = checkpoints_stopped.await;
        },
    ));
    let (server_tls, client_tls) = match tls {
        Some(t) => (Some(t.server), Some(t.client)),
        None => (None, None),
    };
    let handle = tokio::spawn(async move {
        server::run(listener, state, limits, server_tls, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let _ = http_stop.send(());
        web.await.unwrap().unwrap();
        let _ = checkpoints_stop.send(());
        checkpointer.await.unwrap();
        let _ = control_stop.send(());
        if let Some(control) = control {
            control.await.unwrap();
        }
    });
    let channel = match client_tls {
        None => Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap(),
        Some(c) => Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(c)
            .unwrap()
            .connect()
            .await
            .unwrap(),
    };
    TestServer {
        addr,
        http_addr,
        channel,
        data_dir: data_dir.to_path_buf(),
        place,
        clock,
        shutdown: Some(tx),
        handle: Some(handle),
        _tmp: None,
    }
}

impl TestServer {
    /// `http://127.0.0.1:PORT` of the HTTP side, followed by `path`.
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    pub fn licences(&self) -> LicenceServiceClient<Channel> {
        LicenceServiceClient::new(self.channel.clone())
    }

    pub fn verification(&self) -> VerificationServiceClient<Channel> {
        VerificationServiceClient::new(self.channel.clone())
    }

    pub fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// The published signing keys (`ListSigningKeys`), current and retired.
    pub async fn signing_keys(&self) -> Vec<pb::SigningKey> {
        self.verification()
            .list_signing_keys(pb::ListSigningKeysRequest {})
            .await
            .unwrap()
            .into_inner()
            .keys
    }

    pub fn documents(&self) -> DocumentServiceClient<Channel> {
        DocumentServiceClient::new(self.channel.clone())
    }

    pub fn templates(&self) -> TemplateServiceClient<Channel> {
        TemplateServiceClient::new(self.channel.clone())
    }

    /// Stops the server gracefully and waits until the store is closed.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
        self._tmp.take()
    }
}

/// A request carrying a department's bearer token.
pub fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// A valid business licence (营业执照) for a company.
pub fn business_licence(number: &str) -> pb::Licence {
    pb::Licence {
        licence_type_code: BUSINESS_LICENCE.into(),
        licence_number: number.into(),
        issuer_name: "荆门市市场监督管理局".into(),
        issuer_code: SCJGJ_CODE.into(),
        issuer_level: "地市级".into(),
        issue_date: "2026-03-01".into(),
        holder_name: "荆门市楚韵食品有限公司".into(),
        holder_code: "91440300708461136T".into(),
        holder_code_type: "001".into(),
        valid_from: "2026-03-01".into(),
        valid_until: "".into(),
        region_code: "420800".into(),
        related_item: "企业设立登记".into(),
        fields: vec![
            Field {
                name: "类型".into(),
                value: "有限责任公司".into(),
            },
            Field {
                name: "法定代表人".into(),
                value: "王堃".into(),
            },
            Field {
                name: "注册资本".into(),
                value: "伍佰万元整".into(),
            },
            Field {
                name: "经营范围".into(),
                value: "食品销售；餐饮服务；农副产品收购。".into(),
            },
        ],
        ..Default::default()
    }
}

/// A valid food-business permit (食品经营许可证) held by a natural person.
pub fn food_permit_for_person(number: &str) -> pb::Licence {
    pb::Licence {
        licence_type_code: FOOD_PERMIT.into(),
        licence_number: number.into(),
        holder_name: "张小明".into(),
        holder_code: "420802199001011234".into(),
        holder_code_type: "111".into(),
        valid_from: "2026-01-01".into(),
        valid_until: "2030-12-31".into(),
        fields: vec![Field {
            name: "经营项目".into(),
            value: "预包装食品销售".into(),
        }],
        ..business_licence(number)
    }
}

pub async fn issue(server: &TestServer, request_id: &str, licence: pb::Licence) -> pb::IssueLicenceResponse {
    server
        .licences()
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: request_id.into(),
                licence: Some(licence),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// Issues a licence and returns its identifier.
pub async fn issue_id(server: &TestServer, request_id: &str, licence: pb::Licence) -> String {
    issue(server, request_id, licence).await.identifier
}

/// Every identifier of a small test store, read page by page (the store hands out
/// pages only, so that nothing holds a province's identifiers at once).
pub fn stored_identifiers(store: &dyn elicence::store::Store) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    loop {
        let page = store.identifiers(all.last().map(String::as_str), 1000).unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Edits one keyspace of a stopped server's store directly, as someone with the files
/// would: `edit` gets the raw fjall keyspace. The directory is left as private as the
/// store keeps it.
pub fn edit_raw_store(data_dir: &Path, keyspace: &str, edit: impl FnOnce(&fjall::Keyspace)) {
    {
        let db = fjall::Database::builder(data_dir).open().unwrap();
        let ks = db.keyspace(keyspace, fjall::KeyspaceCreateOptions::default).unwrap();
        edit(&ks);
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    elicence::store::permissions::restrict(data_dir).unwrap();
}
