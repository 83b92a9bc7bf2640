//! Property test of the partner level against a naive reference: after every random
//! change (customer attributes, group rules and members, resyncs, role scopes, role
//! memberships with expiries, tenant links), every group's members are exactly the
//! customers its rule selects, and every partner user's check in every tenant, now and
//! later, is what a walk over the reference's plain data decides.
//!
//! The engine keeps group memberships on each customer and updates them per change; the
//! reference recomputes everything from scratch, so a membership the engine forgot to
//! move, or a check that reads a stale one, fails here.

use std::collections::{BTreeMap, BTreeSet};

use authzd::engine::{
    CheckQuery, CustomerGroupId, CustomerId, Mutation, NewUser, PartnerId, PartnerRoleId,
    Permission, Revision, ServiceId, Snapshot, TenantId, Timestamp, UserId, UserKind, UserStatus,
    partner::{
        Condition, CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerScope, GroupRule,
        PartnerChange, PartnerRoleDetails,
    },
};
use proptest::prelude::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);
/// A time after every expiry the generator writes.
const LATER: Timestamp = Timestamp::from_unix_millis(1_000_000 + 10 * 60_000);
const CUSTOMERS: u8 = 5;
const GROUPS: u8 = 4;
const ROLES: u8 = 3;
const USERS: u8 = 3;
const TENANTS: u8 = 4;
const TAGS: &[&str] = &["eu", "us", "gold"];
const CENTRES: &[&str] = &["eu-west", "us-east"];

fn partner() -> PartnerId {
    PartnerId::parse("south").unwrap()
}
fn service() -> ServiceId {
    ServiceId::parse("crm").unwrap()
}
fn customer(n: u8) -> CustomerId {
    CustomerId::parse(&format!("c{}", n % CUSTOMERS)).unwrap()
}
fn group(n: u8) -> CustomerGroupId {
    CustomerGroupId::parse(&format!("g{}", n % GROUPS)).unwrap()
}
fn role(n: u8) -> PartnerRoleId {
    PartnerRoleId::parse(&format!("r{}", n % ROLES)).unwrap()
}
fn user(n: u8) -> UserId {
    UserId::parse(&format!("p{}", n % USERS)).unwrap()
}
fn tenant(n: u8) -> TenantId {
    TenantId::parse(&format!("t{}", n % TENANTS)).unwrap()
}
fn new_user(id: &str) -> NewUser {
    NewUser {
        user: UserId::parse(id).unwrap(),
        email: format!("{id}@south.example"),
        display_name: id.into(),
        kind: UserKind::Local,
    }
}

/// A random condition over the small attribute sets, nested at most twice.
fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (0..TAGS.len()).prop_map(|i| Condition::Tag(TAGS[i].into())),
        (0..CENTRES.len()).prop_map(|i| Condition::DataCentre(CENTRES[i].into())),
        Just(Condition::Service(service())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Condition::All),
            proptest::collection::vec(inner, 0..3).prop_map(Condition::Any),
        ]
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Customer, tags (bits), data centre, subscribes.
    PutCustomer(u8, u8, u8, bool),
    /// Group, dynamic condition or static.
    PutGroup(u8, Option<Condition>),
    /// Group, customers (bits), remove.
    SetMembers(u8, u8, bool),
    Resync(u8),
    DeleteGroup(u8),
    /// Role, access (0..3), scope: all, or groups (bits).
    PutRole(u8, u8, Option<u8>),
    DeleteRole(u8),
    /// Role, user, expiry in minutes from now (none: for good).
    AddMember(u8, u8, Option<u8>),
    RemoveMember(u8, u8),
    /// User, active.
    SetStatus(u8, bool),
    /// Tenant, customer (none: unlinked).
    Link(u8, Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let n = any::<u8>;
    prop_oneof![
        4 => (n(), n(), n(), any::<bool>()).prop_map(|(c, t, d, s)| Op::PutCustomer(c, t, d, s)),
        2 => (n(), proptest::option::weighted(0.7, condition())).prop_map(|(g, c)| Op::PutGroup(g, c)),
        2 => (n(), n(), any::<bool>()).prop_map(|(g, c, r)| Op::SetMembers(g, c, r)),
        1 => n().prop_map(Op::Resync),
        1 => n().prop_map(Op::DeleteGroup),
        2 => (n(), n(), proptest::option::of(n())).prop_map(|(r, a, s)| Op::PutRole(r, a, s)),
        1 => n().prop_map(Op::DeleteRole),
        3 => (n(), n(), proptest::option::of(1u8..8)).prop_map(|(r, u, e)| Op::AddMember(r, u, e)),
        1 => (n(), n()).prop_map(|(r, u)| Op::RemoveMember(r, u)),
        1 => (n(), any::<bool>()).prop_map(|(u, a)| Op::SetStatus(u, a)),
        2 => (n(), proptest::option::of(n())).prop_map(|(t, c)| Op::Link(t, c)),
    ]
}

