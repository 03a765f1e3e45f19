//! The `sockscope` command line: `gui` (default), `serve`, `proxy`,
//! `replay`, `import-har`, `export-artillery`, `bench`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use sockscope::core::config::{KvLocation, Limits, all_cpus, default_io_threads};
use sockscope::core::gateway::OutgoingFrames;
use sockscope::engine::config::DenyAnswer;
use sockscope::launch::LaunchConfig;
use sockscope::loadgen::{BenchOptions, SendPattern, run_bench};
use sockscope::nitric::{DEFAULT_SERVICE_ADDRESS, NitricConfig, read_project, service_specs};
use sockscope::proxy::ProxyConfig;
use sockscope::script::Gateway;
use sockscope::script::bundled::default_script_path;
use sockscope::serve::{self, ServeOptions};
use sockscope::session::replay::Timing;
use sockscope::session::runner::{RunOptions, run_replays};
use sockscope::session::{artillery, har, read_session};

/// Exit code for bad input: flags, files, ports.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sockscope",
    version,
    about = "Inspector and tester for Nitric websocket handlers",
    long_about = "Runs Nitric websocket handlers (JavaScript, `import { websocket, kv } from '@nitric/sdk'`) \
                  in an embedded websocket server and shows every connection, frame and kv change."
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<CliCommand>,
    /// With no command, the window opens with these server settings.
    #[command(flatten)]
    gui: GuiArgs,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Open the inspector window with the server running (the default).
    Gui(GuiArgs),
    /// Run the websocket server without a window (CI, remote machines).
    Serve(ServeArgs),
    /// Forward every connection to another websocket server, logging and recording it.
    Proxy(ProxyArgs),
    /// Replay session files against the embedded server or a ws:// URL; exit 1 on a mismatch.
    Replay(ReplayArgs),
    /// Convert the websocket traffic of a browser HAR export into a session file.
    ImportHar(ImportHarArgs),
    /// Write an Artillery load-test script (engine: ws) from a session file.
    ExportArtillery(ExportArtilleryArgs),
    /// Load-test a websocket echo server: throughput, connects/s and round-trip latency.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Server to load. It must answer every message with one message (an echo).
    #[arg(long, value_name = "ws://HOST:PORT")]
    url: String,
    /// Connections to open; all stay open while messages flow.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    connections: u64,
    /// Messages each connection sends (and expects back).
    #[arg(long, value_name = "M", default_value_t = 1000)]
    messages: u64,
    /// Payload size of each message.
    #[arg(long, value_name = "BYTES", default_value_t = 32)]
    size: u64,
    /// Most messages in flight per connection.
    #[arg(long, value_name = "W", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    window: u64,
    /// Send binary frames instead of text.
    #[arg(long)]
    binary: bool,
    /// `trickle`: one write per message, as browsers and most clients send;
    /// `burst`: the whole window in one write (the server's best case).
    #[arg(long, value_enum, default_value = "trickle")]
    pattern: PatternArg,
    /// Messages per second over all connections (paced, for latency at a given load). Default: as fast as the window allows.
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// Most handshakes under way at once.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    connect_concurrency: u64,
    /// Longest wait for one handshake, and for one reply.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// Session files (.jsonl).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Server to replay against. Default: start the embedded server for each session.
    #[arg(long, value_name = "ws://HOST:PORT")]
    url: Option<String>,
    /// Script for the embedded server. Default: the session's "script", else the bundled chat example.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "run", "project"])]
    script: Option<PathBuf>,
    /// Replay against your own service, started fresh for each session with this command
    /// (repeatable), as `serve --run` starts it.
    #[arg(long = "run", value_name = "CMD", conflicts_with_all = ["url", "project"])]
    run: Vec<String>,
    /// Replay against the services of this Nitric project, started fresh for each session.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    project: Option<PathBuf>,
    /// `recorded`: send at the recorded times; `fast`: send as soon as the replies recorded before arrived.
    #[arg(long, value_enum, default_value = "fast")]
    timing: TimingArg,
    /// Speed factor for recorded timing (2 = twice as fast).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    speed: f64,
    /// Longest wait for one expected message, close or handshake. Once a wait for a
    /// message runs out, that connection has diverged and waits no more.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    step_timeout_ms: u64,
    /// Also write the results as JUnit XML.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Replay each session N times against fresh embedded servers, each settling the
    /// handlers' kv and socket calls in another seeded order; exit 1 naming the seed
    /// when a run diverges or loses an update.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with_all = ["url", "run", "project"])]
    interleavings: Option<u32>,
    /// The seed of the first interleaving (alone: replay once with that order).
    #[arg(long, value_name = "S", conflicts_with_all = ["url", "run", "project"])]
    seed: Option<u64>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TimingArg {
    Recorded,
    Fast,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PatternArg {
    Trickle,
    Burst,
}

#[derive(Args)]
struct ImportHarArgs {
    /// HAR file exported from Chrome or Firefox devtools.
    #[arg(value_name = "FILE.har")]
    har: PathBuf,
    /// Session file to write.
    #[arg(short, long, value_name = "FILE.jsonl")]
    output: PathBuf,
}

#[derive(Args)]
struct ExportArtilleryArgs {
    /// Session file.
    #[arg(value_name = "FILE.jsonl")]
    session: PathBuf,
    /// Where to write the script. Default: stdout.
    #[arg(short, long, value_name = "FILE.yml")]
    output: Option<PathBuf>,
    /// The `config.target` of the script.
    #[arg(
        long,
        value_name = "ws://HOST:PORT",
        default_value = "ws://127.0.0.1:4001"
    )]
    target: String,
}

