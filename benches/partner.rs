//! Partner-level benchmarks, printed as a markdown table: a check through the partner
//! level against a tenant-level check in the same run and on the same state, and the cost
//! of keeping dynamic customer groups current (a customer's tag change; a group's
//! condition change) at 10,000 customers and 100 groups, and the cost of a customer
//! role's edit reaching 1,000 synced copies.
//!
//! `cargo bench --bench partner`. The state is the default dataset (`authzd::dataset`,
//! 100 tenants × 1,000 users) with a partner added: 10,000 customers with tags, data
//! centres and services, 100 dynamic groups, 50 service-administrator roles scoped to two
//! groups each, 1,000 partner users in two roles each; the dataset's tenants belong to the
//! first 100 customers. Latencies are timed per call with `Instant` (its ~20-30 ns
//! included), each percentile the median of five passes. `AUTHZD_BENCH_SMOKE=1` runs a
//! tiny state in seconds (numbers meaningless; for CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::panic
)]

use std::{collections::BTreeMap, hint::black_box, time::Instant};

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::{
        CheckQuery, CustomerGroupId, CustomerId, CustomerRoleId, Mutation, NewUser, PartnerId,
        PartnerRoleId, Permission, PermissionSet, Revision, ServiceId, Snapshot, SnapshotBuilder,
        TenantId, Timestamp, UserId, UserKind, UserStatus,
        partner::{
            Condition, CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerRoleDetails,
            CustomerScope, GroupRule, PartnerChange, PartnerRoleDetails, TenantScope,
        },
    },
};

// As `authzd serve` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
const ROUNDS: usize = 5;
const TAGS: usize = 20;
const CENTRES: [&str; 4] = ["eu-west", "eu-north", "us-east", "ap-south"];

/// The partner's shape.
struct Shape {
    customers: usize,
    groups: usize,
    roles: usize,
    users: usize,
    checks: usize,
    edits: usize,
    /// Tenants holding a synced copy of one customer role.
    synced_tenants: usize,
}

