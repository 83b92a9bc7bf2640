//! The durable store: the only code that touches redb or PostgreSQL.
//!
//! The database lives in one file, [`DB_FILE_NAME`], under the data directory. It records
//! its format version so a newer or unknown file is refused instead of misread.

mod audit;
mod backend;
mod changelog;
mod checkpoint;
mod codec;
mod error;
mod export;
mod file_identity;
mod footprint;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod golden;
pub mod postgres;
mod recovery;
mod redb_store;

pub use audit::{AuditOutcome, AuditQuery, AuditRecord};
pub use backend::Store;
pub use changelog::Retention;
pub use codec::{CODEC_VERSION, CodecError};
pub use error::StoreError;
pub use export::{
    EXPORT_MAGIC, ExportSummary, export_database, export_postgres, import_into,
    import_into_postgres,
};
pub use file_identity::FileLoss;
pub use footprint::{ChangeKindFootprint, StoreFootprint, TableFootprint};
pub use recovery::{Durable, Recovered};
pub use redb_store::{DB_FILE_NAME, FORMAT_VERSION, RedbStore};
