//! A reproducible synthetic dataset for benchmarks and load tests: realistic tenants with
//! users, nested directory groups, two services with container trees, security groups,
//! permission levels and direct grants, as the mutations that build them, plus a stream of
//! mixed allowed and denied check queries over them.
//!
//! Pure and deterministic: the same spec gives the same mutations and queries (a small
//! splitmix64 generator, no clock, no I/O).

use std::collections::BTreeSet;

use crate::engine::{
    Access, CheckQuery, DemotionPolicy, GrantId, GrantNode, GroupId, Mutation, MutationError,
    NewUser, ObjectId, ObjectScope, ObjectType, Permission, PermissionLevelId, PermissionSet,
    Revision, SecurityGroupId, ServiceDefinition, ServiceId, Snapshot, SnapshotBuilder, Subject,
    TenantId, TenantRole, Timestamp, UserId, UserKind, UserStatus,
};

/// The shape of a dataset. `scale` multiplies the number of tenants; each tenant keeps the
/// same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Multiplies `tenants`.
    pub scale: u32,
    /// Tenants at scale 1.
    pub tenants: u32,
    /// Users per tenant (the owner included).
    pub users_per_tenant: u32,
    /// Objects per service and tenant.
    pub objects_per_service: u32,
    /// Direct grants per service and tenant.
    pub grants_per_service: u32,
    /// Seed of the generator.
    pub seed: u64,
}

impl DatasetSpec {
    /// The default benchmark dataset at `scale`: 100 tenants × 1,000 users, 50 directory
    /// groups nested up to depth 4, 2 services with 20 security groups, 5 permission levels,
    /// 2,000 objects in containers up to 5 deep and 500 direct grants each.
    pub fn standard(scale: u32) -> Self {
        Self {
            scale,
            tenants: 100,
            users_per_tenant: 1_000,
            objects_per_service: 2_000,
            grants_per_service: 500,
            seed: 0x00c0_ffee,
        }
    }
}

/// The ids one tenant of the dataset uses, for building queries.
#[derive(Debug, Clone)]
pub struct TenantIds {
    /// The tenant.
    pub tenant: TenantId,
    /// Its users (the owner first).
    pub users: Vec<UserId>,
    /// Per service (same order as [`Dataset::services`]), its objects.
    pub objects: Vec<Vec<ObjectId>>,
}

/// Counts of what a dataset holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatasetStats {
    /// Tenants.
    pub tenants: u64,
    /// Users.
    pub users: u64,
    /// Directory groups.
    pub groups: u64,
    /// Directory-group and security-group memberships.
    pub memberships: u64,
    /// Direct grants.
    pub grants: u64,
    /// Objects.
    pub objects: u64,
}

/// A generated dataset: the mutations that build it, in an order the engine accepts.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Every mutation, in order.
    pub mutations: Vec<Mutation>,
    /// The registered services.
    pub services: Vec<ServiceId>,
    /// Every permission of the (shared) catalog.
    pub permissions: Vec<Permission>,
    /// Per tenant, the ids in use.
    pub tenants: Vec<TenantIds>,
    /// What it holds.
    pub stats: DatasetStats,
}

const FEATURES: [&str; 5] = ["backup", "restore", "compare", "export", "settings"];
const OPERATIONS: [&str; 3] = ["run", "view", "edit"];
const GROUPS: u32 = 50;
const SECURITY_GROUPS: u32 = 20;
const LEVELS: u32 = 5;
/// Directory groups `i >= GROUP_FANOUT` are members of group `i - GROUP_FANOUT`: with 50
/// groups that gives chains of depth 4.
const GROUP_FANOUT: u32 = 10;
/// Containers nest at most this deep.
const MAX_CONTAINER_DEPTH: usize = 5;

/// splitmix64: tiny, fast, good enough for synthetic data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        usize::try_from(self.next() % u64::try_from(bound).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

fn id<T>(text: &str, parse: fn(&str) -> Result<T, crate::engine::IdError>) -> Option<T> {
    parse(text).ok()
}

impl Dataset {
    /// The state the dataset builds: every mutation applied in order at `now`, the n-th
    /// (from 0) at revision n + 1. Refused only if the generator is wrong: the mutation's
    /// index and why.
    pub fn build(&self, now: Timestamp) -> Result<Snapshot, (usize, MutationError)> {
        let mut builder = SnapshotBuilder::new();
        for (n, (mutation, revision)) in self.mutations.iter().zip(1..).enumerate() {
            builder
                .apply(Revision::new(revision), mutation, now)
                .map_err(|err| (n, err))?;
        }
        Ok(builder.finish())
    }

