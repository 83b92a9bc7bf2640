//! `authz.v1.WatchService`: the change stream as gRPC server streaming.

use std::{collections::HashMap, pin::Pin};

use tokio_stream::{Stream, StreamExt as _, wrappers::ReceiverStream};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{convert, pb, status::invalid_field};
use crate::{
    app::{App, WatchError, WatchFilter, WatchItem, WatchOptions},
    engine::{
        ChangeRecord, EventKind, GrantNode, Mutation, Revision, ServiceId, Subject, TenantId,
        UserStatus,
    },
};

/// Implements `authz.v1.WatchService`.
#[derive(Debug, Clone)]
pub struct WatchApi {
    app: App,
    options: WatchOptions,
}

impl WatchApi {
    /// Streams `app`'s changes with these buffer and checkpoint settings.
    pub fn new(app: App, options: WatchOptions) -> Self {
        Self { app, options }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::watch_service_server::WatchService for WatchApi {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let request = request.into_inner();
        let filter = filter(&request)?;
        let start = request.start_revision.map(Revision::new);
        let items = self
            .app
            .watch(start, filter, self.options)
            .await
            .map_err(|err| watch_error(&err))?;
        let stream = ReceiverStream::new(items).map(|item| match item {
            Ok(WatchItem::Change(record)) => Ok(pb::WatchResponse {
                message: Some(pb::watch_response::Message::Event(event(&record))),
            }),
            Ok(WatchItem::Checkpoint(revision)) => Ok(pb::WatchResponse {
                message: Some(pb::watch_response::Message::Checkpoint(
                    pb::WatchCheckpoint {
                        revision: revision.get(),
                    },
                )),
            }),
            Err(err) => Err(watch_error(&err)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn filter(request: &pb::WatchRequest) -> Result<WatchFilter, Status> {
    let tenants = request
        .tenants
        .iter()
        .enumerate()
        .map(|(i, t)| convert::id(&format!("tenants[{i}]"), t, TenantId::parse))
        .collect::<Result<_, _>>()?;
    let services = request
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| convert::id(&format!("services[{i}]"), s, ServiceId::parse))
        .collect::<Result<_, _>>()?;
    let kinds = request
        .kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            pb::EventKind::try_from(*k)
                .ok()
                .and_then(event_kind_from_pb)
                .ok_or_else(|| invalid_field(&format!("kinds[{i}]"), "is not an event kind"))
        })
        .collect::<Result<_, _>>()?;
    Ok(WatchFilter {
        tenants,
        services,
        kinds,
    })
}

/// The status ending a stream, with the revision to resume from in `ErrorInfo`.
fn watch_error(err: &WatchError) -> Status {
    let (code, metadata) = match err {
        WatchError::TooOld { oldest, .. } => (
            Code::OutOfRange,
            HashMap::from([
                ("oldest_revision".to_owned(), oldest.get().to_string()),
                (
                    "resume_from".to_owned(),
                    oldest.get().saturating_sub(1).to_string(),
                ),
            ]),
        ),
        WatchError::Ahead { current, .. } => (
            Code::OutOfRange,
            HashMap::from([("current_revision".to_owned(), current.get().to_string())]),
        ),
        WatchError::TooSlow { last_delivered } => (
            Code::ResourceExhausted,
            HashMap::from([("resume_from".to_owned(), last_delivered.get().to_string())]),
        ),
        WatchError::ShuttingDown { last_delivered } => (
            Code::Unavailable,
            HashMap::from([("resume_from".to_owned(), last_delivered.get().to_string())]),
        ),
        WatchError::Store(_) => (Code::Unavailable, HashMap::new()),
    };
    let reason = match err {
        WatchError::TooOld { .. } => "revision_too_old",
        WatchError::Ahead { .. } => "revision_ahead",
        WatchError::TooSlow { .. } => "subscriber_too_slow",
        WatchError::ShuttingDown { .. } => "shutting_down",
        WatchError::Store(_) => "store_unavailable",
    };
    Status::with_error_details(
        code,
        err.to_string(),
        ErrorDetails::with_error_info(reason, "authzd", metadata),
    )
}

/// A committed change as an event: its kind, ids and hint.
fn event(record: &ChangeRecord) -> pb::ChangeEvent {
    let context = &record.context;
    let mut event = pb::ChangeEvent {
        revision: record.revision.get(),
        committed_at: Some(convert::timestamp(record.committed_at)),
        kind: event_kind_to_pb(context.kind).into(),
        actor: record.actor.clone().unwrap_or_default(),
        caller: record.caller.clone(),
        request_id: record.request_id.clone().unwrap_or_default(),
        tenant: context
            .tenant
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        service: context
            .service
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        notify: context.notify.iter().map(ToString::to_string).collect(),
        invalidations: context
            .invalidations
            .iter()
            .map(|i| pb::Invalidation {
                tenant: i.tenant.to_string(),
                service: i
                    .service
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                users: i.users.iter().map(ToString::to_string).collect(),
                objects: i.objects.iter().map(ToString::to_string).collect(),
                everyone: i.everyone,
            })
            .collect(),
        ..Default::default()
    };
    describe(&record.mutation, &mut event);
    // A lock by failed sign-ins lasts from the commit for the policy's duration.
    if let (
        EventKind::UserLocked,
        Mutation::ReportSignIn {
            lock_for_millis, ..
        },
    ) = (context.kind, &record.mutation)
    {
        event.locked_until = Some(convert::timestamp(
            record.committed_at.plus_millis(*lock_for_millis),
        ));
    }
    event
}

/// Fills the ids and details the mutation names.
fn describe(mutation: &Mutation, event: &mut pb::ChangeEvent) {
    let member = |subject: &Subject| Some(convert::subject(subject));
    match mutation {
        Mutation::CreatePartner { partner, .. } => event.object = partner.to_string(),
        Mutation::CreateCustomer { customer, .. } => event.object = customer.to_string(),
        Mutation::RegisterService { service, .. } | Mutation::UpdateService { service, .. } => {
            event.service = service.to_string();
        }
        Mutation::CreateTenant { owner, .. } => {
            event.user = owner.user.to_string();
            event.email.clone_from(&owner.email);
        }
        Mutation::InviteUser { user, .. } => {
            event.user = user.user.to_string();
            event.email.clone_from(&user.email);
        }
        Mutation::SetUserStatus { user, status, .. } => {
            event.user = user.to_string();
            if let UserStatus::LockedUntil(until) = status {
                event.locked_until = Some(convert::timestamp(*until));
            }
        }
        Mutation::UpdateUser { user, email, .. } => {
            event.user = user.to_string();
            event.email.clone_from(email);
        }
        Mutation::DeleteUser { user, .. }
        | Mutation::TransferOwnership {
            new_owner: user, ..
        }
        | Mutation::GrantServiceAccess { user, .. }
        | Mutation::RevokeServiceAccess { user, .. } => event.user = user.to_string(),
        Mutation::SetTenantRole { user, role, .. } => {
            event.user = user.to_string();
            event.role = Some(super::management::role_to_pb(role));
        }
        Mutation::CreateGroup { group, .. }
        | Mutation::UpdateGroup { group, .. }
        | Mutation::DeleteGroup { group, .. } => event.group = group.to_string(),
        Mutation::AddGroupMember {
            group, member: m, ..
        }
        | Mutation::RemoveGroupMember {
            group, member: m, ..
        } => {
            event.group = group.to_string();
            event.member = member(m);
        }
        Mutation::CreateObject { object, parent, .. } => {
            event.object = object.to_string();
            event.parent = parent.as_ref().map(ToString::to_string).unwrap_or_default();
        }
        Mutation::MoveObject {
            object, new_parent, ..
        } => {
            event.object = object.to_string();
            event.parent = new_parent
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
        }
        Mutation::UpdateObject { object, .. } | Mutation::DeleteObject { object, .. } => {
            event.object = object.to_string();
        }
        Mutation::AddAdministrator { subject, .. }
        | Mutation::RemoveAdministrator { subject, .. } => {
            crate::engine::ADMINISTRATORS_GROUP.clone_into(&mut event.security_group);
            event.member = member(subject);
        }
        Mutation::PutSecurityGroup { group, .. } | Mutation::DeleteSecurityGroup { group, .. } => {
            event.security_group = group.to_string();
        }
        Mutation::AddSecurityGroupMember {
            group, member: m, ..
        }
        | Mutation::RemoveSecurityGroupMember {
            group, member: m, ..
        } => {
            event.security_group = group.to_string();
            event.member = member(m);
        }
        Mutation::PutPermissionLevel { level, .. }
        | Mutation::DeletePermissionLevel { level, .. } => {
            event.permission_level = level.to_string();
        }
        Mutation::GiveGrant {
            grant,
            subject,
            node,
            access,
            ..
        } => {
            event.grant = grant.to_string();
            event.member = member(subject);
            if let GrantNode::Object(object) = node {
                event.object = object.to_string();
            }
            if let crate::engine::Access::Level(level) = access {
                event.permission_level = level.to_string();
            }
        }
        Mutation::RevokeGrant { grant, .. } => event.grant = grant.to_string(),
        Mutation::ReportSignIn { user, .. } | Mutation::ResetMfa { user, .. } => {
            event.user = user.to_string();
        }
        Mutation::SubscribeService { .. } => {}
    }
}

/// Pairs of engine and wire event kinds, written once for both directions.
const EVENT_KINDS: &[(EventKind, pb::EventKind)] = &[
    (EventKind::PartnerCreated, pb::EventKind::PartnerCreated),
    (EventKind::CustomerCreated, pb::EventKind::CustomerCreated),
    (
        EventKind::ServiceRegistered,
        pb::EventKind::ServiceRegistered,
    ),
    (EventKind::ServiceUpdated, pb::EventKind::ServiceUpdated),
    (EventKind::TenantCreated, pb::EventKind::TenantCreated),
    (
        EventKind::ServiceSubscribed,
        pb::EventKind::ServiceSubscribed,
    ),
    (EventKind::UserInvited, pb::EventKind::UserInvited),
    (EventKind::UserActivated, pb::EventKind::UserActivated),
    (EventKind::UserLocked, pb::EventKind::UserLocked),
    (EventKind::UserUnlocked, pb::EventKind::UserUnlocked),
    (EventKind::UserDisabled, pb::EventKind::UserDisabled),
    (EventKind::UserEnabled, pb::EventKind::UserEnabled),
    (EventKind::UserUpdated, pb::EventKind::UserUpdated),
    (EventKind::UserDeleted, pb::EventKind::UserDeleted),
    (
        EventKind::TenantRoleChanged,
        pb::EventKind::TenantRoleChanged,
    ),
    (EventKind::OwnerTransferred, pb::EventKind::OwnerTransferred),
    (
        EventKind::ServiceAccessGranted,
        pb::EventKind::ServiceAccessGranted,
    ),
    (
        EventKind::ServiceAccessRevoked,
        pb::EventKind::ServiceAccessRevoked,
    ),
    (EventKind::GroupCreated, pb::EventKind::GroupCreated),
    (EventKind::GroupUpdated, pb::EventKind::GroupUpdated),
    (EventKind::GroupDeleted, pb::EventKind::GroupDeleted),
    (EventKind::GroupMemberAdded, pb::EventKind::GroupMemberAdded),
    (
        EventKind::GroupMemberRemoved,
        pb::EventKind::GroupMemberRemoved,
    ),
    (EventKind::ObjectCreated, pb::EventKind::ObjectCreated),
    (EventKind::ObjectUpdated, pb::EventKind::ObjectUpdated),
    (EventKind::ObjectMoved, pb::EventKind::ObjectMoved),
    (EventKind::ObjectDeleted, pb::EventKind::ObjectDeleted),
    (
        EventKind::AdministratorAdded,
        pb::EventKind::AdministratorAdded,
    ),
    (
        EventKind::AdministratorRemoved,
        pb::EventKind::AdministratorRemoved,
    ),
    (
        EventKind::SecurityGroupChanged,
        pb::EventKind::SecurityGroupChanged,
    ),
    (
        EventKind::SecurityGroupDeleted,
        pb::EventKind::SecurityGroupDeleted,
    ),
    (
        EventKind::SecurityGroupMemberAdded,
        pb::EventKind::SecurityGroupMemberAdded,
    ),
    (
        EventKind::SecurityGroupMemberRemoved,
        pb::EventKind::SecurityGroupMemberRemoved,
    ),
    (
        EventKind::PermissionLevelChanged,
        pb::EventKind::PermissionLevelChanged,
    ),
    (
        EventKind::PermissionLevelDeleted,
        pb::EventKind::PermissionLevelDeleted,
    ),
    (EventKind::GrantGiven, pb::EventKind::GrantGiven),
    (EventKind::GrantRevoked, pb::EventKind::GrantRevoked),
    (EventKind::SignInSucceeded, pb::EventKind::SignInSucceeded),
    (EventKind::SignInFailed, pb::EventKind::SignInFailed),
    (EventKind::MfaReset, pb::EventKind::MfaReset),
];

fn event_kind_to_pb(kind: EventKind) -> pb::EventKind {
    EVENT_KINDS
        .iter()
        .find(|(engine, _)| *engine == kind)
        .map_or(pb::EventKind::Unspecified, |(_, wire)| *wire)
}

fn event_kind_from_pb(kind: pb::EventKind) -> Option<EventKind> {
    EVENT_KINDS
        .iter()
        .find(|(_, wire)| *wire == kind)
        .map(|(engine, _)| *engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_event_kind_maps_to_one_engine_kind_and_back() {
        let wire: Vec<pb::EventKind> = (1..=1000)
            .filter_map(|n| pb::EventKind::try_from(n).ok())
            .collect();
        assert_eq!(wire.len(), EVENT_KINDS.len());
        for kind in wire {
            let engine = event_kind_from_pb(kind);
            assert!(engine.is_some(), "{kind:?} has no engine kind");
            assert_eq!(engine.map(event_kind_to_pb), Some(kind));
        }
    }
}
