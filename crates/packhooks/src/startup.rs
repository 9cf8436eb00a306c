//! The application: opens the store, resolves the API token, starts the background services
//! and binds the HTTP server; [`Application::run_until_stopped`] serves until SIGTERM or SIGINT
//! (or a test stops it) and then shuts down in order: stop accepting, finish the requests in
//! flight, stop the background services, close the store (everything acknowledged is on disk).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::sync::Arc;

use actix_http::{HttpService, Protocol};
use actix_service::{fn_service, map_config, ServiceFactoryExt as _};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use futures::future::LocalBoxFuture;
use packhooks_api::auth::{InvalidToken, Role, Token, TokenTable};
use packhooks_api::malformed::ProblemAnswers;
use packhooks_api::{ApiConfig, ApiState};
use packhooks_domain::clock::{Clock, SystemClock};
use packhooks_store::sqlite::SqliteStore;
use packhooks_store::{EventStore, StoreError};

use crate::settings::{Settings, StoreSetting};

/// How long a graceful stop waits for requests in flight.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Why the application could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the event store")]
    Store(#[source] StoreError),
    #[error("cannot read or create the API token file {path}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the API token file {path} does not hold a valid token")]
    InvalidTokenFile {
        path: PathBuf,
        #[source]
        source: InvalidToken,
    },
    #[error("cannot listen on {address}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the read models")]
    Projections(#[source] packhooks_projections::ProjectionError),
    #[error("cannot install the signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
    #[error("the event store did not close cleanly")]
    Close(#[source] StoreError),
}

/// Stops one background service; run in order at shutdown, before the store closes.
pub type Stopper = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()>>;

/// A built application, bound and ready to serve.
pub struct Application {
    port: u16,
    token: Token,
    server: Server,
    store: Arc<dyn EventStore>,
    stoppers: Vec<Stopper>,
}

impl Application {
    /// Builds everything `serve` runs. Must be called inside an actix system (the delivery
    /// actors live there); binds `settings.listen` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|source| StartupError::DataDir { path: settings.data_dir.clone(), source })?;
        // Every metric of the process, for /metrics: the store's here, delivery's below, the
        // API's in the `Exposition`.
        let mut metrics = prometheus_client::registry::Registry::default();
        let store = crate::metrics::MeteredStore::wrap(open_store(&settings, StoreAccess::Write)?, &mut metrics);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let token = api_token(&settings)?;
        let tokens = settings.api.tokens.iter().fold(TokenTable::new().with(&token, &Role::ALL), |table, extra| {
            table.with_name(&extra.token, &extra.roles, extra.name.clone())
        });
        let config = ApiConfig {
            tokens,
            max_webhooks: settings.max_webhooks,
            allow_private_targets: settings.allow_private_targets,
            secret_rotation_overlap: settings.secret_rotation_overlap,
        };
        let (mut state, registry) = ApiState::new(Arc::clone(&store), Arc::clone(&clock), config);
        let mut stoppers: Vec<Stopper> = vec![Box::new(move || {
            Box::pin(async move {
                registry.abort();
            })
        })];

        // ── Background services ────────────────────────────────────────────────────────
        // The delivery dispatcher and the projection runner start here, on this actix
        // system, from `store`, `clock` and `settings` (`settings.delivery` is for delivery).
        // A handle that routes need goes into the API state with
        // `state = state.with_extension(Arc::new(handle))`; whatever must stop before the
        // store closes goes into `stoppers` (they run in order, after the HTTP server).
        // ───────────────────────────────────────────────────────────────────────────────
        let projections = packhooks_projections::Projections::new(
            Arc::clone(&store),
            &packhooks_projections::db_path(&settings.data_dir),
            packhooks_projections::RunnerOptions::default(),
        )
        .map_err(StartupError::Projections)?;
        let runner = projections.start();
        stoppers.push(Box::new(move || Box::pin(runner.shutdown())));
        state = state.with_extension(projections);

        let delivery_config = delivery_config(&settings);
        delivery_config.metrics.register(&mut metrics);
        let exposition = packhooks_api::routes::metrics::Exposition::new(&state, metrics);
        state = state.with_extension(Arc::new(exposition));
        let delivery = packhooks_delivery::Delivery::start(Arc::clone(&store), delivery_config, Arc::clone(&clock));
        state = state.with_extension(Arc::new(packhooks_api::routes::test_events::TestEventWait(
            settings.delivery.attempt_timeout,
        )));
        stoppers.push(Box::new(move || {
            Box::pin(async move {
                if let Err(error) = delivery.stop().await {
                    tracing::warn!(error = &error as &dyn std::error::Error, "delivery did not stop cleanly");
                }
            })
        }));

        state = state.with_extension(Arc::new(packhooks_api::deadline::RequestTimeout(settings.request_timeout)));
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let listener = TcpListener::bind(settings.listen)
            .map_err(|source| StartupError::Bind { address: settings.listen, source })?;
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let server = http_server(listener, workers, &settings, state)
            .map_err(|source| StartupError::Bind { address: settings.listen, source })?;
        tracing::info!(address = %settings.listen, port, data_dir = %settings.data_dir.display(), "packhooks is listening");
        Ok(Application { port, token, server, store, stoppers })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token with every role (configured, or kept in `<data_dir>/api-token`).
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Stops the server from elsewhere (tests): `handle.stop(true)` is a graceful stop.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The store, e.g. for tests that check what was written.
    pub fn store(&self) -> Arc<dyn EventStore> {
        Arc::clone(&self.store)
    }

    /// Serves until SIGTERM, SIGINT or a stop through [`server_handle`](Self::server_handle),
    /// then shuts down in order.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        use tokio::signal::unix::{signal, SignalKind};

        let Application { server, store, stoppers, .. } = self;
        let handle = server.handle();
        let mut terminate = signal(SignalKind::terminate()).map_err(StartupError::Signals)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(StartupError::Signals)?;
        let mut server = std::pin::pin!(server);
        let signalled = tokio::select! {
            served = &mut server => Err(served),
            _ = terminate.recv() => Ok("SIGTERM"),
            _ = interrupt.recv() => Ok("SIGINT"),
        };
        let served = match signalled {
            Err(served) => served,
            Ok(signal) => {
                // A graceful stop may wait for attempts in flight up to the attempt timeout;
                // a second signal ends the process at once, which is as safe as kill -9.
                actix_web::rt::spawn(async move {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                    tracing::warn!("second signal: stopping at once, without waiting for what is in flight");
                    std::process::exit(1);
                });
                graceful_stop(&handle, signal, &mut server).await
            }
        };
        for stop in stoppers {
            stop().await;
        }
        let closed = store.close().await;
        tracing::info!("packhooks stopped");
        served.map_err(StartupError::Server)?;
        closed.map_err(StartupError::Close)
    }
}

/// Stops accepting connections, lets the requests in flight finish, waits for the server.
async fn graceful_stop(
    handle: &ServerHandle,
    signal: &str,
    server: &mut std::pin::Pin<&mut Server>,
) -> std::io::Result<()> {
    tracing::info!(signal, "shutting down: finishing requests in flight");
    // The stop is carried out by polling the server, so both are awaited together.
    let (_, served) = futures::join!(handle.stop(true), server);
    served
}

/// How a command uses the event store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreAccess {
    /// `serve`: appends. On SQLite this takes the file's writer lock, so a second `serve` on
    /// the same data directory fails at once ([`StoreError::Locked`]).
    Write,
    /// The `audit` and `projections` commands: reads only. On SQLite no lock, no writer
    /// thread, no checkpoints, so they run beside a server; a missing store is an error
    /// ([`StoreError::NoStore`]), never created.
    ReadOnly,
}

