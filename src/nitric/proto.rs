//! The generated types and server traits of the Nitric service contract.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod resources {
    tonic::include_proto!("nitric.proto.resources.v1");
}
pub mod websockets {
    tonic::include_proto!("nitric.proto.websockets.v1");
}
pub mod kvstore {
    tonic::include_proto!("nitric.proto.kvstore.v1");
}
pub mod topics {
    tonic::include_proto!("nitric.proto.topics.v1");
}
pub mod apis {
    tonic::include_proto!("nitric.proto.apis.v1");
}
pub mod storage {
    tonic::include_proto!("nitric.proto.storage.v1");
}
pub mod schedules {
    tonic::include_proto!("nitric.proto.schedules.v1");
}
pub mod http {
    tonic::include_proto!("nitric.proto.http.v1");
}
pub mod batch {
    tonic::include_proto!("nitric.proto.batch.v1");
}
pub mod rpc {
    tonic::include_proto!("google.rpc");
}
