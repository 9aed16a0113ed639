//! The agent: builds the pipeline from a [`Config`], runs it, and drains it on shutdown.
//!
//! Start-up order: lock the data dir → recover the batcher checkpoint → replay the WAL tail into
//! the batcher → start the record streams (each registers its WAL cursor) → start the WAL
//! writer, batcher, compression and delivery threads → start sources.
//! Shutdown order is the reverse: sources stop (HTTP requests in flight still get their answer),
//! the WAL commits what is queued and closes, the batcher seals every open file and waits (up to
//! the grace period) for destinations, the streams catch up with the WAL (same deadline), then
//! everything is joined. Whatever was not delivered in
//! time stays in the data dir and is delivered by the next start.
//!
//! [`Agent`] is also the embedding API (the C ABI wraps it): `submit`, `submit_batch`, `flush`,
//! `stats` and `shutdown` are safe to call from many threads at once.

use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::batch::{Batcher, BatcherParts, Control};
use crate::config::{Config, Durability, FileFormat, SourceConfig};
use crate::deliver::{self, Destination};
use crate::destination;
use crate::gather::{Gather, GatherError};
use crate::intake::{Budget, Intake, IntakeError};
use crate::metrics::Metrics;
use crate::quarantine::{Origin, Quarantine};
use crate::record::{Limits, RejectReason, Rejection, validate};
use crate::route::{Router, SharedRouter};
use crate::source::{cloudtrail::CloudTrailSource, http, tail::TailSource};
use crate::wal::{self, WalError, WalHandle};

