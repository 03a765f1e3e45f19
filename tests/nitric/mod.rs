//! The real-runtime lane: the user's services run unchanged with the real
//! `@nitric/sdk` 1.2.2 (Node, and TypeScript through `tsx`) and `nitric`
//! 1.2.4 (Python) against sockscope's gRPC server, driven by real
//! websocket clients.
//!
//! The SDKs come from `target/ci-node/node_modules` and `target/ci-venv`
//! (what `.ci/run` installs), or `SOCKSCOPE_NODE_PATH` / `SOCKSCOPE_PYTHON`.
//! A missing SDK skips loudly, or fails under
//! `SOCKSCOPE_REQUIRE_REAL_CLIENTS=1` (CI).

mod corpus;
mod differential;
mod lanes;
mod lifecycle;
mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sockscope::launch::LaunchConfig;
use sockscope::nitric::{NitricConfig, Program, ServiceSpec};

use crate::util::missing_tool;

/// Where the Node SDK and tsx are installed.
pub fn node_modules() -> Option<PathBuf> {
    let path = std::env::var_os("SOCKSCOPE_NODE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-node/node_modules")
        });
    if path.join("@nitric/sdk/package.json").is_file() {
        Some(path)
    } else {
        missing_tool(
            "@nitric/sdk@1.2.2",
            &format!("not installed in {}", path.display()),
        );
        None
    }
}

/// A Python interpreter with `nitric` 1.2.4 installed.
pub fn nitric_python() -> Option<PathBuf> {
    let python = std::env::var_os("SOCKSCOPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python"));
    let probe = std::process::Command::new(&python)
        .args(["-c", "import nitric"])
        .output();
    match probe {
        Ok(output) if output.status.success() => Some(python),
        Ok(output) => {
            missing_tool(
                "Python with nitric==1.2.4",
                String::from_utf8_lossy(&output.stderr).trim(),
            );
            None
        }
        Err(error) => {
            missing_tool("Python with nitric==1.2.4", &error.to_string());
            None
        }
    }
}

/// A folder laid out as a user's project: the service files, and the Node
/// SDK reachable as `node_modules` (ES module imports do not read NODE_PATH).
pub fn project(files: &[(&str, &str)], node_modules: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("project folders");
        }
        std::fs::write(path, text).expect("write a service file");
    }
    if let Some(node_modules) = node_modules {
        std::os::unix::fs::symlink(node_modules, dir.path().join("node_modules"))
            .expect("link node_modules");
    }
    dir
}

/// The services behind an engine on free ports, kv in the project folder.
pub fn services_config(dir: &Path, commands: &[&str]) -> LaunchConfig {
    let mut config = LaunchConfig::new(PathBuf::new());
    config.server.port = 0;
    config.server.kv = sockscope::core::config::KvLocation::File(dir.join("kv.redb"));
    config.services = Some(NitricConfig {
        services: commands
            .iter()
            .map(|command| ServiceSpec {
                name: (*command).to_owned(),
                program: Program::Shell((*command).to_owned()),
                cwd: dir.to_path_buf(),
                env: Vec::new(),
            })
            .collect(),
        service_address: Some("127.0.0.1:0".parse().expect("an address")),
        startup_timeout: Duration::from_secs(30),
        enforce_permissions: true,
        watch: false,
    });
    config
}