    /// Generates the dataset of `spec`.
    pub fn generate(spec: &DatasetSpec) -> Self {
        let mut rng = Rng(spec.seed);
        let permissions: Vec<Permission> = FEATURES
            .iter()
            .flat_map(|f| OPERATIONS.iter().map(move |o| format!("{f}.{o}")))
            .filter_map(|p| Permission::parse(&p).ok())
            .collect();
        let services: Vec<ServiceId> = ["crm-backup", "iaas-backup"]
            .iter()
            .filter_map(|s| id(s, ServiceId::parse))
            .collect();
        let mut dataset = Self {
            mutations: Vec::new(),
            services: services.clone(),
            permissions: permissions.clone(),
            tenants: Vec::new(),
            stats: DatasetStats::default(),
        };
        for (service, demotion) in services.iter().zip([
            DemotionPolicy::RemoveFromAdministrators,
            DemotionPolicy::KeepInAdministrators,
        ]) {
            dataset.mutations.push(Mutation::RegisterService {
                service: service.clone(),
                definition: service_definition(&permissions, demotion),
            });
        }
        let tenants = spec.tenants.saturating_mul(spec.scale.max(1));
        for t in 0..tenants {
            dataset.generate_tenant(spec, t, &mut rng);
        }
        dataset
    }

