//! Which changes a subscriber wants: tenants, services and event kinds.

use std::collections::BTreeSet;

use crate::engine::{ChangeRecord, EventKind, ServiceId, TenantId};

/// Which changes a subscriber wants. Empty sets match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchFilter {
    /// Only changes in these tenants.
    pub tenants: BTreeSet<TenantId>,
    /// Only changes in these services. A tenant-level change (users, groups, roles), which
    /// may change decisions in every service of its tenant, matches every service filter.
    pub services: BTreeSet<ServiceId>,
    /// Only these kinds of event.
    pub kinds: BTreeSet<EventKind>,
}

impl WatchFilter {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &ChangeRecord) -> bool {
        let context = &record.context;
        // A batch passes whole when any of its changes is of a kind asked for (a mailer
        // asking for invitations gets an invitation made with its role).
        if !self.kinds.is_empty()
            && !self.kinds.contains(&context.kind)
            && !context
                .items
                .iter()
                .any(|item| self.kinds.contains(&item.kind))
        {
            return false;
        }
        // A partner-level change reaches the tenants whose decisions it may change.
        if !self.tenants.is_empty() && !record_tenants(record).any(|t| self.tenants.contains(t)) {
            return false;
        }
        if self.services.is_empty() {
            return true;
        }
        match &context.service {
            Some(service) => self.services.contains(service),
            // Platform-wide changes without a service name none; tenant-level ones (and
            // partner-level ones reaching tenants) reach every service.
            None => record_tenants(record).next().is_some(),
        }
    }
}

/// The tenants a change concerns: the one it happened in, and those whose decisions it
/// may change (a partner-level change happens in none and may reach many).
pub(crate) fn record_tenants(record: &ChangeRecord) -> impl Iterator<Item = &TenantId> {
    let context = &record.context;
    context.tenant.iter().chain(
        context
            .invalidations
            .iter()
            .map(|hint| &hint.tenant)
            .filter(move |tenant| context.tenant.as_ref() != Some(*tenant)),
    )
}