/// Opens the configured event store: for writing (`serve`) or for reading (`audit`,
/// `projections`). The EventStoreDB backend is the same either way.
pub(crate) fn open_store(settings: &Settings, access: StoreAccess) -> Result<Arc<dyn EventStore>, StartupError> {
    match &settings.store {
        StoreSetting::Sqlite => {
            let path = settings.sqlite_path();
            let store = match access {
                StoreAccess::Write => SqliteStore::open(path),
                StoreAccess::ReadOnly => SqliteStore::open_read_only(path),
            };
            Ok(Arc::new(store.map_err(StartupError::Store)?))
        }
        // Opened first, before anything else could install a rustls crypto provider.
        StoreSetting::EventStoreDb(url) => Ok(Arc::new(
            packhooks_store_esdb::EsdbStore::connect(url)
                .map_err(|e| StartupError::Store(StoreError::Backend(Box::new(e))))?,
        )),
    }
}

/// The token with every role: `PACKHOOKS_API_TOKEN`, else the one in `<data_dir>/api-token`,
/// else a new one written there (owner-only) and printed once to stdout.
fn api_token(settings: &Settings) -> Result<Token, StartupError> {
    if let Some(token) = &settings.api.token {
        return Ok(token.clone());
    }
    let path = settings.token_path();
    let file_error = |source| StartupError::TokenFile { path: path.clone(), source };
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut file) => {
            let token = Token::generate();
            writeln!(file, "{}", token.expose()).map_err(file_error)?;
            file.sync_all().map_err(file_error)?;
            println!(
                "packhooks: created an API token with every role in {} (shown only this once):\n{}",
                path.display(),
                token.expose()
            );
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(file_error)?;
            let mode = std::fs::metadata(&path).map_err(file_error)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the API token file is readable by others; chmod 600 it");
            }
            Token::parse(text.trim()).map_err(|source| StartupError::InvalidTokenFile { path: path.clone(), source })
        }
        Err(e) => Err(file_error(e)),
    }
}

