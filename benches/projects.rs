//! Real projects in the embedded lane: what TypeScript and modules cost.
//!
//! 1. Start to serving a 2,000-line TypeScript service, against the same
//!    service already transpiled to JavaScript (same run, ratio).
//! 2. Reload after editing one module of a 20-module project, against a
//!    reload with nothing changed (every module from the cache).
//! 3. Echo throughput of a TypeScript handler against the JavaScript one
//!    (`sockscope serve --quiet`, trickle and burst), alternating rounds.
//!
//! Timing is reported, never asserted. `cargo bench --bench projects`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use sockscope::core::config::KvLocation;
use sockscope::engine::command::Command;
use sockscope::launch::LaunchConfig;
use sockscope::loadgen::{BenchOptions, SendPattern, run_bench};

use common::{median, sockscope_serve};

const ROUNDS: usize = 9;

/// A service of about `lines` lines: interfaces, generics, enums, `as` —
/// or, untyped, the JavaScript a user would have written instead.
fn service(lines: usize, typed: bool) -> String {
    let mut source = String::from(
        "import { websocket, kv } from '@nitric/sdk';\n\
         const socket = websocket('big');\n\
         const store = kv('big').allow('get', 'set');\n\
         socket.on('connect', (ctx) => ctx);\n",
    );
    let mut index = 0;
    while source.lines().count() < lines {
        if typed {
            source.push_str(&format!(
                "export interface Shape{index}<T> {{\n  id: number;\n  payload: T;\n  tags?: string[];\n}}\n\
                 export enum Kind{index} {{ A = {index}, B, C }}\n\
                 export function make{index}<T>(payload: T, kind: Kind{index} = Kind{index}.A): Shape{index}<T> {{\n\
                 \x20 const tags = [String(kind)] as string[];\n\
                 \x20 return {{ id: {index} + (kind as number), payload, tags }} as Shape{index}<T>;\n\
                 }}\n"
            ));
        } else {
            source.push_str(&format!(
                "export const Kind{index} = {{ A: {index}, B: {index} + 1, C: {index} + 2 }};\n\
                 export function make{index}(payload, kind = Kind{index}.A) {{\n\
                 \x20 const tags = [String(kind)];\n\
                 \x20 return {{ id: {index} + kind, payload, tags }};\n\
                 }}\n"
            ));
        }
        index += 1;
    }
    source.push_str(
        "socket.on('message', async (ctx) => {\n  const made = make0(ctx.req.text());\n  await socket.send(ctx.req.connectionId, made.payload);\n});\n",
    );
    source
}

fn config(path: &Path) -> LaunchConfig {
    let mut config = LaunchConfig::new(path);
    config.server.port = 0;
    config.server.kv = KvLocation::Memory;
    config
}

/// Milliseconds from `launch::start` to a serving engine, median of ROUNDS.
fn start_ms(runtime: &tokio::runtime::Runtime, path: &Path) -> f64 {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let engine = runtime
            .block_on(sockscope::launch::start(config(path)))
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        times.push(started.elapsed().as_secs_f64() * 1e3);
        runtime.block_on(engine.shutdown());
    }
    median(&mut times)
}

fn bench_start(runtime: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = service(2000, true);
    let ts = dir.path().join("service.ts");
    std::fs::write(&ts, &source).expect("write");
    let js = dir.path().join("service.js");
    std::fs::write(&js, service(2000, false)).expect("write");
    let ts_ms = start_ms(runtime, &ts);
    let js_ms = start_ms(runtime, &js);
    println!(
        "start to serving, {} lines: TypeScript {ts_ms:.1} ms, the same service in JavaScript \
         {js_ms:.1} ms (TypeScript adds {:.1} ms; ratio {:.2}×); target: ≤ 50 ms",
        source.lines().count(),
        ts_ms - js_ms,
        ts_ms / js_ms
    );
}

