//! The in-memory state. Every level sits behind an `Arc` so that a new snapshot shares
//! all it does not change: applying a mutation copies only the maps it touches.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

pub(crate) use super::{cow_map::CowMap, shared::Shared, sorted_set::SortedSet};

/// The engine's hash map: foldhash (fast on short string keys, seeded per process so keys
/// chosen by callers cannot force collisions) instead of the default `SipHash`, which
/// dominated check time.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Adds `value` under `key` in a one-to-many index.
pub(crate) fn index_insert<K: std::hash::Hash + Eq + Clone, V: Ord + Clone>(
    index: &mut CowMap<K, SortedSet<V>>,
    key: K,
    value: V,
) {
    index.get_or_insert_default(key).insert(value);
}

/// Removes `value` under `key` in a one-to-many index, dropping the key with its last value
/// so that an index never keeps empty entries.
pub(crate) fn index_remove<K: std::hash::Hash + Eq + Clone, V: Ord + Clone>(
    index: &mut CowMap<K, SortedSet<V>>,
    key: &K,
    value: &V,
) {
    if let Some(values) = index.get_mut(key) {
        values.remove(value);
        if values.is_empty() {
            index.remove(key);
        }
    }
}

use super::{
    ids::TenantRoleId,
    ids::{
        CustomerId, GrantId, GroupId, ObjectId, PartnerId, PermissionLevelId, Revision,
        SecurityGroupId, ServiceId, TenantId, UserId,
    },
    mutation::{
        Access, GrantNode, ObjectScope, ObjectType, ServiceDefinition, Subject, TenantRole,
        UserKind, UserStatus,
    },
    partner::{CustomerState, PartnerState},
    permission::{Catalog, PermissionBits, PermissionSet},
    tenant_roles::TenantRoleState,
};

/// An immutable state of everything at one revision. Cloning is cheap (reference counts);
/// readers keep using a snapshot while the writer builds the next one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub(crate) revision: Revision,
    // Arc on each map: a snapshot built from this one shares the maps it leaves alone.
    /// Partners, with their users, roles and customer groups (codec version 4 and older
    /// kept a name only, see `stored/`).
    #[serde(deserialize_with = "super::stored::partners")]
    pub(crate) partners: Arc<BTreeMap<PartnerId, Arc<PartnerState>>>,
    /// Customers (sharded: a partner may have many, and a change copies one shard).
    pub(crate) customers: CowMap<CustomerId, CustomerState>,
    pub(crate) services: Arc<FastMap<ServiceId, Arc<ServiceState>>>,
    pub(crate) tenants: Arc<FastMap<TenantId, Arc<TenantState>>>,
    /// Failed sign-ins in a row, for users that have any. Last: the layout of codec
    /// version 1 is that of the fields before it (see `stored/v2.rs`).
    pub(crate) sign_in_failures: Arc<BTreeMap<(TenantId, UserId), u32>>,
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

/// A registered service with its catalog resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceState {
    pub(crate) definition: ServiceDefinition,
    pub(crate) catalog: Catalog,
    pub(crate) types: FastMap<String, ObjectType>,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
}

/// One tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Decoding goes through the stored form, which rebuilds the derived user gates.
#[serde(from = "super::stored::StoredTenantState<Arc<TenantService>>")]
pub(crate) struct TenantState {
    pub(crate) name: String,
    pub(crate) customer: Option<CustomerId>,
    pub(crate) owner: UserId,
    /// Behind a pointer, as are grants: a map's table keeps up to half its buckets free,
    /// and a check never reads a user or a grant (it reads access records), so a bucket
    /// holds the key and a pointer instead of the whole record (about 100 bytes less per
    /// user). Shared, so that copying a shard copies no user (see `shared.rs`).
    pub(crate) users: CowMap<UserId, Shared<UserState>>,
    /// Lowercased e-mail → user, for uniqueness.
    /// Arc: copying a shard copies no e-mail text.
    pub(crate) emails: CowMap<Arc<str>, UserId>,
    pub(crate) groups: CowMap<GroupId, Shared<GroupState>>,
    /// Subject → the directory groups it is a direct member of (the reverse of members),
    /// each as a `Subject::Group` so that walking up needs no new keys.
    pub(crate) member_of: CowMap<Subject, SortedSet<Subject>>,
    pub(crate) services: FastMap<ServiceId, Arc<TenantService>>,
    /// The revision of its last visible change (name, customer, owner, services) (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
    /// Its tenant-level roles (module permissions), its own and synced copies (added in
    /// codec version 5).
    pub(crate) roles: BTreeMap<TenantRoleId, TenantRoleState>,
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
    pub(crate) services: SortedSet<ServiceId>,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
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

/// The tenant roles that reach every permission of every subscribed service.
pub(crate) fn full_access_role(role: &TenantRole) -> Option<&'static str> {
    match role {
        TenantRole::Owner => Some("owner"),
        TenantRole::ServiceAdministrator => Some("service_administrator"),
        TenantRole::CustomizedAdministrator(_) => Some("customized_administrator"),
        TenantRole::StandardUser | TenantRole::ApplicationAdministrator(_) => None,
    }
}

/// A directory group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GroupState {
    pub(crate) name: String,
    pub(crate) members: SortedSet<Subject>,
    /// The services the group is an application administrator of (added in codec
    /// version 4).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) administers: SortedSet<ServiceId>,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
}

