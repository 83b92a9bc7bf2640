//! The in-memory state. Every level sits behind an `Arc` so that a new snapshot shares
//! all it does not change: applying a mutation copies only the maps it touches.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use super::{
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PartnerId, PermissionLevelId, Revision,
        SecurityGroupId, ServiceId, TenantId, UserId,
    },
    mutation::{
        Access, GrantNode, ObjectScope, ObjectType, ServiceDefinition, Subject, TenantRole,
        UserKind, UserStatus,
    },
    permission::{Catalog, PermissionBits, PermissionSet},
};

/// An immutable state of everything at one revision. Cloning is cheap (reference counts);
/// readers keep using a snapshot while the writer builds the next one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub(crate) revision: Revision,
    // Arc on each map: a snapshot built from this one shares the maps it leaves alone.
    pub(crate) partners: Arc<BTreeMap<PartnerId, String>>,
    pub(crate) customers: Arc<BTreeMap<CustomerId, CustomerState>>,
    pub(crate) services: Arc<HashMap<ServiceId, Arc<ServiceState>>>,
    pub(crate) tenants: Arc<HashMap<TenantId, Arc<TenantState>>>,
}

impl Snapshot {
    /// The empty state at revision 0.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The revision of the last change in this state.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Number of tenants.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Where a tenant sits in the place tree: its customer and that customer's partner.
    pub fn tenant_place(
        &self,
        tenant: &TenantId,
    ) -> Option<(Option<CustomerId>, Option<PartnerId>)> {
        let state = self.tenants.get(tenant)?;
        let partner = state
            .customer
            .as_ref()
            .and_then(|c| self.customers.get(c))
            .and_then(|c| c.partner.clone());
        Some((state.customer.clone(), partner))
    }
}

/// A customer node of the place tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CustomerState {
    pub(crate) name: String,
    pub(crate) partner: Option<PartnerId>,
}

/// A registered service with its catalog resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceState {
    pub(crate) definition: ServiceDefinition,
    pub(crate) catalog: Catalog,
    pub(crate) types: HashMap<String, ObjectType>,
}

/// One tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantState {
    pub(crate) name: String,
    pub(crate) customer: Option<CustomerId>,
    pub(crate) owner: UserId,
    pub(crate) users: Arc<HashMap<UserId, UserState>>,
    /// Lowercased e-mail → user, for uniqueness.
    pub(crate) emails: Arc<HashMap<String, UserId>>,
    pub(crate) groups: Arc<HashMap<GroupId, GroupState>>,
    /// Subject → the directory groups it is a direct member of (the reverse of members).
    pub(crate) member_of: Arc<HashMap<Subject, BTreeSet<GroupId>>>,
    pub(crate) services: HashMap<ServiceId, Arc<TenantService>>,
}

/// A user of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserState {
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) kind: UserKind,
    pub(crate) status: UserStatus,
    pub(crate) role: TenantRole,
    /// Services the user was given access to (owner and service admins reach all anyway).
    pub(crate) services: BTreeSet<ServiceId>,
}

impl UserState {
    /// Whether the user reaches the service at all: the owner and service and customized
    /// administrators reach every subscribed service, others those given to them.
    pub(crate) fn reaches_service(&self, service: &ServiceId) -> bool {
        matches!(
            self.role,
            TenantRole::Owner
                | TenantRole::ServiceAdministrator
                | TenantRole::CustomizedAdministrator(_)
        ) || self.services.contains(service)
    }
}

/// A directory group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GroupState {
    pub(crate) name: String,
    pub(crate) members: BTreeSet<Subject>,
}

/// One subscribed service inside one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TenantService {
    pub(crate) objects: Arc<HashMap<ObjectId, ObjectState>>,
    /// Container → direct children; top-level objects under `None`.
    pub(crate) children: Arc<HashMap<Option<ObjectId>, BTreeSet<ObjectId>>>,
    /// The built-in Administrators group's members.
    pub(crate) administrators: Arc<BTreeSet<Subject>>,
    pub(crate) security_groups: Arc<HashMap<SecurityGroupId, SecurityGroupState>>,
    /// Subject → security groups it is a direct member of.
    pub(crate) sg_by_member: Arc<HashMap<Subject, BTreeSet<SecurityGroupId>>>,
    pub(crate) levels: Arc<HashMap<PermissionLevelId, LevelState>>,
    pub(crate) grants: Arc<HashMap<GrantId, GrantState>>,
    /// Subject → grants naming it.
    pub(crate) grants_by_subject: Arc<HashMap<Subject, BTreeSet<GrantId>>>,
}