/// Errors starting or running the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("data dir {0} is in use by another opentrail process")]
    Locked(PathBuf),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchError),
    #[error("cannot set up delivery: {0}")]
    Delivery(destination::BuildError),
    #[error("cannot set up log file validation: {0}")]
    Digest(#[from] crate::digest::DigestError),
    #[error("cannot load trails: {0}")]
    Trails(#[from] crate::trails::live::PrepareError),
    #[error("cannot set up API access control: {0}")]
    ApiAuth(#[from] crate::auth::AuthLoadError),
    #[error("cannot set up TLS for the API: {0}")]
    ApiTls(#[from] crate::auth::TlsError),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
    let what = what.into();
    move |error| AgentError::Io { what, error }
}

/// Why a submitted record was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid record: {0}")]
    Invalid(Rejection),
    #[error("busy: the memory budget stayed full for submit_timeout_ms")]
    Busy,
    #[error("the agent is shut down")]
    Closed,
    #[error("timed out waiting for the record to become durable")]
    Timeout,
    #[error("the write-ahead log failed: {0}")]
    Wal(String),
}

/// Counters, as the embedding API reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub records_accepted: u64,
    pub records_rejected: u64,
    pub records_delivered: u64,
    pub records_pending: u64,
    pub files_delivered: u64,
    pub bytes_delivered: u64,
}

/// A running agent.
pub struct Agent {
    config: Config,
    intake: Arc<Intake>,
    /// The submit buffer (`durability = "memory"` only; `"spool"` submits spool directly).
    gather: Option<Gather>,
    metrics: Arc<Metrics>,
    control: Sender<Control>,
    stop_sources: Arc<AtomicBool>,
    closed: AtomicBool,
    grace_ms: Arc<AtomicU64>,
    /// Each record stream's progress (records below are delivered).
    stream_progress: Vec<Arc<AtomicU64>>,
    threads: Mutex<Threads>,
    /// Digest keys and delivery status, shared with the control-plane API.
    digest: Arc<crate::digest::Shared>,
    /// The trail set, changed through the control-plane API.
    trails: Arc<crate::trails::LiveTrails>,
    _lock: File,
}

#[derive(Default)]
struct Threads {
    sources: Vec<JoinHandle<()>>,
    wal: Option<JoinHandle<()>>,
    batcher: Option<JoinHandle<Result<(), crate::batch::BatchError>>>,
    delivery: Vec<JoinHandle<()>>,
    delivery_stop: Arc<AtomicBool>,
    streams: Vec<crate::stream::Stream>,
    stream_stop: Arc<AtomicBool>,
    runtime: Option<tokio::runtime::Runtime>,
    servers: Vec<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Agent {
    /// Starts the pipeline described by `config`.
    pub fn start(config: Config) -> Result<Self, AgentError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(io(format!("cannot create data dir {}", data_dir.display())))?;
        let lock = lock_data_dir(&data_dir)?;
        // From here on the configuration's trails are the trail store's (config file + API).
        let (store, config) = crate::trails::live::prepare(&config)?;
        let metrics = Arc::new(Metrics::default());
        let quarantine = Arc::new(
            Quarantine::open(&data_dir.join("quarantine"), metrics.clone())
                .map_err(io("cannot open quarantine"))?,
        );
        let trail_set =
            crate::trails::live::runtime_trails(&config, &store, crate::api::compile_selectors)
                .map_err(|error| {
                    AgentError::Trails(crate::trails::live::PrepareError::Invalid {
                        path: data_dir.join("trails").join("trails.json"),
                        error,
                    })
                })?;
        let router = Arc::new(Router::new(trail_set, config.organization_accounts()));
        let shared_router = Arc::new(SharedRouter::new(router.clone()));
        let limits = Limits {
            max_record_bytes: config.max_record_bytes,
            default_account: config.default_account(),
        };
        let budget_bytes = config.memory_limit_mb * 1024 * 1024;
        // A quarter of the budget for records queued between sources and the batcher, half for
        // the batcher's not yet compressed bytes, the rest for chunks at the workers.
        let budget = Arc::new(Budget::new(budget_bytes / 4, metrics.clone()));

        let (spooled_tx, spooled_rx) = crossbeam_channel::bounded(32);
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let (delivered_tx, delivered_rx) = crossbeam_channel::unbounded();
        let recovered = wal::open(&data_dir.join("wal"), spooled_tx, metrics.clone())?;

        let destinations =
            destination::build(&config, &quarantine, &metrics).map_err(AgentError::Delivery)?;
        let digest = Arc::new(
            crate::digest::Shared::open(&data_dir)
                .map_err(|e| AgentError::Digest(e.into()))?
                .with_kms(&config)?,
        );
        let dest_count = destinations.files.len();
        let (trail_table, notifies) = (destinations.trails.clone(), destinations.notifies);
        let mut dest_queues = Vec::new();
        let mut threads = Threads::default();
        let files: Vec<Arc<dyn Destination>> = destinations.files;
        for (i, dest) in files.into_iter().enumerate() {
            let (tx, rx) = crossbeam_channel::unbounded();
            dest_queues.push(tx);
            let handle = deliver::spawn(
                i,
                dest,
                rx,
                delivered_tx.clone(),
                metrics.clone(),
                digest.clone(),
                threads.delivery_stop.clone(),
            )
            .map_err(io("cannot start delivery thread"))?;
            threads.delivery.push(handle);
        }
        drop(delivered_tx);

        // One more worker than CPUs: the pipeline threads block now and then, and a spare worker
        // keeps every core compressing meanwhile (measured in benches/README.md).
        let compression_threads = config
            .compression_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()) + 1)
            .max(1);
        let parts = BatcherParts {
            data_dir: data_dir.clone(),
            router: router.clone(),
            wal: recovered.handle.clone(),
            metrics: metrics.clone(),
            budget: budget.clone(),
            records: spooled_rx,
            control: control_rx,
            delivered: delivered_rx,
            destinations: dest_queues,
            compression_threads,
            background_nice: config.background_nice,
            pending_limit: (budget_bytes / 2) as usize,
            digester: crate::digest::Digester::open(
                &data_dir,
                router.trails(),
                config.account_id.as_deref(),
                digest.clone(),
                dest_count,
                chrono::Utc::now().timestamp(),
            )?,
        };
        let (mut batcher, replay_from) = Batcher::recover(parts)?;
        let mut replayed = 0u64;
        let mut replay_err = None;
        wal::replay(&data_dir.join("wal"), replay_from, |seq, bytes| {
            if replay_err.is_some() {
                return;
            }
            let routed = validate(&bytes, &limits).and_then(|record| {
                let mut trails = Vec::new();
                router.route(&record, &mut trails);
                if trails.is_empty() {
                    Err(Rejection::new(
                        RejectReason::NoTrail,
                        "no configured trail receives this record any more (configuration changed)",
                    ))
                } else {
                    Ok(record)
                }
            });
            match routed {
                Ok(record) => {
                    replayed += 1;
                    if let Err(e) = batcher.replay(seq, record) {
                        replay_err = Some(e);
                    }
                }
                Err(rej) => {
                    let origin = Origin {
                        source: "wal-replay".into(),
                        position: format!("seq {seq}"),
                    };
                    quarantine.put(&rej, &origin, &bytes);
                }
            }
        })?;
        if let Some(e) = replay_err {
            return Err(e.into());
        }
        if replayed > 0 {
            tracing::info!(
                records = replayed,
                "replayed records from the write-ahead log"
            );
        }
        metrics.records_replayed.store(replayed, Relaxed);

        for sink in destinations.streams {
            let parts = crate::stream::StreamParts {
                wal: recovered.handle.clone(),
                router: shared_router.clone(),
                limits: limits.clone(),
                metrics: metrics.clone(),
                state_dir: data_dir.join("streams"),
                start_seq: recovered.next_seq,
                stop: threads.stream_stop.clone(),
            };
            let stream =
                crate::stream::spawn(sink, parts).map_err(io("cannot start record stream"))?;
            threads.streams.push(stream);
        }

        let writer = recovered.writer;
        let nice = config.background_nice;
        threads.wal = Some(
            std::thread::Builder::new()
                .name("ot-wal".into())
                .spawn(move || {
                    crate::priority::lower_current_thread(nice);
                    writer.run()
                })
                .map_err(io("cannot start WAL thread"))?,
        );
        let grace_ms = Arc::new(AtomicU64::new(config.shutdown_grace_secs * 1000));
        let grace = grace_ms.clone();
        threads.batcher = Some(
            std::thread::Builder::new()
                .name("ot-batcher".into())
                .spawn(move || {
                    batcher.run(Arc::new(move || Duration::from_millis(grace.load(Relaxed))))
                })
                .map_err(io("cannot start batcher thread"))?,
        );

        let intake = Arc::new(Intake {
            limits,
            router: shared_router.clone(),
            quarantine,
            metrics: metrics.clone(),
            wal: recovered.handle,
            budget,
            disk_limit: config.disk_limit_mb.saturating_mul(1024 * 1024),
            disk_waiting: AtomicBool::new(false),
        });
        let trails = Arc::new(crate::trails::LiveTrails::new(
            &config,
            store,
            crate::trails::live::Pipeline {
                router: shared_router,
                deliveries: trail_table,
                batcher: control_tx.clone(),
                notifies,
            },
            crate::api::compile_selectors,
        ));
        let stop_sources = Arc::new(AtomicBool::new(false));
        let gather = match config.durability {
            Durability::Memory => Some(
                Gather::start(intake.clone()).map_err(io("cannot start submit buffer thread"))?,
            ),
            Durability::Spool => None,
        };
        let agent = Agent {
            config,
            intake,
            gather,
            metrics,
            control: control_tx,
            stop_sources,
            closed: AtomicBool::new(false),
            grace_ms,
            stream_progress: threads
                .streams
                .iter()
                .map(|s| s.delivered.clone())
                .collect(),
            threads: Mutex::new(threads),
            digest,
            trails,
            _lock: lock,
        };
        if let Err(e) = agent.start_sources() {
            let _ = agent.shutdown(Duration::from_secs(5));
            return Err(e);
        }
        Ok(agent)
    }

    fn start_sources(&self) -> Result<(), AgentError> {
        let mut threads = self.threads.lock();
        let mut http_routes = Vec::new();
        for (i, src) in self.config.sources.iter().enumerate() {
            match src {
                SourceConfig::File {
                    paths,
                    format,
                    poll_interval_ms,
                } => {
                    let poll = Duration::from_millis(*poll_interval_ms);
                    let (intake, stop, patterns) = (
                        self.intake.clone(),
                        self.stop_sources.clone(),
                        paths.clone(),
                    );
                    let handle = match format {
                        FileFormat::Lines => std::thread::Builder::new()
                            .name(format!("ot-source-{i}"))
                            .spawn(move || {
                                TailSource {
                                    patterns,
                                    poll,
                                    intake,
                                    stop,
                                }
                                .run()
                            }),
                        FileFormat::Cloudtrail => std::thread::Builder::new()
                            .name(format!("ot-source-{i}"))
                            .spawn(move || {
                                CloudTrailSource {
                                    patterns,
                                    poll,
                                    intake,
                                    stop,
                                }
                                .run()
                            }),
                    }
                    .map_err(io("cannot start source thread"))?;
                    threads.sources.push(handle);
                }
                SourceConfig::Http {
                    listen,
                    max_body_bytes,
                } => {
                    http_routes.push((
                        *listen,
                        http::router(self.intake.clone(), *listen, *max_body_bytes),
                    ));
                }
            }
        }
        if let Some(listen) = self.config.metrics.listen {
            let metrics = self.metrics.clone();
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let m = metrics.clone();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            m.render(),
                        )
                    }
                }),
            );
            http_routes.push((listen, router));
        }
        let mut api_tls = None;
        if let Some(listen) = self.config.api.listen {
            let api =
                crate::api::Api::new(self.trails.clone(), self.digest.clone(), self.api_auth()?);
            http_routes.push((listen, crate::api::router(Arc::new(api))));
            if let (Some(cert), Some(key)) = (&self.config.api.tls_cert, &self.config.api.tls_key) {
                api_tls = Some((listen, crate::auth::tls_acceptor(cert, key)?));
            }
        }
        if http_routes.is_empty() {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ot-http")
            .enable_all()
            .build()
            .map_err(io("cannot start HTTP runtime"))?;
        for (addr, router) in http_routes {
            let std_listener =
                std::net::TcpListener::bind(addr).map_err(|source| AgentError::Listen {
                    addr,
                    error: source,
                })?;
            std_listener
                .set_nonblocking(true)
                .map_err(|source| AgentError::Listen {
                    addr,
                    error: source,
                })?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let _guard = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|source| {
                AgentError::Listen {
                    addr,
                    error: source,
                }
            })?;
            let shutdown = async move {
                let _ = rx.await;
            };
            let task = match api_tls.as_ref().filter(|(a, _)| *a == addr) {
                Some((_, acceptor)) => {
                    let tls =
                        crate::api::tls_listener::TlsListener::new(listener, acceptor.clone())
                            .map_err(|error| AgentError::Listen { addr, error })?;
                    tracing::info!(%addr, "listening (TLS)");
                    runtime.spawn(async move {
                        let serve = axum::serve(tls, router).with_graceful_shutdown(shutdown);
                        if let Err(e) = serve.await {
                            tracing::error!(%addr, error = %e, "HTTPS server failed");
                        }
                    })
                }
                None => {
                    tracing::info!(%addr, "listening");
                    runtime.spawn(async move {
                        let serve = axum::serve(listener, router).with_graceful_shutdown(shutdown);
                        if let Err(e) = serve.await {
                            tracing::error!(%addr, error = %e, "HTTP server failed");
                        }
                    })
                }
            };
            threads.servers.push((tx, task));
        }
        threads.runtime = Some(runtime);
        Ok(())
    }

    /// The API's access control: the credentials and policies files (created with one admin
    /// key on a first start; only the file's path is logged, never the secret).
    fn api_auth(&self) -> Result<crate::auth::ApiAuth, AgentError> {
        let api = &self.config.api;
        let (auth, created) = crate::auth::ApiAuth::load_or_init(
            &api.credentials_path(&self.config.data_dir),
            &api.policy_path(&self.config.data_dir),
            &self.trails.account,
        )?;
        if let Some(path) = created {
            tracing::warn!(path = %path.display(), "created API credentials: one access key for {}; read it from this file", crate::auth::ADMIN_USER);
        }
        tracing::info!(
            keys = auth.credentials().len(),
            principals = auth.policies().len(),
            "API access control loaded"
        );
        // Identical read calls within one second carry identical signatures (botocore signs
        // nothing unique per call): replays are refused for calls that change something.
        Ok(auth.with_replay_scope(crate::auth::ReplayScope::MutatingOnly))
    }

    /// The configuration the agent runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Validates and takes one record. With `durability = "spool"` it returns once the record is
    /// durable; with `"memory"` once it is queued (in the submit buffer, [`crate::gather`], which
    /// reaches the WAL within a few milliseconds, and at once on `flush` and `shutdown`).
    pub fn submit(&self, record: &[u8]) -> Result<(), SubmitError> {
        if self.closed.load(Relaxed) {
            return Err(SubmitError::Closed);
        }
        let origin = || Origin {
            source: "ffi".into(),
            position: "submit".into(),
        };
        let rec = self
            .intake
            .check(record, origin)
            .map_err(SubmitError::Invalid)?;
        match &self.gather {
            Some(g) => {
                let bytes = rec.footprint();
                self.gather_put(g, std::iter::once(rec), bytes)
            }
            None => self.spool_and_wait(vec![rec]),
        }
    }

    /// Validates each line of `json_lines` alone and takes the valid ones. Returns the number
    /// accepted and the refusals (0-based line index, reason).
    pub fn submit_batch(
        &self,
        json_lines: &[u8],
    ) -> Result<(usize, Vec<(usize, Rejection)>), SubmitError> {
        if self.closed.load(Relaxed) {
            return Err(SubmitError::Closed);
        }
        let mut records = Vec::new();
        let mut refused = Vec::new();
        let mut start = 0usize;
        let ends = memchr::memchr_iter(b'\n', json_lines).chain(std::iter::once(json_lines.len()));
        for (i, end) in ends.enumerate() {
            let line = &json_lines[start..end];
            start = end + 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let origin = || Origin {
                source: "ffi".into(),
                position: format!("batch line {i}"),
            };
            match self.intake.check(line, origin) {
                Ok(r) => records.push(r),
                Err(rej) => refused.push((i, rej)),
            }
        }
        let accepted = records.len();
        if accepted > 0 {
            match &self.gather {
                Some(g) => {
                    let bytes = records.iter().map(crate::record::Record::footprint).sum();
                    self.gather_put(g, records, bytes)?;
                }
                None => self.spool_and_wait(records)?,
            }
        }
        Ok((accepted, refused))
    }

    /// Reserves `bytes` (the records' total) in the memory budget and puts `records` in the
    /// submit buffer.
    fn gather_put(
        &self,
        g: &Gather,
        records: impl IntoIterator<Item = crate::record::Record>,
        bytes: u64,
    ) -> Result<(), SubmitError> {
        let timeout = Duration::from_millis(self.config.submit_timeout_ms);
        self.intake
            .reserve(bytes, Some(timeout))
            .map_err(|_| SubmitError::Busy)?;
        g.put(records, bytes).map_err(|e| match e {
            GatherError::Closed | GatherError::Wal(WalError::Closed) => SubmitError::Closed,
            GatherError::Wal(e) => SubmitError::Wal(e.to_string()),
        })
    }

    fn spool_and_wait(&self, records: Vec<crate::record::Record>) -> Result<(), SubmitError> {
        let timeout = Duration::from_millis(self.config.submit_timeout_ms);
        let ticket = self
            .intake
            .spool(records, Vec::new(), Some(timeout))
            .map_err(|e| match e {
                IntakeError::Busy => SubmitError::Busy,
                IntakeError::Wal(WalError::Closed) => SubmitError::Closed,
                IntakeError::Wal(e) => SubmitError::Wal(e.to_string()),
            })?;
        if self.config.durability == Durability::Spool {
            match self
                .intake
                .wal
                .wait(ticket, timeout.max(Duration::from_secs(30)))
            {
                Ok(true) => {}
                Ok(false) => return Err(SubmitError::Timeout),
                Err(e) => return Err(SubmitError::Wal(e.to_string())),
            }
        }
        Ok(())
    }

    /// Seals every open file now and waits until everything submitted before the call is
    /// delivered. Returns false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        if let Some(g) = &self.gather
            && g.drain().is_err()
        {
            return false;
        }
        let Ok(true) = self.intake.wal.sync(timeout) else {
            return false;
        };
        let upto_seq = self.intake.wal.durable_seq();
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self
            .control
            .send(Control::Flush {
                upto_seq,
                reply: tx,
            })
            .is_err()
        {
            return false;
        }
        if rx.recv_deadline(deadline).is_err() {
            return false;
        }
        self.wait_streams(upto_seq, deadline)
    }

    /// Waits until every record stream delivered the records below `seq`.
    fn wait_streams(&self, seq: u64, deadline: std::time::Instant) -> bool {
        loop {
            if self.stream_progress.iter().all(|d| d.load(Relaxed) >= seq) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let m = &self.metrics;
        Stats {
            records_accepted: m.records_accepted.load(Relaxed),
            records_rejected: m.rejected_total(),
            records_delivered: m.records_delivered.load(Relaxed),
            records_pending: m.records_pending.load(Relaxed),
            files_delivered: m.files_delivered.load(Relaxed),
            bytes_delivered: m.bytes_delivered.load(Relaxed),
        }
    }

    /// True once shutdown started.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Stops sources, delivers everything read so far (waiting at most `grace`), and stops.
    /// Returns true when everything was delivered. Idempotent.
    pub fn shutdown(&self, grace: Duration) -> bool {
        let deadline = std::time::Instant::now() + grace;
        self.closed.store(true, Relaxed);
        self.grace_ms.store(grace.as_millis() as u64, Relaxed);
        self.stop_sources.store(true, Relaxed);
        let mut threads = self.threads.lock();
        for t in threads.sources.drain(..) {
            let _ = t.join();
        }
        if let Some(rt) = threads.runtime.take() {
            let servers: Vec<_> = threads.servers.drain(..).collect();
            rt.block_on(async move {
                for (stop, task) in servers {
                    let _ = stop.send(());
                    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        // Submits that raced `closed` are either in the buffer now (appended here) or refused.
        if let Some(g) = &self.gather
            && let Err(e) = g.close()
        {
            tracing::error!(error = %e, "submitted records were lost at shutdown");
        }
        self.intake.wal.close();
        if let Some(t) = threads.wal.take() {
            let _ = t.join();
        }
        let mut clean = true;
        if let Some(t) = threads.batcher.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "batcher failed");
                    clean = false;
                }
                Err(_) => clean = false,
            }
        }
        threads.delivery_stop.store(true, Relaxed);
        for t in threads.delivery.drain(..) {
            let _ = t.join();
        }
        // The WAL is closed: its durable sequence number is final. Streams get what is left of
        // the grace period to reach it; what they did not send is sent after the next start.
        let last = self.intake.wal.durable_seq();
        let streams: Vec<_> = threads.streams.drain(..).collect();
        loop {
            let behind = streams
                .iter()
                .filter(|s| s.delivered.load(Relaxed) < last)
                .count();
            if behind == 0 || std::time::Instant::now() >= deadline {
                if behind > 0 {
                    tracing::warn!(
                        streams = behind,
                        "record streams did not catch up within the grace period; they resume after the next start"
                    );
                    clean = false;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        threads.stream_stop.store(true, Relaxed);
        for s in streams {
            let _ = s.handle.join();
        }
        clean && self.metrics.records_pending.load(Relaxed) == 0
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.closed.load(Relaxed) {
            self.shutdown(Duration::from_millis(self.grace_ms.load(Relaxed)));
        }
    }
}

/// Takes an exclusive lock on `<data_dir>/LOCK` so two agents never share a data dir.
fn lock_data_dir(dir: &std::path::Path) -> Result<File, AgentError> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("cannot open {}", path.display())))?;
    // SAFETY: flock on a valid, open descriptor owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(AgentError::Locked(dir.to_path_buf()));
    }
    Ok(file)
}

/// For tests and tools: the WAL handle.
impl Agent {
    #[doc(hidden)]
    pub fn wal(&self) -> &WalHandle {
        &self.intake.wal
    }
}