/// One subscribed service inside one tenant.
// Stored in its own form, which keeps slots and sets by number (see `stored/`); decoding
// checks it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "super::stored::StoredTenantService")]
pub(crate) struct TenantService {
    pub(crate) objects: CowMap<ObjectId, ObjectState>,
    /// Container → direct children; top-level objects under `None`.
    pub(crate) children: CowMap<Option<ObjectId>, SortedSet<ObjectId>>,
    /// The built-in Administrators group's members.
    pub(crate) administrators: Arc<SortedSet<Subject>>,
    /// The revision of the last change of `administrators` (0: before codec version 4).
    pub(crate) administrators_changed_at: Revision,
    pub(crate) security_groups: CowMap<SecurityGroupId, Shared<SecurityGroupState>>,
    /// Subject → security groups it is a direct member of.
    pub(crate) sg_by_member: CowMap<Subject, SortedSet<SecurityGroupId>>,
    pub(crate) levels: CowMap<PermissionLevelId, LevelState>,
    /// Shared: see `TenantState::users`.
    pub(crate) grants: CowMap<GrantId, Shared<GrantState>>,
    /// Subject → grants naming it.
    pub(crate) grants_by_subject: CowMap<Subject, SortedSet<GrantId>>,
    /// User → what it holds here, derived from the maps above and kept current by every
    /// write, so that a check reads one entry (see `effective/`).
    pub(crate) effective: CowMap<UserId, super::effective::UserAccess>,
    /// Directory group → what it holds here with the groups above it, as the last refresh
    /// that needed it computed it: later refreshes read it instead of gathering it again.
    /// Derived and never stored; every change forgets the groups it can reach, and a group
    /// missing here is computed when needed (see `effective/`).
    pub(crate) group_holdings: CowMap<Subject, super::effective::GroupHoldings>,
    /// The slot the next new object gets (see `placement.rs`).
    pub(crate) next_slot: u32,
    /// The permission sets access entries name (see `bit_sets.rs`).
    pub(crate) bit_sets: super::bit_sets::BitSets,
}

/// An object or container: in the objects map's bucket, what a check reads (the
/// ancestry, right after the key) and a pointer to the rest.
///
/// A check reads only the key and the ancestry. With every field in the bucket (208
/// bytes with the key) the map's table, which keeps between an eighth and over half of its
/// buckets free, took about 420 bytes per object, most of the objects' memory; with the
/// rest behind one pointer a bucket is 64 bytes. The fields behind it read as the object's
/// own (`Deref`).
// repr(C), the ancestry first: in the bucket it then follows the key, so that a check
// mostly finds both in one cache line. Stored as its details alone (`transparent`, the
// ancestry skipped): the same bytes as when they were its own fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
#[repr(C)]
pub(crate) struct ObjectState {
    /// This object's slot and its containers', nearest first (see `placement.rs`).
    /// Kept current by creates and moves; not stored with the object: a checkpoint
    /// stores the slot beside it and decoding rebuilds the rest from `parent`.
    #[serde(skip)]
    pub(crate) ancestry: super::placement::Ancestry,
    pub(crate) details: Shared<ObjectDetails>,
}

impl std::ops::Deref for ObjectState {
    type Target = ObjectDetails;

    fn deref(&self) -> &ObjectDetails {
        &self.details
    }
}

impl std::ops::DerefMut for ObjectState {
    fn deref_mut(&mut self) -> &mut ObjectDetails {
        &mut self.details
    }
}

/// What an object keeps besides its ancestry.
///
/// Its texts are boxed `str`s rather than `String`s: they are replaced, never grown, and
/// without a capacity each is 8 bytes smaller, which brings the details with their
/// reference counts from 168 bytes (an allocation of 192) to 144 (of 160): 32 bytes per
/// object, 12 MiB of the default dataset's 400,000. Stored as the same text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectDetails {
    pub(crate) object_type: Box<str>,
    pub(crate) name: Box<str>,
    pub(crate) parent: Option<ObjectId>,
    pub(crate) related: SortedSet<ObjectId>,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
    /// Free text shown and searched with the name (empty: none, also before codec
    /// version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) description: Box<str>,
    /// The user whose call created it (none: created by the platform, or before codec
    /// version 4 kept it). Never changes.
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) creator: Option<UserId>,
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
    pub(crate) members: SortedSet<Subject>,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
}

/// A permission level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LevelState {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permissions: PermissionSet,
    pub(crate) bits: PermissionBits,
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
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
    /// The revision of its last visible change (0: before codec version 4 kept it).
    #[serde(deserialize_with = "super::stored::added_in_v4")]
    pub(crate) changed_at: Revision,
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
    /// Breadth-first, so the shortest chain is kept; cost grows with the nesting only, and
    /// it borrows from the state instead of cloning ids.
    pub(crate) fn groups_of<'a>(
        &'a self,
        subject: &'a Subject,
    ) -> Vec<(&'a Subject, Option<&'a Subject>)> {
        let mut found: Vec<(&Subject, Option<&Subject>)> = Vec::new();
        let mut next = 0;
        let mut current = subject;
        loop {
            let via = matches!(current, Subject::Group(_)).then_some(current);
            if let Some(parents) = self.member_of.get(current) {
                for parent in parents {
                    if !found.iter().any(|(g, _)| *g == parent) {
                        found.push((parent, via));
                    }
                }
            }
            let Some((group, _)) = found.get(next) else {
                return found;
            };
            current = group;
            next += 1;
        }
    }
}

/// The chain from the outermost group down to the one the subject is directly in.
pub(crate) fn group_chain(
    groups: &[(&Subject, Option<&Subject>)],
    outer: &Subject,
) -> Vec<GroupId> {
    let mut chain: Vec<&Subject> = vec![outer];
    let mut current = outer;
    while let Some((_, Some(via))) = groups.iter().find(|(g, _)| *g == current) {
        if chain.contains(via) {
            break;
        }
        chain.push(via);
        current = via;
    }
    chain
        .into_iter()
        .filter_map(|s| match s {
            Subject::Group(g) => Some(g.clone()),
            Subject::User(_) => None,
        })
        .collect()
}