fn bits<T>(mask: u8, count: u8, of: impl Fn(u8) -> T) -> impl Iterator<Item = T> {
    (0..count).filter(move |i| mask & (1 << i) != 0).map(of)
}

fn customer_details(tags: u8, centre: u8, subscribes: bool) -> CustomerDetails {
    CustomerDetails {
        name: "Customer".into(),
        email: "it@customer.example".into(),
        tags: bits(tags, 3, |i| TAGS[usize::from(i)].to_owned()).collect(),
        data_centre: CENTRES[usize::from(centre) % CENTRES.len()].into(),
        services: if subscribes {
            [service()].into()
        } else {
            BTreeSet::new()
        },
    }
}

fn access(n: u8) -> CustomerAccess {
    [
        CustomerAccess::None,
        CustomerAccess::TenantUser,
        CustomerAccess::ServiceAdministrator,
    ][usize::from(n % 3)]
}

fn to_change(op: &Op) -> PartnerChange {
    let partner = partner();
    match op {
        Op::PutCustomer(c, tags, centre, subscribes) => PartnerChange::PutCustomer {
            partner,
            customer: customer(*c),
            details: customer_details(*tags, *centre, *subscribes),
        },
        Op::PutGroup(g, condition) => PartnerChange::PutCustomerGroup {
            partner,
            group: group(*g),
            details: CustomerGroupDetails {
                name: format!("Group {}", g % GROUPS),
                description: String::new(),
                rule: condition
                    .clone()
                    .map_or(GroupRule::Static, GroupRule::Dynamic),
            },
        },
        Op::SetMembers(g, customers, remove) => PartnerChange::SetGroupCustomers {
            partner,
            group: group(*g),
            customers: bits(*customers, CUSTOMERS, customer).collect(),
            remove: *remove,
        },
        Op::Resync(g) => PartnerChange::ResyncCustomerGroup {
            partner,
            group: group(*g),
        },
        Op::DeleteGroup(g) => PartnerChange::DeleteCustomerGroup {
            partner,
            group: group(*g),
        },
        Op::PutRole(r, a, scope) => PartnerChange::PutRole {
            partner,
            role: role(*r),
            details: PartnerRoleDetails {
                name: format!("Role {}", r % ROLES),
                description: String::new(),
                platform_permissions: Default::default(),
                module_permissions: Default::default(),
                access: access(*a),
                scope: match scope {
                    None => CustomerScope::AllCustomers,
                    Some(mask) => CustomerScope::Groups(bits(*mask, GROUPS, group).collect()),
                },
            },
        },
        Op::DeleteRole(r) => PartnerChange::DeleteRole {
            partner,
            role: role(*r),
        },
        Op::AddMember(r, u, minutes) => PartnerChange::AddRoleMember {
            partner,
            role: role(*r),
            user: user(*u),
            until: minutes.map(|m| NOW.plus_millis(i64::from(m) * 60_000)),
        },
        Op::RemoveMember(r, u) => PartnerChange::RemoveRoleMember {
            partner,
            role: role(*r),
            user: user(*u),
        },
        Op::SetStatus(u, active) => PartnerChange::SetUserStatus {
            partner,
            user: user(*u),
            status: if *active {
                UserStatus::Active
            } else {
                UserStatus::Disabled
            },
        },
        Op::Link(t, c) => PartnerChange::SetTenantCustomer {
            tenant: tenant(*t),
            customer: c.map(customer),
        },
    }
}