#[derive(Args)]
struct GuiArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Open in proxy mode: forward every connection to this server instead of running handlers.
    #[arg(long, value_name = "ws://HOST:PORT[/PATH]", conflicts_with_all = ["script", "run", "project"])]
    proxy: Option<String>,
    /// With --proxy: accept any certificate from a wss:// target (self-signed dev servers).
    #[arg(long, requires = "proxy")]
    insecure: bool,
}

#[derive(Args)]
struct ProxyArgs {
    /// The server to forward to; a client's path is appended to its path.
    #[arg(long, value_name = "ws://HOST:PORT[/PATH]")]
    target: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 = any free port).
    #[arg(long, value_name = "N", default_value_t = 4001)]
    port: u16,
    /// Record every connection into this session file until the proxy stops.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Log warnings and errors only (no line per message).
    #[arg(short, long)]
    quiet: bool,
    /// Accept any certificate from a wss:// target (self-signed dev servers).
    #[arg(long)]
    insecure: bool,
    /// Largest message passed either way; a bigger one closes the client with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_message_bytes: u64,
    /// Most connections at once (503 beyond).
    #[arg(long, value_name = "N", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Threads that carry the sockets, both sides. Default: one per CPU but one (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    io_threads: Option<u64>,
}

impl ProxyArgs {
    fn into_config(self) -> anyhow::Result<LaunchConfig> {
        let mut proxy = ProxyConfig::new(&self.target)?;
        proxy.is_insecure = self.insecure;
        let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        let mut config = LaunchConfig::new(PathBuf::new());
        config.proxy = Some(proxy);
        config.server.bind = self.bind;
        config.server.port = self.port;
        config.server.kv = KvLocation::Memory;
        let max_message_bytes = to_usize(self.max_message_bytes);
        config.server.limits = Limits {
            max_message_bytes,
            max_connections: to_usize(self.max_connections),
            // One message of the target's may be in the queue whole.
            outbound_queue_bytes: max_message_bytes.max(Limits::default().outbound_queue_bytes),
            ..Limits::default()
        };
        Ok(config)
    }
}