fn main() {
    let smoke = std::env::var_os("AUTHZD_BENCH_SMOKE").is_some();
    let (spec, shape) = if smoke {
        (
            DatasetSpec {
                tenants: 4,
                users_per_tenant: 40,
                objects_per_service: 60,
                grants_per_service: 20,
                ..DatasetSpec::standard(1)
            },
            Shape {
                customers: 200,
                groups: 10,
                roles: 5,
                users: 20,
                checks: 2_000,
                edits: 20,
                synced_tenants: 20,
            },
        )
    } else {
        (
            DatasetSpec::standard(1),
            Shape {
                customers: 10_000,
                groups: 100,
                roles: 50,
                users: 1_000,
                checks: 200_000,
                edits: 500,
                synced_tenants: 1_000,
            },
        )
    };
    let dataset = Dataset::generate(&spec);
    let mut builder = SnapshotBuilder::new();
    let mut revision = Revision::ZERO;
    let mut apply = |builder: &mut SnapshotBuilder, mutation: &Mutation| {
        revision = revision.next();
        builder
            .apply(revision, mutation, NOW)
            .unwrap_or_else(|err| panic!("{mutation:?}: {err}"));
    };
    for mutation in &dataset.mutations {
        apply(&mut builder, mutation);
    }
    let started = Instant::now();
    for mutation in partner_mutations(&dataset, &shape) {
        apply(&mut builder, &mutation);
    }
    for mutation in synced_role_mutations(&shape) {
        apply(&mut builder, &mutation);
    }
    let partner_build = started.elapsed();
    let snapshot = builder.finish();

    // The same tenants, services and permissions for both kinds of check.
    let tenant_queries = dataset.queries(shape.checks, 42);
    let partner_queries = partner_queries(&dataset, &shape, 42);
    let allowed = partner_queries
        .iter()
        .filter(|q| snapshot.check_partner_user(q, NOW))
        .count();
    let tenant = check_rounds(&tenant_queries, |q| snapshot.check(q, NOW));
    let partner = check_rounds(&partner_queries, |q| snapshot.check_partner_user(q, NOW));
    let explained = check_rounds(&partner_queries[..partner_queries.len() / 10], |q| {
        snapshot.explain_partner_user(q, NOW).is_allowed()
    });

    let tag_changes = timed_changes(&snapshot, &tag_changes(&snapshot, &shape));
    let group_edits = timed_changes(&snapshot, &group_edits(&shape));
    let copies = snapshot
        .customer_role(&partner_id(), &synced_role())
        .unwrap()
        .synced_to
        .len();
    assert_eq!(
        copies, shape.synced_tenants,
        "every small tenant holds a copy"
    );
    let role_edits = timed_changes(&snapshot, &customer_role_edits(&shape));

    println!(
        "Partner level: {} customers, {} dynamic groups, {} roles, {} partner users; {} tenants \
         under the first customers ({} of the partner checks allowed); partner state built in {:.1} s\n",
        shape.customers,
        shape.groups,
        shape.roles,
        shape.users,
        dataset.tenants.len(),
        allowed,
        partner_build.as_secs_f64(),
    );
    println!("| measure | median | p99 | p99.9 | note |");
    println!("|---|---|---|---|---|");
    row(
        "check, tenant user",
        &tenant,
        "the baseline: same state, same run",
    );
    row(
        "check, partner user",
        &partner,
        &format!(
            "{:.2}× the tenant-level median (target ≤ 1.5×)",
            partner.median as f64 / tenant.median as f64
        ),
    );
    row("explain, partner user", &explained, "names role and group");
    row(
        "a customer's tags change",
        &tag_changes,
        &format!(
            "applied and described as the writer does; every dynamic group re-evaluated for it (target ≤ 10 ms over {} customers and {} groups)",
            shape.customers, shape.groups
        ),
    );
    row(
        "a dynamic group's condition changes",
        &group_edits,
        &format!("every customer re-evaluated ({})", shape.customers),
    );
    row(
        "a customer role's edit reaches its copies",
        &role_edits,
        &format!("{copies} synced tenants, each copy changed (target ≤ 50 ms at 1,000)"),
    );
}

fn partner_id() -> PartnerId {
    PartnerId::parse("msp").unwrap()
}
fn customer(n: usize) -> CustomerId {
    CustomerId::parse(&format!("c{n}")).unwrap()
}
fn group(n: usize) -> CustomerGroupId {
    CustomerGroupId::parse(&format!("g{n}")).unwrap()
}
fn role(n: usize) -> PartnerRoleId {
    PartnerRoleId::parse(&format!("r{n}")).unwrap()
}
fn partner_user(n: usize) -> UserId {
    UserId::parse(&format!("pu{n}")).unwrap()
}
fn new_user(id: &str) -> NewUser {
    NewUser {
        user: UserId::parse(id).unwrap(),
        email: format!("{id}@msp.example"),
        display_name: id.into(),
        kind: UserKind::Local,
    }
}

/// A small deterministic generator (splitmix64), as the dataset's.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn customer_details(rng: &mut Rng, services: &[ServiceId]) -> CustomerDetails {
    CustomerDetails {
        name: "Customer".into(),
        email: "it@customer.example".into(),
        tags: (0..3).map(|_| format!("t{}", rng.below(TAGS))).collect(),
        data_centre: CENTRES[rng.below(CENTRES.len())].into(),
        services: services
            .iter()
            .filter(|_| rng.below(2) == 0)
            .cloned()
            .collect(),
    }
}

/// Group `n`'s condition: a tag, and a data centre or a service.
fn condition(n: usize, services: &[ServiceId]) -> Condition {
    Condition::All(vec![
        Condition::Tag(format!("t{}", n % TAGS)),
        Condition::Any(vec![
            Condition::DataCentre(CENTRES[n % CENTRES.len()].into()),
            Condition::Service(services[n % services.len()].clone()),
        ]),
    ])
}

