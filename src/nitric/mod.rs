//! The real-runtime lane: sockscope serves Nitric's own service contract
//! (gRPC over h2c, as `nitric start` does), and the user's services run
//! unchanged in their own toolchain with the real SDK. What it must match is
//! in ../shared/NITRIC.md; its implementation of the engine's seam is
//! [`NitricRuntime`].

mod grpc;
mod hub;
mod lane;
mod process;
mod project;
pub mod proto;
mod structs;
mod watch;

pub use lane::{DEFAULT_SERVICE_ADDRESS, NitricConfig, NitricLauncher, NitricRuntime};
pub use process::{Program, ServiceSpec};
pub use project::{Project, ProjectError, read_dotenv, read_project, service_specs};