/// Settings shared by every command that runs the server.
#[derive(Args, Clone)]
struct ServerArgs {
    /// Handler script (ES module). Default: the bundled chat example.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["run", "project"])]
    script: Option<PathBuf>,
    /// Run your own Nitric service with this command (repeatable), as `nitric start` runs it:
    /// through `sh -c`, with SERVICE_ADDRESS set to a gRPC port of its own and `.env` applied.
    #[arg(long = "run", value_name = "CMD", conflicts_with = "project")]
    run: Vec<String>,
    /// Run a Nitric project: one process per file its nitric.yaml matches, in DIR, with
    /// DIR/.env and DIR/local.nitric.yaml, as `nitric start` does.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// With --project: run the service files in the embedded lane instead of their start
    /// commands (no Node needed; TypeScript, modules and npm packages load; one JavaScript
    /// context per service, sharing kv).
    #[arg(long, requires = "project")]
    embedded: bool,
    /// Where services started by hand reach sockscope (the SDKs' default); port 0 picks a free
    /// one. Served with --run/--project, or alone to wait for services you start yourself.
    #[arg(long, value_name = "HOST:PORT")]
    service_address: Option<SocketAddr>,
    /// Longest wait at start for every --run/--project service to register a websocket handler.
    #[arg(long, value_name = "S", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    startup_timeout: u64,
    /// Let services use kv stores without the permissions they declared, as `nitric start`
    /// does (a deployed app refuses them).
    #[arg(long)]
    no_permissions: bool,
    /// Address to listen on. Anything but loopback exposes handlers and kv to the network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free one (the printed URL shows it).
    #[arg(long, value_name = "N", default_value_t = 4001)]
    port: u16,
    /// kv store file (redb), or `:memory:` for a store that lives only as long as the process.
    #[arg(long, value_name = "FILE", default_value = ".sockscope/kv.redb")]
    kv: String,
    /// Largest message a client may send; larger ones close the connection with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_message_bytes: u64,
    /// Connections beyond this many are refused with HTTP 503.
    #[arg(long, value_name = "N", default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Time one handler chain may run before it is stopped and reported.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    handler_timeout_ms: u64,
    /// Memory cap of the script runtime.
    #[arg(long, value_name = "MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    script_memory_mb: u64,
    /// Unsent bytes per connection (one larger message is still sent alone); past it sends wait
    /// while the client reads, and a client that takes nothing for 0.5 s is closed with 1008.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    outbound_queue_bytes: u64,
    /// Close clients that send nothing for this long (1001). Off by default.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: Option<u64>,
    /// Only pages from this origin (e.g. http://localhost:3000) may connect; repeatable.
    /// Others, and clients sending no Origin, get HTTP 403. Default: any origin.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Threads that carry the sockets. Handlers run on one script thread of their own.
    /// Default: one per CPU but one (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    io_threads: Option<u64>,
    /// Answer a denied connect with this HTTP status and a body naming the reason,
    /// instead of nitric start's 500 "Connection Refused".
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(400..600))]
    deny_status: Option<u16>,
    /// Embedded lane: socket.send with bytes sends binary frames (nitric start sends text).
    #[arg(long)]
    binary_frames: bool,
    /// Embedded lane: socket.close sends a 1000 close frame (nitric start drops the connection).
    #[arg(long)]
    close_frames: bool,
    /// Run the sockets on the handlers' own thread (embedded lane): one CPU at most,
    /// no thread waiting busily for the next message, no hand-off between threads.
    /// For laptops on battery or a machine busy with other work; slower on an idle multi-core one.
    #[arg(long)]
    low_cpu: bool,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Reload the script whenever its file changes; open connections stay.
    #[arg(long)]
    watch: bool,
    /// Log warnings and errors only (no line per message).
    #[arg(short, long)]
    quiet: bool,
    /// Record every connection into this session file until the server stops.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// `--io-threads N`, or one per CPU but one.
fn io_threads_or_default(io_threads: Option<u64>) -> usize {
    io_threads
        .and_then(|threads| usize::try_from(threads).ok())
        .unwrap_or_else(default_io_threads)
}