    fn generate_tenant(&mut self, spec: &DatasetSpec, index: u32, rng: &mut Rng) {
        let Some(tenant) = id(&format!("t{index}"), TenantId::parse) else {
            return;
        };
        let users: Vec<UserId> = (0..spec.users_per_tenant.max(1))
            .filter_map(|u| id(&format!("u{u}"), UserId::parse))
            .collect();
        let Some(owner) = users.first().cloned() else {
            return;
        };
        let new_user = |user: &UserId| NewUser {
            user: user.clone(),
            email: format!("{user}@{tenant}.example"),
            display_name: format!("User {user}"),
            kind: UserKind::Local,
        };
        let m = &mut self.mutations;
        m.push(Mutation::CreateTenant {
            tenant: tenant.clone(),
            name: format!("Tenant {index}"),
            customer: None,
            owner: new_user(&owner),
        });
        for service in &self.services {
            m.push(Mutation::SubscribeService {
                tenant: tenant.clone(),
                service: service.clone(),
            });
        }
        // Per service, the users who reach it (security-group members must).
        let mut reach: Vec<Vec<UserId>> = vec![Vec::new(); self.services.len()];
        for (n, user) in users.iter().enumerate().skip(1) {
            m.push(Mutation::InviteUser {
                tenant: tenant.clone(),
                user: new_user(user),
            });
            let status = match rng.below(100) {
                0 => UserStatus::Invited,
                1 => UserStatus::Disabled,
                2 => UserStatus::LockedUntil(Timestamp::from_unix_millis(i64::MAX / 2)),
                _ => UserStatus::Active,
            };
            if status != UserStatus::Invited {
                m.push(Mutation::SetUserStatus {
                    tenant: tenant.clone(),
                    user: user.clone(),
                    status,
                });
            }
            if n <= 3 {
                m.push(Mutation::SetTenantRole {
                    tenant: tenant.clone(),
                    user: user.clone(),
                    role: TenantRole::ServiceAdministrator,
                });
                continue;
            }
            if n <= 13 {
                let service = self.services.get(n % self.services.len()).cloned();
                if let Some(service) = service {
                    m.push(Mutation::SetTenantRole {
                        tenant: tenant.clone(),
                        user: user.clone(),
                        role: TenantRole::ApplicationAdministrator(BTreeSet::from([service])),
                    });
                }
            }
            for (s, service) in self.services.iter().enumerate() {
                let admin_of_this = n <= 13 && n % self.services.len() == s;
                if admin_of_this || rng.chance(if s == 0 { 80 } else { 60 }) {
                    if !admin_of_this {
                        m.push(Mutation::GrantServiceAccess {
                            tenant: tenant.clone(),
                            user: user.clone(),
                            service: service.clone(),
                        });
                    }
                    if let Some(list) = reach.get_mut(s) {
                        list.push(user.clone());
                    }
                }
            }
        }
        self.stats.users += u64::try_from(users.len()).unwrap_or(0);

        let groups: Vec<GroupId> = (0..GROUPS)
            .filter_map(|g| id(&format!("g{g}"), GroupId::parse))
            .collect();
        for (g, group) in groups.iter().enumerate() {
            m.push(Mutation::CreateGroup {
                tenant: tenant.clone(),
                group: group.clone(),
                name: format!("Group {g}"),
            });
            let parent = g
                .checked_sub(usize::try_from(GROUP_FANOUT).unwrap_or(usize::MAX))
                .and_then(|p| groups.get(p));
            if let Some(parent) = parent {
                m.push(Mutation::AddGroupMember {
                    tenant: tenant.clone(),
                    group: parent.clone(),
                    member: Subject::Group(group.clone()),
                });
                self.stats.memberships += 1;
            }
        }
        self.stats.groups += u64::try_from(groups.len()).unwrap_or(0);
        for user in users.iter().skip(1) {
            let mut chosen = BTreeSet::new();
            for _ in 0..=rng.below(3) {
                if let Some(group) = rng.pick(&groups) {
                    chosen.insert(group.clone());
                }
            }
            for group in chosen {
                m.push(Mutation::AddGroupMember {
                    tenant: tenant.clone(),
                    group,
                    member: Subject::User(user.clone()),
                });
                self.stats.memberships += 1;
            }
        }

        let mut objects_per_service = Vec::new();
        for (s, service) in self.services.iter().enumerate() {
            let reachers = reach.get(s).cloned().unwrap_or_default();
            let objects = generate_objects(m, &tenant, service, spec, rng, &mut self.stats);
            let containers: Vec<ObjectId> = objects
                .iter()
                .filter(|(_, container)| *container)
                .map(|(o, _)| o.clone())
                .collect();
            let object_ids: Vec<ObjectId> = objects.into_iter().map(|(o, _)| o).collect();
            let subject = |rng: &mut Rng| -> Option<Subject> {
                if rng.chance(20) {
                    rng.pick(&groups).cloned().map(Subject::Group)
                } else {
                    rng.pick(&reachers).cloned().map(Subject::User)
                }
            };
            for g in 0..SECURITY_GROUPS {
                let Some(group) = id(&format!("sg{g}"), SecurityGroupId::parse) else {
                    continue;
                };
                let scope = if rng.chance(20) {
                    ObjectScope::AllObjects
                } else {
                    ObjectScope::Objects(
                        (0..=rng.below(3))
                            .filter_map(|_| rng.pick(&containers).cloned())
                            .collect(),
                    )
                };
                m.push(Mutation::PutSecurityGroup {
                    tenant: tenant.clone(),
                    service: service.clone(),
                    group: group.clone(),
                    name: format!("Security group {g}"),
                    description: format!("generated security group {g}"),
                    permissions: random_set(rng),
                    scope,
                });
                let mut members = BTreeSet::new();
                for _ in 0..12 {
                    if let Some(member) = subject(rng) {
                        members.insert(member);
                    }
                }
                for member in members {
                    m.push(Mutation::AddSecurityGroupMember {
                        tenant: tenant.clone(),
                        service: service.clone(),
                        group: group.clone(),
                        member,
                    });
                    self.stats.memberships += 1;
                }
            }
            let levels: Vec<PermissionLevelId> = (0..LEVELS)
                .filter_map(|l| id(&format!("level{l}"), PermissionLevelId::parse))
                .collect();
            for (l, level) in levels.iter().enumerate() {
                m.push(Mutation::PutPermissionLevel {
                    tenant: tenant.clone(),
                    service: service.clone(),
                    level: level.clone(),
                    name: format!("Level {l}"),
                    description: String::new(),
                    permissions: if l == 0 {
                        PermissionSet::all()
                    } else {
                        random_set(rng)
                    },
                });
            }
            for g in 0..spec.grants_per_service {
                let (Some(grant), Some(subject)) =
                    (id(&format!("grant{g}"), GrantId::parse), subject(rng))
                else {
                    continue;
                };
                let access = if rng.chance(50) {
                    rng.pick(&levels)
                        .cloned()
                        .map_or_else(|| Access::Permissions(random_set(rng)), Access::Level)
                } else {
                    Access::Permissions(random_set(rng))
                };
                let node = if rng.chance(5) {
                    GrantNode::Service
                } else {
                    rng.pick(&object_ids)
                        .cloned()
                        .map_or(GrantNode::Service, GrantNode::Object)
                };
                let expires_at = rng.chance(5).then(|| {
                    Timestamp::from_unix_millis(if rng.chance(50) { 1 } else { i64::MAX / 2 })
                });
                m.push(Mutation::GiveGrant {
                    tenant: tenant.clone(),
                    service: service.clone(),
                    grant,
                    subject,
                    access,
                    node,
                    expires_at,
                    dependencies: crate::engine::Dependencies::Unchecked,
                });
                self.stats.grants += 1;
            }
            objects_per_service.push(object_ids);
        }
        self.stats.tenants += 1;
        self.tenants.push(TenantIds {
            tenant,
            users,
            objects: objects_per_service,
        });
    }

