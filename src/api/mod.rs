//! The gRPC surface: the only module that names protobuf types or `tonic::Status`.
//! Requests are converted to domain values by hand, once, and domain errors are mapped to
//! gRPC codes in one place.

mod bounds;
mod check;
mod codec;
mod convert;
#[doc(hidden)]
pub mod fuzz;
mod guard;
mod management;
mod paging;
mod server_info;
mod status;
mod trace;
mod watch;

pub use check::CheckApi;
pub use guard::{ACTOR_PARTNER_HEADER, ACTOR_TOKEN_HEADER, GuardLayer};
pub use management::{ManagementApi, ManagementOptions};
pub use server_info::ServerInfoApi;
pub use status::code_name;
pub use trace::RpcTraceLayer;
pub use watch::{WatchApi, WatchServer};

/// The descriptor pool of `authz.v1`, decoded once per process: the guard and the
/// management services read requests generically through it. (Cloning a pool shares it.)
pub(crate) fn descriptors() -> prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        // The set is compiled into this binary by build.rs: it always decodes.
        prost_reflect::DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap_or_default()
    })
    .clone()
}

/// Generated protobuf and tonic code for `authz.v1`.
#[allow(
    clippy::pedantic,
    clippy::all,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    missing_docs
)]
pub mod pb {
    tonic::include_proto!("authz.v1");

    /// The encoded descriptor set of `authz.v1`, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("authz_descriptor");
}