fn partner_mutations(dataset: &Dataset, shape: &Shape) -> Vec<Mutation> {
    let mut rng = Rng(7);
    let partner = partner_id;
    let mut out = vec![PartnerChange::Onboard {
        partner: partner(),
        name: "MSP".into(),
        owner: new_user("msp-owner"),
    }];
    for n in 0..shape.groups {
        out.push(PartnerChange::PutCustomerGroup {
            partner: partner(),
            group: group(n),
            details: CustomerGroupDetails {
                name: format!("Group {n}"),
                description: String::new(),
                rule: GroupRule::Dynamic(condition(n, &dataset.services)),
            },
        });
    }
    for n in 0..shape.customers {
        out.push(PartnerChange::PutCustomer {
            partner: partner(),
            customer: customer(n),
            details: customer_details(&mut rng, &dataset.services),
        });
    }
    for (n, tenant) in dataset.tenants.iter().enumerate() {
        out.push(PartnerChange::SetTenantCustomer {
            tenant: tenant.tenant.clone(),
            customer: Some(customer(n % shape.customers)),
        });
    }
    for n in 0..shape.roles {
        out.push(PartnerChange::PutRole {
            partner: partner(),
            role: role(n),
            details: PartnerRoleDetails {
                name: format!("Role {n}"),
                description: String::new(),
                platform_permissions: PermissionSet::default(),
                module_permissions: PermissionSet::default(),
                access: CustomerAccess::ServiceAdministrator,
                scope: CustomerScope::Groups(
                    [
                        group(rng.below(shape.groups)),
                        group(rng.below(shape.groups)),
                    ]
                    .into(),
                ),
            },
        });
    }
    for n in 0..shape.users {
        let id = partner_user(n);
        out.push(PartnerChange::InviteUser {
            partner: partner(),
            user: new_user(id.as_str()),
            roles: [
                (role(rng.below(shape.roles)), None),
                (role(rng.below(shape.roles)), None),
            ]
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        });
        out.push(PartnerChange::SetUserStatus {
            partner: partner(),
            user: id,
            status: UserStatus::Active,
        });
    }
    out.into_iter().map(Mutation::Partner).collect()
}

fn synced_role() -> CustomerRoleId {
    CustomerRoleId::parse("helpdesk").unwrap()
}

/// The ten customers owning the small tenants: the partner's last ten.
fn small_customers(shape: &Shape) -> impl Iterator<Item = CustomerId> {
    (shape.customers - 10..shape.customers).map(customer)
}

fn helpdesk(shape: &Shape, description: String) -> Mutation {
    Mutation::Partner(PartnerChange::PutCustomerRole {
        partner: partner_id(),
        role: synced_role(),
        details: CustomerRoleDetails {
            name: "Help desk".into(),
            description,
            permissions: PermissionSet::parse(["user_management.view", "workflows.*"]).unwrap(),
            scope: TenantScope::Customers(small_customers(shape).collect()),
            sync: true,
        },
    })
}

/// Small tenants (an owner each) under ten customers, and a customer role synced to all
/// of them.
fn synced_role_mutations(shape: &Shape) -> Vec<Mutation> {
    let mut out = Vec::new();
    for n in 0..shape.synced_tenants {
        let tenant = TenantId::parse(&format!("small-{n}")).unwrap();
        out.push(Mutation::CreateTenant {
            tenant: tenant.clone(),
            name: "Small".into(),
            customer: Some(customer(shape.customers - 10 + n % 10)),
            owner: new_user("owner"),
        });
    }
    out.push(helpdesk(shape, "Reads users".into()));
    out
}

/// Edits of the synced role: each a new description, so every copy changes.
fn customer_role_edits(shape: &Shape) -> Vec<Mutation> {
    (0..shape.edits.min(20))
        .map(|n| helpdesk(shape, format!("edit {n}")))
        .collect()
}

