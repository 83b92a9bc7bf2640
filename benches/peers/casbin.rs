//! The workload as casbin's RBAC with domains, one enforcer per domain (the fewest
//! policies each enforcer scans, which is casbin at its fastest).
//!
//! - `g` (with the domain): user → directory group, group → parent group, user or group →
//!   security group (Administrators included), owner and service administrators →
//!   `role:full`.
//! - `g2` (with the domain): object → its container, or → `svc` (the service) at the top.
//! - `g3`: permission → its feature (`backup.*`), → `*`, and → each permission level that
//!   covers it (`level:level2`).
//! - `p`: one line per (subject, object or `svc`, pattern or level) of each security
//!   group and grant, `allow`; `role:full` and Administrators on `svc` with `*`; and a
//!   `deny` line for each user who may not act (invited, disabled, locked, or without
//!   access to the service).
//!
//! casbin has no clock: grants expired and locks in force at the benchmark's `now` are
//! applied while translating (expired grants are left out), which only spares casbin work.

use std::collections::HashMap;

use authzd::engine::{
    ADMINISTRATORS_GROUP, Access, CheckQuery, GrantNode, ObjectScope, PermissionSet, ServiceId,
    Subject, TenantId, Timestamp,
};
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};

use crate::facts::{Domain, Facts};

const MODEL: &str = r"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _
g2 = _, _, _
g3 = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.dom == p.dom && g(r.sub, p.sub, r.dom) && g2(r.obj, p.obj, r.dom) && g3(r.act, p.act)
";

/// The service node of a domain: every object is under it.
const SERVICE_NODE: &str = "svc";

/// casbin's enforcers, one per domain.
pub(crate) struct Casbin {
    domains: Vec<Enforcer>,
    index: HashMap<(TenantId, ServiceId), usize>,
    policies: usize,
}

impl std::fmt::Debug for Casbin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Casbin")
            .field("domains", &self.domains.len())
            .finish_non_exhaustive()
    }
}

/// A check as casbin's request values, built before timing.
#[derive(Debug)]
pub(crate) struct CasbinCheck {
    domain: usize,
    values: [String; 4],
}

impl Casbin {
    /// Translates every domain as it stands at `now`.
    pub(crate) fn build(facts: &Facts, now: Timestamp) -> Self {
        // Loading policies is async in casbin (adapters may do I/O); nothing here does.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut domains = Vec::new();
        let mut index = HashMap::new();
        let mut policies = 0;
        for ((tenant, service), domain) in &facts.domains {
            let catalog = facts.catalogs.get(service).expect("a registered service");
            let name = domain_name(tenant, service);
            let rules = Rules::of(&name, service, domain, catalog, now);
            policies += rules.p.len();
            let enforcer = runtime.block_on(async {
                let model = DefaultModel::from_str(MODEL)
                    .await
                    .expect("the model parses");
                let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
                    .await
                    .expect("an enforcer");
                for (ptype, lines) in [("g", rules.g), ("g2", rules.g2), ("g3", rules.g3)] {
                    enforcer
                        .add_named_grouping_policies(ptype, lines)
                        .await
                        .expect("grouping policies load");
                }
                enforcer.add_policies(rules.p).await.expect("policies load");
                enforcer
            });
            index.insert((tenant.clone(), service.clone()), domains.len());
            domains.push(enforcer);
        }
        Self {
            domains,
            index,
            policies,
        }
    }

    /// The number of `p` lines over every domain.
    pub(crate) fn policy_count(&self) -> usize {
        self.policies
    }

    /// The request values for `query`.
    pub(crate) fn prepare(&self, query: &CheckQuery) -> CasbinCheck {
        let domain = self.index[&(query.tenant.clone(), query.service.clone())];
        let object = query
            .object
            .as_ref()
            .map_or_else(|| SERVICE_NODE.to_owned(), |o| format!("obj:{o}"));
        CasbinCheck {
            domain,
            values: [
                format!("user:{}", query.user),
                domain_name(&query.tenant, &query.service),
                object,
                query.permission.as_str().to_owned(),
            ],
        }
    }

    /// casbin's decision.
    pub(crate) fn decide(&self, check: &CasbinCheck) -> bool {
        let [sub, dom, obj, act] = &check.values;
        self.domains[check.domain]
            .enforce((sub.as_str(), dom.as_str(), obj.as_str(), act.as_str()))
            .expect("the matcher evaluates")
    }
}

