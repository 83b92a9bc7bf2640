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
        if !self.tenants.is_empty()
            && !context
                .tenant
                .as_ref()
                .is_some_and(|t| self.tenants.contains(t))
        {
            return false;
        }
        if self.services.is_empty() {
            return true;
        }
        match &context.service {
            Some(service) => self.services.contains(service),
            // Platform-wide changes without a service name none; tenant-level ones reach
            // every service.
            None => context.tenant.is_some(),
        }
    }
}
