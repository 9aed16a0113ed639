//! The `opentrail` binary: `run`, `check-config`, `validate-logs`, `--version`.
//!
//! Exit codes: 0 success; 1 failure at run time (including a drain that did not finish within
//! the grace period — the data stays spooled for the next start — and invalid log or digest
//! files found by `validate-logs`); 2 usage or configuration error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use opentrail::config::{Config, FileFormat, SourceConfig};

#[derive(Parser)]
#[command(
    name = "opentrail",
    version,
    about = "Self-hosted, CloudTrail-compatible audit-trail agent"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent until SIGTERM/SIGINT, then drain and exit.
    Run {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and print what the agent would do.
    CheckConfig {
        /// Config file (TOML).
        file: PathBuf,
        /// Also try every destination once (S3 bucket, KMS key, SNS topic, log group, event
        /// bus, local tree) and report each; exit 1 if any fails.
        #[arg(long)]
        probe: bool,
    },
    /// Check a trail's delivered log files against its signed digests (as
    /// `aws cloudtrail validate-logs` does, plus digest chain continuity).
    ValidateLogs {
        /// Config file (TOML) of the agent that delivered the files.
        #[arg(long, short)]
        config: PathBuf,
        /// Trail name.
        #[arg(long)]
        trail: String,
        /// Start of the range (`2026-01-10T00:00:00Z`, or Unix seconds).
        #[arg(long)]
        start_time: String,
        /// End of the range (default: now).
        #[arg(long)]
        end_time: Option<String>,
        /// Print every valid file too.
        #[arg(long)]
        verbose: bool,
    },
}

/// Parses `2026-01-10T00:00:00Z` (RFC 3339, or without zone: UTC), a date, or Unix seconds.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Pins glibc malloc's mmap threshold at 1 MiB, unless the operator set
/// `MALLOC_MMAP_THRESHOLD_`. glibc raises the threshold each time a mapped block is freed, so
/// after the first few the agent's large, short-lived buffers (WAL groups, record batches and
/// chunks handed from one thread to another) come from the heap arenas instead, where they
/// fragment: on the 2 GB benchmark peak RSS grew to 169–179 MiB over a live heap of 114 MiB.
/// With the threshold pinned they are mapped and given back whole: 148 MiB, for 2–9% more CPU
/// (the page faults of mapped buffers). See benches/README.md. Only the binary does this: the
/// C ABI library leaves its host's allocator alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before any other
        // thread exists. A refusal (return value 0) leaves glibc's default, which is harmless.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