fn domain_name(tenant: &TenantId, service: &ServiceId) -> String {
    format!("{tenant}/{service}")
}

fn subject_name(subject: &Subject) -> String {
    match subject {
        Subject::User(user) => format!("user:{user}"),
        Subject::Group(group) => format!("group:{group}"),
    }
}

fn node_name(node: &GrantNode) -> String {
    match node {
        GrantNode::Service => SERVICE_NODE.to_owned(),
        GrantNode::Object(object) => format!("obj:{object}"),
    }
}

/// The lines of one domain's enforcer.
#[derive(Default)]
struct Rules {
    p: Vec<Vec<String>>,
    g: Vec<Vec<String>>,
    g2: Vec<Vec<String>>,
    g3: Vec<Vec<String>>,
}

impl Rules {
    fn of(
        name: &str,
        service: &ServiceId,
        domain: &Domain,
        catalog: &[authzd::engine::Permission],
        now: Timestamp,
    ) -> Self {
        let mut rules = Self::default();
        let line = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let sg_name = |group: Option<&authzd::engine::SecurityGroupId>| {
            format!("sg:{}", group.map_or(ADMINISTRATORS_GROUP, |g| g.as_str()))
        };
        let mut subjects: Vec<Subject> =
            domain.groups.keys().cloned().map(Subject::Group).collect();
        subjects.extend(domain.users.keys().cloned().map(Subject::User));
        for subject in &subjects {
            let member = subject_name(subject);
            for group in domain.group_parents(subject) {
                rules
                    .g
                    .push(line(&[&member, &format!("group:{group}"), name]));
            }
            for group in domain.security_groups_of(subject) {
                rules
                    .g
                    .push(line(&[&member, &sg_name(group.as_ref()), name]));
            }
        }
        for (id, user) in &domain.users {
            let member = format!("user:{id}");
            if user.full_role {
                rules.g.push(line(&[&member, "role:full", name]));
            }
            if !(user.active(now) && (user.full_role || user.services.contains(service))) {
                rules
                    .p
                    .push(line(&[&member, name, SERVICE_NODE, "*", "deny"]));
            }
        }
        for (object, container) in &domain.objects {
            let parent = container
                .as_ref()
                .map_or_else(|| SERVICE_NODE.to_owned(), |c| format!("obj:{c}"));
            rules
                .g2
                .push(line(&[&format!("obj:{object}"), &parent, name]));
        }
        for permission in catalog {
            let p = permission.as_str();
            rules.g3.push(line(&[p, "*"]));
            rules
                .g3
                .push(line(&[p, &format!("{}.*", permission.feature())]));
            for (level, set) in &domain.levels {
                if set.0.iter().any(|pattern| pattern.matches(permission)) {
                    rules.g3.push(line(&[p, &format!("level:{level}")]));
                }
            }
        }
        rules
            .p
            .push(line(&["role:full", name, SERVICE_NODE, "*", "allow"]));
        rules
            .p
            .push(line(&[&sg_name(None), name, SERVICE_NODE, "*", "allow"]));
        let mut allow = |subject: &str, node: &str, actions: &[String]| {
            for action in actions {
                rules.p.push(line(&[subject, name, node, action, "allow"]));
            }
        };
        for (id, group) in &domain.security_groups {
            let nodes: Vec<String> = match &group.scope {
                ObjectScope::AllObjects => vec![SERVICE_NODE.to_owned()],
                ObjectScope::Objects(objects) => {
                    objects.iter().map(|o| format!("obj:{o}")).collect()
                }
            };
            for node in nodes {
                allow(&sg_name(Some(id)), &node, &patterns(&group.permissions));
            }
        }
        for grant in domain.grants.values() {
            if grant.expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            let actions = match &grant.access {
                Access::Level(level) => vec![format!("level:{level}")],
                Access::Permissions(set) => patterns(set),
            };
            allow(
                &subject_name(&grant.subject),
                &node_name(&grant.node),
                &actions,
            );
        }
        rules
    }
}

fn patterns(set: &PermissionSet) -> Vec<String> {
    set.0.iter().map(ToString::to_string).collect()
}