/// Delivery's configuration from the settings.
fn delivery_config(settings: &Settings) -> packhooks_delivery::DeliveryConfig {
    let d = &settings.delivery;
    let defaults = packhooks_delivery::DeliveryConfig::default();
    packhooks_delivery::DeliveryConfig {
        retry: packhooks_domain::delivery::RetryPolicy {
            max_attempts: d.max_attempts,
            delays: d.retry_delays.clone(),
            jitter: d.retry_jitter,
            max_retry_after: d.max_retry_after,
        },
        attempt_timeout: d.attempt_timeout,
        in_flight_per_webhook: d.in_flight_per_webhook,
        backlog_cap: d.backlog_per_webhook,
        checkpoint_every: d.checkpoint_every,
        auto_disable_after: d.auto_disable_after,
        disable_on_gone: d.disable_on_gone,
        allow_private_targets: settings.allow_private_targets,
        shard: packhooks_delivery::Shard { index: d.shard.index, count: d.shard.count },
        ..defaults
    }
}

/// The HTTP/1.1 server of [`packhooks_api::app`], as actix-web's `HttpServer` assembles it
/// (actix-server workers, actix-http's service, a graceful stop that closes idle keep-alive
/// connections), with each connection wrapped in [`ProblemAnswers`] so that the requests the
/// HTTP parser refuses are answered in problem+json like every other error.
fn http_server(listener: TcpListener, workers: usize, settings: &Settings, state: ApiState) -> std::io::Result<Server> {
    let address = listener.local_addr()?;
    let request_timeout = settings.request_timeout;
    let builder = Server::build()
        .workers(workers)
        // actix counts connections per worker.
        .max_concurrent_connections(settings.max_connections.div_ceil(workers))
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    let stopping = builder.graceful_shutdown_signal();
    let server = builder.listen("packhooks-http", listener, move || {
        let stopping = stopping.clone();
        let http = HttpService::build()
            .client_request_timeout(request_timeout)
            .local_addr(address)
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            .finish(map_config(packhooks_api::app(state.clone()), |()| AppConfig::default()));
        fn_service(|io: actix_rt::net::TcpStream| async move {
            let _ = io.set_nodelay(true);
            let peer = io.peer_addr().ok();
            Ok((ProblemAnswers::new(io), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(server.run())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::delivery_config;
    use crate::settings::{Overrides, Settings};

    #[test]
    fn delivery_is_configured_from_every_delivery_setting() {
        let settings = Settings::load(
            &Overrides::default()
                .set("PACKHOOKS_MAX_ATTEMPTS", "5")
                .set("PACKHOOKS_RETRY_DELAYS", "2s,3s")
                .set("PACKHOOKS_RETRY_JITTER", "0.5")
                .set("PACKHOOKS_MAX_RETRY_AFTER", "90s")
                .set("PACKHOOKS_ATTEMPT_TIMEOUT", "4s")
                .set("PACKHOOKS_AUTO_DISABLE_AFTER", "2d")
                .set("PACKHOOKS_DISABLE_ON_GONE", "false")
                .set("PACKHOOKS_IN_FLIGHT_PER_WEBHOOK", "3")
                .set("PACKHOOKS_BACKLOG_PER_WEBHOOK", "99")
                .set("PACKHOOKS_CHECKPOINT_EVERY", "7")
                .set("PACKHOOKS_SHARD", "1/2")
                .set("PACKHOOKS_ALLOW_PRIVATE_TARGETS", "true"),
        )
        .expect("valid settings");
        let config = delivery_config(&settings);
        assert_eq!(config.retry.max_attempts, 5);
        assert_eq!(config.retry.delays, vec![Duration::from_secs(2), Duration::from_secs(3)]);
        assert_eq!(config.retry.jitter, 0.5);
        assert_eq!(config.retry.max_retry_after, Duration::from_secs(90));
        assert_eq!(config.attempt_timeout, Duration::from_secs(4));
        assert_eq!(config.auto_disable_after, Duration::from_secs(2 * 24 * 3600));
        assert!(!config.disable_on_gone);
        assert_eq!(config.in_flight_per_webhook, 3);
        assert_eq!(config.backlog_cap, 99);
        assert_eq!(config.checkpoint_every, 7);
        assert_eq!((config.shard.index, config.shard.count), (1, 2));
        assert!(config.allow_private_targets);
    }
}