/// A project of `modules` modules chained `m0 → m1 → …`, the service on top.
fn chained_project(dir: &Path, modules: usize) {
    std::fs::write(dir.join("package.json"), "{}").expect("write");
    for index in 0..modules {
        let next = if index + 1 < modules {
            format!("import {{ value{} }} from './m{}';\n", index + 1, index + 1)
        } else {
            String::new()
        };
        let value = if index + 1 < modules {
            format!("value{} + 1", index + 1)
        } else {
            "0".to_owned()
        };
        let filler: String = (0..40)
            .map(|line| format!("export const filler{index}_{line}: number = {line};\n"))
            .collect();
        std::fs::write(
            dir.join(format!("m{index}.ts")),
            format!("{next}export const value{index}: number = {value};\n{filler}"),
        )
        .expect("write");
    }
    std::fs::write(
        dir.join("service.ts"),
        "import { websocket } from '@nitric/sdk';\nimport { value0 } from './m0';\n\
         const socket = websocket('chain');\nsocket.on('connect', (ctx) => ctx);\n\
         socket.on('message', async (ctx) => { await socket.send(ctx.req.connectionId, String(value0)); });\n",
    )
    .expect("write");
}

fn bench_reload(runtime: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    chained_project(dir.path(), 20);
    let engine = runtime
        .block_on(sockscope::launch::start(config(
            &dir.path().join("service.ts"),
        )))
        .expect("the project starts");
    let reload = |engine: &sockscope::engine::EngineHandle| {
        let started = Instant::now();
        runtime
            .block_on(engine.execute(Command::ReloadScript { source: None }))
            .expect("reloads");
        started.elapsed().as_secs_f64() * 1e3
    };
    let (mut unchanged, mut edited) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        unchanged.push(reload(&engine));
        let module = dir.path().join("m10.ts");
        let text = std::fs::read_to_string(&module).expect("read");
        std::fs::write(
            &module,
            format!("{text}export const edit{round}: number = {round};\n"),
        )
        .expect("write");
        edited.push(reload(&engine));
    }
    runtime.block_on(engine.shutdown());
    let unchanged = median(&mut unchanged);
    let edited = median(&mut edited);
    println!(
        "reload of a 20-module project: one module edited {edited:.1} ms, nothing changed \
         {unchanged:.1} ms (ratio {:.2}×); target: ≤ 30 ms",
        edited / unchanged
    );
}

fn bench_echo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let echo_js = dir.path().join("echo.js");
    let echo_ts = dir.path().join("echo.ts");
    std::fs::write(
        &echo_js,
        "import { websocket } from '@nitric/sdk';\nconst socket = websocket('echo');\n\
         socket.on('connect', (ctx) => ctx);\n\
         socket.on('message', async (ctx) => { await socket.send(ctx.req.connectionId, ctx.req.data); });\n",
    )
    .expect("write");
    std::fs::write(
        &echo_ts,
        "import { websocket } from '@nitric/sdk';\ninterface Echo { id: string }\n\
         const socket = websocket('echo');\nsocket.on('connect', (ctx) => ctx);\n\
         socket.on('message', async (ctx) => { await socket.send(ctx.req.connectionId as Echo['id'], ctx.req.data as Uint8Array); });\n",
    )
    .expect("write");
    let runtime = common::client_runtime();
    for pattern in [SendPattern::Trickle, SendPattern::Burst] {
        let (mut js_rates, mut ts_rates) = (Vec::new(), Vec::new());
        for round in 0..6 {
            // Alternating which goes first, so neither always runs second.
            let mut order = [(&echo_js, &mut js_rates), (&echo_ts, &mut ts_rates)];
            if round % 2 == 1 {
                order.reverse();
            }
            for (script, rates) in order {
                let server = sockscope_serve(script, ":memory:");
                std::thread::sleep(common::SETTLE);
                let options = BenchOptions {
                    connections: 50,
                    messages_per_connection: 2000,
                    size_bytes: 32,
                    window: 16,
                    pattern,
                    ..BenchOptions::new(server.url.clone())
                };
                let report = runtime
                    .block_on(run_bench(&options, false))
                    .expect("the load runs");
                rates.push(report.messages_per_second);
            }
        }
        let js = median(&mut js_rates);
        let ts = median(&mut ts_rates);
        println!(
            "echo, {pattern:?}: TypeScript {ts:.0} msg/s, JavaScript {js:.0} msg/s, ratio {:.2}×",
            ts / js
        );
    }
}

fn main() {
    common::serve_raw_echo_if_asked();
    println!("machine: {}", common::machine());
    let runtime = common::embedded_engine_runtime();
    bench_start(&runtime);
    bench_reload(&runtime);
    drop(runtime);
    bench_echo();
    std::thread::sleep(Duration::from_millis(10));
}