    /// `count` check queries over random tenants, services, users (a few unknown),
    /// permissions and objects (a tenth on the service as a whole): a mix of allows and
    /// denies of every kind.
    pub fn queries(&self, count: usize, seed: u64) -> Vec<CheckQuery> {
        self.queries_within(self.tenants.len(), count, seed)
    }

    /// `count` queries like [`queries`](Self::queries), drawn from the first `tenants`
    /// tenants only (all of them if there are fewer). Their working set is then the same
    /// at every scale: comparing scales separates what a check computes from how far the
    /// memory it reads is (more of it is a cache or TLB miss in a larger state).
    pub fn queries_within(&self, tenants: usize, count: usize, seed: u64) -> Vec<CheckQuery> {
        let pool = self.tenants.get(..tenants).unwrap_or(&self.tenants);
        let mut rng = Rng(seed);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let Some(tenant) = rng.pick(pool) else {
                break;
            };
            let s = rng.below(self.services.len());
            let (Some(service), Some(permission)) =
                (self.services.get(s), rng.pick(&self.permissions))
            else {
                break;
            };
            let user = if rng.chance(1) {
                id("nobody", UserId::parse)
            } else {
                rng.pick(&tenant.users).cloned()
            };
            let object = if rng.chance(10) {
                None
            } else {
                tenant.objects.get(s).and_then(|o| rng.pick(o)).cloned()
            };
            if let Some(user) = user {
                out.push(CheckQuery {
                    tenant: tenant.tenant.clone(),
                    service: service.clone(),
                    user,
                    permission: permission.clone(),
                    object,
                });
            }
        }
        out
    }
}

fn service_definition(permissions: &[Permission], demotion: DemotionPolicy) -> ServiceDefinition {
    let object_type = |name: &str, top_level: bool, contains: &[&str]| ObjectType {
        name: name.to_owned(),
        top_level,
        may_contain: contains.iter().map(|s| (*s).to_owned()).collect(),
    };
    ServiceDefinition {
        display_name: "Generated backup service".into(),
        permissions: permissions.to_vec(),
        object_types: vec![
            object_type("org", true, &["folder", "site"]),
            object_type("folder", false, &["folder", "site"]),
            object_type("site", false, &[]),
            object_type("plan", true, &[]),
        ],
        demotion,
    }
}

/// A random permission set: one to three patterns, some `feature.*`.
fn random_set(rng: &mut Rng) -> PermissionSet {
    let patterns: Vec<String> = (0..=rng.below(3))
        .map(|_| {
            let feature = FEATURES
                .get(rng.below(FEATURES.len()))
                .copied()
                .unwrap_or("backup");
            if rng.chance(40) {
                format!("{feature}.*")
            } else {
                let operation = OPERATIONS
                    .get(rng.below(OPERATIONS.len()))
                    .copied()
                    .unwrap_or("run");
                format!("{feature}.{operation}")
            }
        })
        .collect();
    PermissionSet::parse(patterns.iter().map(String::as_str)).unwrap_or_default()
}