/// Checks of random partner users in random tenants of the dataset, with the dataset's
/// permissions and objects, parsed anew as the API builds them.
fn partner_queries(dataset: &Dataset, shape: &Shape, seed: u64) -> Vec<CheckQuery> {
    let mut rng = Rng(seed);
    dataset
        .queries(shape.checks, seed)
        .into_iter()
        .map(|query| CheckQuery {
            tenant: TenantId::parse(query.tenant.as_str()).unwrap(),
            service: ServiceId::parse(query.service.as_str()).unwrap(),
            user: partner_user(rng.below(shape.users)),
            permission: Permission::parse(query.permission.as_str()).unwrap(),
            object: query.object,
        })
        .collect()
}

/// Tag changes of random customers: each gains or loses a tag.
fn tag_changes(snapshot: &Snapshot, shape: &Shape) -> Vec<Mutation> {
    let mut rng = Rng(99);
    (0..shape.edits)
        .map(|_| {
            let id = customer(rng.below(shape.customers));
            let mut details = snapshot
                .customer_record(&partner_id(), &id)
                .unwrap()
                .details;
            let tag = format!("t{}", rng.below(TAGS));
            if !details.tags.remove(&tag) {
                details.tags.insert(tag);
            }
            Mutation::Partner(PartnerChange::PutCustomer {
                partner: partner_id(),
                customer: id,
                details,
            })
        })
        .collect()
}

/// Condition changes of random groups.
fn group_edits(shape: &Shape) -> Vec<Mutation> {
    let mut rng = Rng(5);
    (0..shape.edits.min(50))
        .map(|_| {
            let n = rng.below(shape.groups);
            Mutation::Partner(PartnerChange::PutCustomerGroup {
                partner: partner_id(),
                group: group(n),
                details: CustomerGroupDetails {
                    name: format!("Group {n}"),
                    description: String::new(),
                    rule: GroupRule::Dynamic(Condition::Any(vec![
                        Condition::Tag(format!("t{}", rng.below(TAGS))),
                        Condition::Tag(format!("t{}", rng.below(TAGS))),
                    ])),
                },
            })
        })
        .collect()
}

/// Each change applied to the shared snapshot as the writer applies the first change of a
/// group (copying what it touches) and described (its change context computed).
fn timed_changes(snapshot: &Snapshot, changes: &[Mutation]) -> Percentiles {
    let revision = snapshot.revision().next();
    let rounds: Vec<Percentiles> = (0..ROUNDS)
        .map(|_| {
            percentiles(
                changes
                    .iter()
                    .map(|change| {
                        let started = Instant::now();
                        let result = snapshot.clone().apply_described(revision, change, NOW);
                        let elapsed = nanos(started.elapsed());
                        assert!(result.is_ok(), "{change:?} refused");
                        drop(black_box(result));
                        elapsed
                    })
                    .collect(),
            )
        })
        .collect();
    median_of(&rounds)
}

fn check_rounds(queries: &[CheckQuery], check: impl Fn(&CheckQuery) -> bool) -> Percentiles {
    let rounds: Vec<Percentiles> = (0..ROUNDS)
        .map(|_| {
            percentiles(
                queries
                    .iter()
                    .map(|q| {
                        let started = Instant::now();
                        black_box(check(black_box(q)));
                        nanos(started.elapsed())
                    })
                    .collect(),
            )
        })
        .collect();
    median_of(&rounds)
}

fn nanos(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

struct Percentiles {
    median: u64,
    p99: u64,
    p999: u64,
}

fn percentiles(mut nanos: Vec<u64>) -> Percentiles {
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize];
    Percentiles {
        median: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    }
}

fn median_of(rounds: &[Percentiles]) -> Percentiles {
    let median = |pick: fn(&Percentiles) -> u64| {
        let mut values: Vec<u64> = rounds.iter().map(pick).collect();
        values.sort_unstable();
        values[values.len() / 2]
    };
    Percentiles {
        median: median(|p| p.median),
        p99: median(|p| p.p99),
        p999: median(|p| p.p999),
    }
}

fn row(name: &str, p: &Percentiles, note: &str) {
    println!(
        "| {name} | {} | {} | {} | {note} |",
        human(p.median),
        human(p.p99),
        human(p.p999)
    );
}

fn human(nanos: u64) -> String {
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.1} ms", nanos as f64 / 1e6)
    }
}