impl ServerArgs {
    /// The real-runtime lane's services, if any flag asks for it, and the
    /// socket ports its project pins.
    fn services(&self) -> anyhow::Result<Option<(NitricConfig, BTreeMap<String, u16>)>> {
        if self.embedded {
            return Ok(None);
        }
        let (specs, pinned_ports) = service_specs(&self.run, self.project.as_deref())?;
        if specs.is_empty() && self.service_address.is_none() {
            return Ok(None);
        }
        let config = NitricConfig {
            services: specs,
            service_address: Some(self.service_address.unwrap_or(DEFAULT_SERVICE_ADDRESS)),
            startup_timeout: Duration::from_secs(self.startup_timeout),
            enforce_permissions: !self.no_permissions,
            watch: false,
        };
        Ok(Some((config, pinned_ports)))
    }

    fn into_config(self) -> anyhow::Result<LaunchConfig> {
        let services = self.services()?;
        let script_path = match (self.script, &services) {
            (Some(path), _) => path,
            // The script is not run when the services are.
            (None, Some(_)) => PathBuf::new(),
            (None, None) => {
                default_script_path().context("cannot write the bundled example script")?
            }
        };
        let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        let mut config = LaunchConfig::new(script_path);
        if let Some((services, pinned_ports)) = services {
            config.services = Some(services);
            config.server.pinned_ports = pinned_ports;
        }
        if let (true, Some(dir)) = (self.embedded, &self.project) {
            let project = read_project(dir)?;
            let mut files = project.service_files().into_iter();
            config.script.path = files.next().context("the project has no service files")?;
            config.script.other_services = files.collect();
            config.server.pinned_ports = project.socket_ports;
        }
        let server = &mut config.server;
        server.bind = self.bind;
        server.port = self.port;
        server.kv = KvLocation::parse(&self.kv);
        server.allowed_origins = self.allowed_origins;
        if let Some(denied) = self.deny_status {
            server.deny_answer = DenyAnswer::Explained { denied };
        }
        config.script.gateway = Gateway {
            frames: OutgoingFrames {
                binary: self.binary_frames,
            },
            close_frames: self.close_frames,
            allow_undeclared: self.no_permissions,
        };
        config.script.low_cpu = self.low_cpu;
        server.limits = Limits {
            max_message_bytes: to_usize(self.max_message_bytes),
            max_connections: to_usize(self.max_connections),
            handler_timeout: Duration::from_millis(self.handler_timeout_ms),
            script_memory_bytes: to_usize(self.script_memory_mb.saturating_mul(1024 * 1024)),
            outbound_queue_bytes: to_usize(self.outbound_queue_bytes),
            idle_timeout: self.idle_timeout_ms.map(Duration::from_millis),
            ..Limits::default()
        };
        Ok(config)
    }
}