/// The partner level as plain data, recomputed from scratch for every question.
#[derive(Debug, Default)]
struct Reference {
    customers: BTreeMap<CustomerId, CustomerDetails>,
    rules: BTreeMap<CustomerGroupId, GroupRule>,
    /// Static members only.
    statics: BTreeMap<CustomerGroupId, BTreeSet<CustomerId>>,
    roles: BTreeMap<PartnerRoleId, PartnerRoleDetails>,
    members: BTreeMap<(PartnerRoleId, UserId), Option<Timestamp>>,
    active: BTreeMap<UserId, bool>,
    links: BTreeMap<TenantId, CustomerId>,
}

fn holds(condition: &Condition, customer: &CustomerDetails) -> bool {
    match condition {
        Condition::Tag(tag) => customer.tags.contains(tag),
        Condition::DataCentre(centre) => customer.data_centre == *centre,
        Condition::Service(service) => customer.services.contains(service),
        Condition::All(terms) => terms.iter().all(|t| holds(t, customer)),
        Condition::Any(terms) => terms.iter().any(|t| holds(t, customer)),
    }
}

impl Reference {
    fn apply(&mut self, change: &PartnerChange) {
        match change {
            PartnerChange::PutCustomer {
                customer, details, ..
            } => {
                self.customers.insert(customer.clone(), details.clone());
            }
            PartnerChange::PutCustomerGroup { group, details, .. } => {
                let was_dynamic = matches!(self.rules.get(group), Some(GroupRule::Dynamic(_)));
                if let (true, GroupRule::Static) = (was_dynamic, &details.rule) {
                    // A dynamic group turned static keeps its members by hand.
                    let members = self.members_of(group);
                    self.statics.insert(group.clone(), members);
                }
                if let GroupRule::Dynamic(_) = details.rule {
                    self.statics.remove(group);
                }
                self.rules.insert(group.clone(), details.rule.clone());
            }
            PartnerChange::SetGroupCustomers {
                group,
                customers,
                remove,
                ..
            } => {
                let members = self.statics.entry(group.clone()).or_default();
                for customer in customers {
                    if *remove {
                        members.remove(customer);
                    } else {
                        members.insert(customer.clone());
                    }
                }
            }
            PartnerChange::DeleteCustomerGroup { group, .. } => {
                self.rules.remove(group);
                self.statics.remove(group);
            }
            PartnerChange::PutRole { role, details, .. } => {
                self.roles.insert(role.clone(), details.clone());
            }
            PartnerChange::DeleteRole { role, .. } => {
                self.roles.remove(role);
                self.members.retain(|(r, _), _| r != role);
            }
            PartnerChange::AddRoleMember {
                role, user, until, ..
            } => {
                self.members.insert((role.clone(), user.clone()), *until);
            }
            PartnerChange::RemoveRoleMember { role, user, .. } => {
                self.members.remove(&(role.clone(), user.clone()));
            }
            PartnerChange::SetUserStatus { user, status, .. } => {
                self.active
                    .insert(user.clone(), *status == UserStatus::Active);
            }
            PartnerChange::SetTenantCustomer { tenant, customer } => match customer {
                Some(customer) => {
                    self.links.insert(tenant.clone(), customer.clone());
                }
                None => {
                    self.links.remove(tenant);
                }
            },
            PartnerChange::ResyncCustomerGroup { .. } => {}
            other => panic!("the generator makes no {other:?}"),
        }
    }

    fn members_of(&self, group: &CustomerGroupId) -> BTreeSet<CustomerId> {
        match self.rules.get(group) {
            None => BTreeSet::new(),
            Some(GroupRule::Static) => self
                .statics
                .get(group)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| self.customers.contains_key(c))
                .collect(),
            Some(GroupRule::Dynamic(condition)) => self
                .customers
                .iter()
                .filter(|(_, details)| holds(condition, details))
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }

    fn allows(&self, user: &UserId, tenant: &TenantId, now: Timestamp) -> bool {
        let Some(customer) = self.links.get(tenant) else {
            return false;
        };
        if !self.active.get(user).copied().unwrap_or(false) {
            return false;
        }
        self.members.iter().any(|((role, member), until)| {
            member == user
                && until.is_none_or(|until| now < until)
                && self.roles.get(role).is_some_and(|details| {
                    details.access == CustomerAccess::ServiceAdministrator
                        && match &details.scope {
                            CustomerScope::AllCustomers => true,
                            CustomerScope::Groups(groups) => {
                                groups.iter().any(|g| self.members_of(g).contains(customer))
                            }
                        }
                })
        })
    }
}

/// The platform: a service, the tenants, the partner with its users (invited, so that the
/// generator's status changes decide who is active).
fn setup() -> (Snapshot, Reference) {
    let mut snapshot = Snapshot::empty();
    let mut revision = Revision::ZERO;
    let mut apply = |snapshot: &mut Snapshot, mutation: Mutation| {
        revision = revision.next();
        *snapshot = snapshot.apply(revision, &mutation, NOW).unwrap();
    };
    apply(
        &mut snapshot,
        Mutation::RegisterService {
            service: service(),
            definition: authzd::engine::ServiceDefinition {
                display_name: "CRM".into(),
                permissions: vec![Permission::parse("restore.run").unwrap()],
                object_types: Vec::new(),
                demotion: authzd::engine::DemotionPolicy::RemoveFromAdministrators,
            },
        },
    );
    for t in 0..TENANTS {
        apply(
            &mut snapshot,
            Mutation::CreateTenant {
                tenant: tenant(t),
                name: "Tenant".into(),
                customer: None,
                owner: new_user("owner"),
            },
        );
        apply(
            &mut snapshot,
            Mutation::SubscribeService {
                tenant: tenant(t),
                service: service(),
            },
        );
    }
    apply(
        &mut snapshot,
        Mutation::Partner(PartnerChange::Onboard {
            partner: partner(),
            name: "South".into(),
            owner: new_user("sam"),
        }),
    );
    for u in 0..USERS {
        apply(
            &mut snapshot,
            Mutation::Partner(PartnerChange::InviteUser {
                partner: partner(),
                user: new_user(user(u).as_str()),
                roles: BTreeMap::new(),
            }),
        );
    }
    (snapshot, Reference::default())
}

fn agrees(ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut snapshot, mut reference) = setup();
    for op in ops {
        let change = to_change(op);
        let revision = snapshot.revision().next();
        let Ok(next) = snapshot.apply(revision, &Mutation::Partner(change.clone()), NOW) else {
            continue;
        };
        snapshot = next;
        reference.apply(&change);
        for g in 0..GROUPS {
            let group = group(g);
            let engine: BTreeSet<CustomerId> = snapshot
                .customer_group_members(&partner(), &group)
                .map(|members| members.into_iter().map(|m| m.customer).collect())
                .unwrap_or_default();
            prop_assert_eq!(
                &engine,
                &reference.members_of(&group),
                "group {} after {:?}",
                group,
                op
            );
        }
        for u in 0..USERS {
            for t in 0..TENANTS {
                for now in [NOW, LATER] {
                    let query = CheckQuery {
                        tenant: tenant(t),
                        service: service(),
                        user: user(u),
                        permission: Permission::parse("restore.run").unwrap(),
                        object: None,
                    };
                    let allowed = snapshot.check_partner_user(&query, now);
                    prop_assert_eq!(
                        allowed,
                        snapshot.explain_partner_user(&query, now).is_allowed(),
                        "check and explain differ for {:?}",
                        query
                    );
                    prop_assert_eq!(
                        allowed,
                        reference.allows(&user(u), &tenant(t), now),
                        "{:?} at {:?} after {:?}",
                        query,
                        now,
                        op
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn memberships_and_partner_checks_match_a_recomputation(ops in proptest::collection::vec(op(), 1..40)) {
        agrees(&ops)?;
    }
}