/// Creates the objects of one service: 10 orgs, folders nested up to 5 deep, sites in
/// them, and plans covering a few sites. Returns each object with whether it contains.
fn generate_objects(
    m: &mut Vec<Mutation>,
    tenant: &TenantId,
    service: &ServiceId,
    spec: &DatasetSpec,
    rng: &mut Rng,
    stats: &mut DatasetStats,
) -> Vec<(ObjectId, bool)> {
    let total = usize::try_from(spec.objects_per_service).unwrap_or(0);
    let mut objects: Vec<(ObjectId, bool)> = Vec::with_capacity(total);
    // Containers that may still hold a folder, with their depth.
    let mut containers: Vec<(ObjectId, usize)> = Vec::new();
    let mut sites: Vec<ObjectId> = Vec::new();
    for k in 0..total {
        let Some(object) = id(&format!("o{k}"), ObjectId::parse) else {
            continue;
        };
        let (object_type, parent, related, depth) = if k < 10 {
            ("org", None, BTreeSet::new(), 1)
        } else if k < total / 10 {
            let Some((parent, depth)) = rng.pick(&containers).cloned() else {
                continue;
            };
            if depth >= MAX_CONTAINER_DEPTH {
                ("site", Some(parent), BTreeSet::new(), depth + 1)
            } else {
                ("folder", Some(parent), BTreeSet::new(), depth + 1)
            }
        } else if k < total - total / 20 {
            let Some((parent, depth)) = rng.pick(&containers).cloned() else {
                continue;
            };
            ("site", Some(parent), BTreeSet::new(), depth + 1)
        } else {
            let related: BTreeSet<ObjectId> =
                (0..3).filter_map(|_| rng.pick(&sites).cloned()).collect();
            ("plan", None, related, 1)
        };
        let container = matches!(object_type, "org" | "folder");
        if container {
            containers.push((object.clone(), depth));
        } else if object_type == "site" {
            sites.push(object.clone());
        }
        m.push(Mutation::CreateObject {
            tenant: tenant.clone(),
            service: service.clone(),
            object: object.clone(),
            object_type: object_type.to_owned(),
            name: format!("{object_type} {k}"),
            parent,
            related,
            description: String::new(),
            creator: None,
        });
        stats.objects += 1;
        objects.push((object, container));
    }
    objects
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::engine::{Revision, SnapshotBuilder};

    #[test]
    fn a_small_dataset_builds_without_refusals_and_mixes_allows_and_denies() {
        let spec = DatasetSpec {
            tenants: 2,
            users_per_tenant: 200,
            objects_per_service: 300,
            grants_per_service: 100,
            ..DatasetSpec::standard(1)
        };
        let dataset = Dataset::generate(&spec);
        let mut builder = SnapshotBuilder::new();
        for (n, mutation) in dataset.mutations.iter().enumerate() {
            let revision = Revision::new(u64::try_from(n).unwrap() + 1);
            builder
                .apply(revision, mutation, Timestamp::from_unix_millis(1_000))
                .unwrap_or_else(|err| panic!("mutation {n} {mutation:?} refused: {err}"));
        }
        let snapshot = builder.finish();
        let queries = dataset.queries(2_000, 7);
        let allowed = queries
            .iter()
            .filter(|q| snapshot.check(q, Timestamp::from_unix_millis(1_000)))
            .count();
        assert!(
            allowed > 100 && allowed < 1_900,
            "{allowed} of 2000 allowed"
        );
        assert_eq!(dataset.stats.tenants, 2);
        assert_eq!(dataset.stats.users, 400);
        assert_eq!(Dataset::generate(&spec).mutations, dataset.mutations);
    }

    #[test]
    fn queries_within_a_few_tenants_stay_in_them_and_over_all_equal_the_plain_ones() {
        let spec = DatasetSpec {
            tenants: 5,
            users_per_tenant: 20,
            objects_per_service: 100,
            grants_per_service: 10,
            ..DatasetSpec::standard(1)
        };
        let dataset = Dataset::generate(&spec);
        let first_two = [
            TenantId::parse("t0").unwrap(),
            TenantId::parse("t1").unwrap(),
        ];
        let within = dataset.queries_within(2, 500, 3);
        assert_eq!(within.len(), 500);
        assert!(within.iter().all(|q| first_two.contains(&q.tenant)));
        assert!(
            first_two
                .iter()
                .all(|t| within.iter().any(|q| q.tenant == *t))
        );
        assert_eq!(dataset.queries_within(2, 500, 3), within);
        assert_eq!(dataset.queries_within(99, 300, 3), dataset.queries(300, 3));
    }
}