fn main() -> ExitCode {
    pin_mmap_threshold();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.log_format);
    match cli.command {
        Command::CheckConfig { file, probe } => match Config::load(&file) {
            Ok(cfg) => {
                print!("{}", describe(&cfg));
                if !probe {
                    return ExitCode::SUCCESS;
                }
                let mut failed = 0;
                for p in opentrail::probe::run(&cfg) {
                    match &p.outcome {
                        Ok(note) => println!("probe {}: ok ({note})", p.target),
                        Err(why) => {
                            failed += 1;
                            println!("probe {}: FAILED: {why}", p.target);
                        }
                    }
                }
                if failed > 0 {
                    eprintln!("opentrail: {failed} destination probe(s) failed");
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("opentrail: invalid configuration: {e}");
                ExitCode::from(2)
            }
        },
        Command::ValidateLogs {
            config,
            trail,
            start_time,
            end_time,
            verbose,
        } => {
            let cfg = match Config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("opentrail: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            let Some(start) = parse_time(&start_time) else {
                eprintln!("opentrail: --start-time {start_time:?} is not a time");
                return ExitCode::from(2);
            };
            let end = match end_time.as_deref().map(parse_time) {
                None => chrono::Utc::now().timestamp(),
                Some(Some(t)) => t,
                Some(None) => {
                    eprintln!("opentrail: --end-time is not a time");
                    return ExitCode::from(2);
                }
            };
            if end < start {
                eprintln!("opentrail: --end-time is before --start-time");
                return ExitCode::from(2);
            }
            match opentrail::digest::validate::validate_logs(&cfg, &trail, start, end, verbose) {
                Ok(summary) if summary.ok() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(e @ opentrail::digest::validate::ValidateError::NoTrail(_)) => {
                    eprintln!("opentrail: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("opentrail: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Run { config } => {
            let cfg = match Config::load(&config) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("opentrail: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            match run(cfg) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("opentrail: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENTRAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs until a signal; returns whether everything read was delivered.
fn run(cfg: Config) -> anyhow::Result<bool> {
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    let agent = opentrail::Agent::start(cfg).context("cannot start")?;
    tracing::info!(version = opentrail::VERSION, "opentrail running");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start signal runtime")?;
    let signal = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok::<_, std::io::Error>("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    })?;
    tracing::info!(
        signal,
        grace_secs = grace.as_secs(),
        "shutting down: delivering everything read so far"
    );
    let clean = agent.shutdown(grace);
    let stats = agent.stats();
    if clean {
        tracing::info!(
            delivered = stats.records_delivered,
            files = stats.files_delivered,
            "drained; bye"
        );
    } else {
        tracing::error!(
            pending = stats.records_pending,
            "grace period over before everything was delivered; the rest stays spooled and is delivered at the next start"
        );
    }
    Ok(clean)
}

fn describe(cfg: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "configuration OK");
    let _ = writeln!(s, "data_dir: {}", cfg.data_dir.display());
    if cfg.storage.local_root.is_none() {
        let _ = writeln!(
            s,
            "destination: Amazon S3 (region {}, endpoint {})",
            cfg.aws
                .region
                .as_deref()
                .unwrap_or("from the AWS environment"),
            cfg.aws
                .endpoint_url
                .as_deref()
                .unwrap_or("AWS default or AWS_ENDPOINT_URL_S3")
        );
    }
    if let Some(root) = &cfg.storage.local_root {
        let _ = writeln!(
            s,
            "destination: local tree at {} (bucket B, key K -> {}/B/K)",
            root.display(),
            root.display()
        );
    }
    let _ = writeln!(
        s,
        "intake: max_record_bytes={} memory_limit_mb={} durability={:?} default account={}",
        cfg.max_record_bytes,
        cfg.memory_limit_mb,
        cfg.durability,
        cfg.account_id
            .as_deref()
            .unwrap_or("(none: records must name one)")
    );
    for src in &cfg.sources {
        match src {
            SourceConfig::File { paths, format, .. } => {
                let what = match format {
                    FileFormat::Lines => "tail JSON lines from",
                    FileFormat::Cloudtrail => "import whole CloudTrail log files from",
                };
                let _ = writeln!(s, "source: file, {what} {}", paths.join(", "));
            }
            SourceConfig::Http {
                listen,
                max_body_bytes,
            } => {
                let _ = writeln!(
                    s,
                    "source: http, POST http://{listen}/v1/events (max body {max_body_bytes} bytes)"
                );
            }
        }
    }
    if let Some(m) = cfg.metrics.listen {
        let _ = writeln!(s, "metrics: http://{m}/metrics");
    }
    if let Some(a) = cfg.api.listen {
        let scheme = if cfg.api.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let _ = writeln!(
            s,
            "api: CloudTrail JSON 1.1 at {scheme}://{a}/, SigV4 keys in {}, policies in {}",
            cfg.api.credentials_path(&cfg.data_dir).display(),
            cfg.api.policy_path(&cfg.data_dir).display()
        );
    }
    let trails = cfg.trails();
    if trails.is_empty() {
        let _ = writeln!(
            s,
            "trails: none in this file (trails created through the API are in {}; a record no \
             trail takes is quarantined as no_trail)",
            cfg.data_dir.join("trails").join("trails.json").display()
        );
    }
    let deliveries = cfg.trail_deliveries();
    let streams = cfg.trail_streams();
    for (t, st) in trails.into_iter().zip(streams) {
        if let Some(g) = &st.log_group {
            let _ = writeln!(
                s,
                "trail {}: every record to CloudWatch Logs group {} ({}), stream <account>_CloudTrail_<region>",
                t.name, g.name, g.region
            );
        }
        if let Some(b) = &st.event_bus {
            let _ = writeln!(
                s,
                "trail {}: every record to EventBridge bus {} ({}), source {}<service>",
                t.name, b.bus, b.region, b.source_prefix
            );
        }
        if let Some(d) = deliveries.iter().find(|d| d.name == t.name) {
            let sse = match &d.encryption {
                opentrail::config::Encryption::Aes256 => "SSE-S3 (AES256)".to_string(),
                opentrail::config::Encryption::Kms { key_id, bucket_key } => {
                    format!(
                        "SSE-KMS key {key_id}{}",
                        if *bucket_key { " with bucket key" } else { "" }
                    )
                }
            };
            let sns = d.sns_topic_arn.as_deref().unwrap_or("none");
            let _ = writeln!(
                s,
                "trail {}: encryption {sse}; SNS notifications to {sns}",
                t.name
            );
        }
        let regions = if t.multi_region {
            "all regions".to_string()
        } else {
            format!("region {} only", t.home_region)
        };
        let _ = writeln!(
            s,
            "trail {}: {regions}; global service events {}; s3://{}/{}AWSLogs/<account>/CloudTrail/<region>/...; every {}s or {} bytes; gzip level {}",
            t.name,
            if t.include_global {
                "included (filed under us-east-1)"
            } else {
                "excluded"
            },
            t.bucket,
            if t.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", t.prefix)
            },
            t.delivery_interval_secs,
            t.max_file_bytes,
            t.gzip_level
        );
        if let Some(secs) = t.digest_interval_secs {
            let _ = writeln!(
                s,
                "trail {}: log file validation: a signed digest every {secs}s per account and region",
                t.name
            );
        }
    }
    s
}