/// Logs to stderr at `default_level` unless `RUST_LOG` says otherwise.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// The async runtime with `worker_threads` threads for sockets.
fn io_runtime(worker_threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .thread_name("sockscope-io")
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(CliCommand::Serve(args)) => {
            init_logging(if args.quiet { "warn" } else { "info" });
            let runtime = io_runtime(io_threads_or_default(args.server.io_threads))?;
            let mut config = args.server.into_config()?;
            config.script.watch = args.watch;
            if let Some(services) = &mut config.services {
                services.watch = args.watch;
            }
            runtime.block_on(serve::run(ServeOptions {
                config,
                quiet: args.quiet,
                record: args.record,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(CliCommand::Proxy(args)) => {
            init_logging(if args.quiet { "warn" } else { "info" });
            let runtime = io_runtime(io_threads_or_default(args.io_threads))?;
            let quiet = args.quiet;
            let record = args.record.clone();
            let config = args.into_config()?;
            runtime.block_on(serve::run(ServeOptions {
                config,
                quiet,
                record,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(CliCommand::Replay(args)) => {
            // The report says what diverged; of the engine's log only errors
            // (a handler that threw) help to explain it. A refusal the
            // session expects is no warning.
            init_logging("error");
            if !(args.speed.is_finite() && args.speed > 0.0) {
                anyhow::bail!("--speed must be a positive number, got {}", args.speed);
            }
            let (specs, _) = service_specs(&args.run, args.project.as_deref())?;
            let services = (!specs.is_empty()).then(|| NitricConfig {
                services: specs,
                service_address: None,
                startup_timeout: Duration::from_secs(30),
                enforce_permissions: true,
                watch: false,
            });
            let options = RunOptions {
                files: args.files,
                url: args.url,
                script: args.script,
                services,
                timing: match args.timing {
                    TimingArg::Recorded => Timing::Recorded,
                    TimingArg::Fast => Timing::Fast,
                },
                speed: args.speed,
                step_timeout: Duration::from_millis(args.step_timeout_ms),
                junit: args.junit,
                show_progress: std::io::stderr().is_terminal(),
                interleavings: args.interleavings,
                seed: args.seed,
            };
            // Without --url the engine runs in this process, script thread and all.
            let runtime = io_runtime(match options.url {
                Some(_) => all_cpus(),
                None => default_io_threads(),
            })?;
            let outcome = runtime.block_on(run_replays(&options, &mut std::io::stdout()));
            Ok(ExitCode::from(outcome.exit_code()))
        }
        Some(CliCommand::ImportHar(args)) => {
            let text = std::fs::read_to_string(&args.har)
                .with_context(|| format!("cannot read {}", args.har.display()))?;
            let session = har::import_har(&text)
                .with_context(|| format!("cannot import {}", args.har.display()))?;
            session.save(&args.output)?;
            println!(
                "wrote {} ({} connections, {} messages)",
                args.output.display(),
                session.connection_labels().len(),
                session.message_count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(CliCommand::ExportArtillery(args)) => {
            let session = read_session(&args.session)?;
            for warning in &session.warnings {
                eprintln!("warning: {warning}");
            }
            let yaml = artillery::artillery_yaml(&session, &args.target);
            match &args.output {
                Some(path) => std::fs::write(path, yaml)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{yaml}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(CliCommand::Bench(args)) => {
            init_logging("warn");
            let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
            let options = BenchOptions {
                url: args.url,
                connections: to_usize(args.connections),
                messages_per_connection: args.messages,
                size_bytes: to_usize(args.size),
                window: to_usize(args.window),
                is_binary: args.binary,
                pattern: match args.pattern {
                    PatternArg::Trickle => SendPattern::Trickle,
                    PatternArg::Burst => SendPattern::Burst,
                },
                connect_concurrency: to_usize(args.connect_concurrency),
                rate_per_second: args.rate,
                connect_timeout: Duration::from_millis(args.timeout_ms),
                reply_timeout: Duration::from_millis(args.timeout_ms),
            };
            let show_progress = std::io::stderr().is_terminal();
            let runtime = io_runtime(all_cpus())?;
            let report = runtime.block_on(run_bench(&options, show_progress))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(CliCommand::Gui(args)) => run_gui(args).map(|()| ExitCode::SUCCESS),
        None => run_gui(cli.gui).map(|()| ExitCode::SUCCESS),
    }
}

fn run_gui(args: GuiArgs) -> anyhow::Result<()> {
    init_logging("info");
    let runtime = io_runtime(io_threads_or_default(args.server.io_threads))?;
    let mut config = args.server.into_config()?;
    if let Some(url) = &args.proxy {
        let mut proxy = ProxyConfig::new(url)?;
        proxy.is_insecure = args.insecure;
        config.proxy = Some(proxy);
    }
    sockscope::ui::run(&runtime, config)
        .map_err(|error| anyhow::anyhow!("cannot open the window: {error}"))?;
    // Give open connections their close frames before the process ends.
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

fn main() -> ExitCode {
    run(Cli::parse()).unwrap_or_else(|error| {
        eprintln!("sockscope: {error:#}");
        ExitCode::from(EXIT_USAGE)
    })
}
