//! The `sockscope` command line: `gui` (default), `serve`.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use sockscope::engine::config::{EngineConfig, KvLocation, Limits};
use sockscope::script::bundled::default_script_path;
use sockscope::serve::{self, ServeOptions};

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
}

#[derive(Args)]
struct GuiArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// Settings shared by every command that runs the server.
#[derive(Args, Clone)]
struct ServerArgs {
    /// Handler script (ES module). Default: the bundled chat example.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
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
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Time one handler chain may run before it is stopped and reported.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    handler_timeout_ms: u64,
    /// Memory cap of the script runtime.
    #[arg(long, value_name = "MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    script_memory_mb: u64,
    /// Unsent bytes per connection before a client that does not read is closed with 1008.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    outbound_queue_bytes: u64,
    /// Close clients that send nothing for this long (1001). Off by default.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: Option<u64>,
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
}

impl ServerArgs {
    fn into_config(self) -> anyhow::Result<EngineConfig> {
        let script_path = match self.script {
            Some(path) => path,
            None => default_script_path().context("cannot write the bundled example script")?,
        };
        let to_usize = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        let mut config = EngineConfig::new(script_path);
        config.bind = self.bind;
        config.port = self.port;
        config.kv = KvLocation::parse(&self.kv);
        config.limits = Limits {
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

fn init_logging(quiet: bool) {
    let default_level = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn io_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sockscope-io")
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(CliCommand::Serve(args)) => {
            init_logging(args.quiet);
            let config = args.server.into_config()?;
            let runtime = io_runtime()?;
            runtime.block_on(serve::run(ServeOptions {
                config: EngineConfig {
                    watch_script: args.watch,
                    ..config
                },
                quiet: args.quiet,
            }))?;
            Ok(())
        }
        Some(CliCommand::Gui(args)) => run_gui(args),
        None => run_gui(cli.gui),
    }
}

fn run_gui(args: GuiArgs) -> anyhow::Result<()> {
    init_logging(false);
    let config = args.server.into_config()?;
    let runtime = io_runtime()?;
    sockscope::ui::run(&runtime, config)
        .map_err(|error| anyhow::anyhow!("cannot open the window: {error}"))?;
    // Give open connections their close frames before the process ends.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sockscope: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
