//! Each user's access record per service, kept up to date on every write so that a
//! check reads one record instead of walking groups, security groups and grants.
//!
//! A record holds a copy of what the user's own state decides (status, whether it reaches
//! the service, whether its role allows everything), the Administrators flag, and the
//! merged permission sets it holds, each naming its node by slot (see `placement.rs`).
//! A check then costs a few lookups (tenant, service, the record, the object) and a scan
//! of plain integers. The price is paid by writes: a mutation that only adds access (a
//! grant, a membership, an administrator) merges what it gives into the record of each
//! user it reaches; any other recomputes the records of the users it can affect (for a
//! group, every user under it). Recomputing a user joins what it holds itself with what
//! each of its directory groups holds, with the groups above it; the service keeps those
//! group holdings between refreshes (`TenantService::group_holdings`), since most
//! changes reach few groups: each forgets the groups it reaches, and a forgotten group
//! is computed again when a refresh needs it. Explanations and views still take the full
//! path, which names every source.
//!
//! - `layout`: the record and its entries, as a check reads them;
//! - `entries`: the entry list and its summary;
//! - `affected`: who a mutation reaches, and bringing their records up to date;
//! - `additions`: merging what a mutation that only adds access gives;
//! - `refresh`: recomputing the records of affected users;
//! - `group_holdings`: what groups and security groups give, shared between records;
//! - `interning`: computed records made into kept ones, their sets named by id;
//! - `merge`: folding and joining sorted entry lists.
//!
//! The small helpers these files call per entry or per user of one another are
//! `#[inline]`: split out of one file, building a whole snapshot (engine bench) measured up
//! to 35% slower without the hints, since codegen units follow modules.

mod additions;
mod affected;
mod entries;
mod group_holdings;
mod interning;
mod layout;
mod merge;
mod refresh;
#[cfg(test)]
mod tests;

pub(crate) use affected::Affected;
#[cfg(test)]
pub(crate) use affected::{kept_records, recomputed_records};
pub(crate) use entries::{AccessEntries, slot_bit};
pub(crate) use group_holdings::GroupHoldings;
pub(crate) use interning::Computed;
pub(crate) use layout::{AccessEntry, HeldEntry, NodeSlot, UserAccess, UserGate, restore_gates};
pub(crate) use merge::merged;