/// An object or container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectState {
    pub(crate) object_type: String,
    pub(crate) name: String,
    pub(crate) parent: Option<ObjectId>,
    pub(crate) related: BTreeSet<ObjectId>,
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecurityGroupState {
    pub(crate) name: String,
    pub(crate) description: String,
    /// The permission set as written (patterns), kept for reading back and re-resolving.
    pub(crate) permissions: PermissionSet,
    pub(crate) bits: PermissionBits,
    pub(crate) scope: ObjectScope,
    pub(crate) members: BTreeSet<Subject>,
}

/// A permission level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LevelState {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permissions: PermissionSet,
    pub(crate) bits: PermissionBits,
}

/// A grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GrantState {
    pub(crate) subject: Subject,
    pub(crate) access: Access,
    /// For `Access::Permissions`, the resolved bits (levels are looked up at check time
    /// so that editing a level changes every grant that uses it).
    pub(crate) bits: PermissionBits,
    pub(crate) node: GrantNode,
    pub(crate) expires_at: Option<super::ids::Timestamp>,
}

impl TenantService {
    /// The object and its containers, nearest first.
    pub(crate) fn chain<'a>(&'a self, object: &'a ObjectId) -> Chain<'a> {
        Chain {
            service: self,
            next: Some(object),
            steps: 0,
        }
    }

    /// The permissions a grant gives now (a level's current bits).
    pub(crate) fn grant_bits(&self, grant: &GrantState) -> PermissionBits {
        match &grant.access {
            Access::Permissions(_) => grant.bits,
            Access::Level(level) => self
                .levels
                .get(level)
                .map_or(PermissionBits::default(), |l| l.bits),
        }
    }

    /// Every object under `node` (the node itself included for an object).
    pub(crate) fn subtree(&self, node: &GrantNode) -> Vec<ObjectId> {
        let mut out = Vec::new();
        let mut stack: Vec<Option<ObjectId>> = match node {
            GrantNode::Service => vec![None],
            GrantNode::Object(object) => {
                out.push(object.clone());
                vec![Some(object.clone())]
            }
        };
        while let Some(container) = stack.pop() {
            if let Some(children) = self.children.get(&container) {
                for child in children {
                    out.push(child.clone());
                    stack.push(Some(child.clone()));
                }
            }
        }
        out
    }
}

/// Walks from an object up through its containers. Bounded by the object count, so a
/// damaged parent link can never loop forever.
#[derive(Debug)]
pub(crate) struct Chain<'a> {
    service: &'a TenantService,
    next: Option<&'a ObjectId>,
    steps: usize,
}

impl<'a> Iterator for Chain<'a> {
    type Item = &'a ObjectId;

    fn next(&mut self) -> Option<&'a ObjectId> {
        let current = self.next?;
        self.steps += 1;
        if self.steps > self.service.objects.len() {
            return None;
        }
        self.next = self
            .service
            .objects
            .get(current)
            .and_then(|o| o.parent.as_ref());
        Some(current)
    }
}

impl TenantState {
    /// The directory groups `subject` is in, directly or through other groups, each with
    /// the member group it was reached through (`None`: `subject` is a direct member).
    /// Breadth-first, so the shortest chain is kept; cost grows with the nesting only.
    pub(crate) fn groups_of(&self, subject: &Subject) -> Vec<(GroupId, Option<GroupId>)> {
        let mut found: Vec<(GroupId, Option<GroupId>)> = Vec::new();
        let mut queue = std::collections::VecDeque::from([subject.clone()]);
        while let Some(member) = queue.pop_front() {
            let via = match &member {
                Subject::Group(group) => Some(group.clone()),
                Subject::User(_) => None,
            };
            let Some(parents) = self.member_of.get(&member) else {
                continue;
            };
            for parent in parents {
                if found.iter().any(|(g, _)| g == parent) {
                    continue;
                }
                found.push((parent.clone(), via.clone()));
                queue.push_back(Subject::Group(parent.clone()));
            }
        }
        found
    }
}

/// The chain from the outermost group down to the one `subject` is directly in.
pub(crate) fn group_chain(groups: &[(GroupId, Option<GroupId>)], outer: &GroupId) -> Vec<GroupId> {
    let mut chain = vec![outer.clone()];
    let mut current = outer;
    while let Some((_, Some(via))) = groups.iter().find(|(g, _)| g == current) {
        if chain.contains(via) {
            break;
        }
        chain.push(via.clone());
        current = via;
    }
    chain
}
