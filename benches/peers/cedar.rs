//! The workload as Cedar: per domain, entities with parents and one policy per grant
//! source.
//!
//! - `User` entities have as parents their directory groups, the security groups they are
//!   direct members of, and `Role::"full_administrator"` for the owner and service
//!   administrators; `Group` entities their parent groups and security groups. Cedar's
//!   `in` follows parents transitively, which gives nested groups.
//! - `Object` entities have their container as parent, or the `Service` entity at the top.
//! - Permissions are actions; each has as parents its feature's action group
//!   (`Action::"backup.*"`), `Action::"*"`, and every permission level that covers it
//!   (`Action::"level/level2"`), so that a grant of a level names the level.
//! - Policies: one `permit` per security group (Administrators included), per direct grant
//!   (a level or a set of patterns; on the service or an object; until its expiry, against
//!   `context.now`), one for the full administrators, and one `forbid` for users who may
//!   not act: invited, disabled, locked at `now`, or without access to the service.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    str::FromStr,
};

use authzd::engine::{
    ADMINISTRATORS_GROUP, Access, CheckQuery, GrantNode, ObjectScope, PermissionPattern,
    PermissionSet, ServiceId, Subject, TenantId, Timestamp,
};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};

use crate::facts::{Domain, Facts};

const FULL_ADMINISTRATOR: &str = "full_administrator";

/// Cedar's stores, one per domain, and an authorizer.
#[derive(Debug)]
pub(crate) struct Cedar {
    authorizer: Authorizer,
    domains: Vec<(PolicySet, Entities)>,
    index: HashMap<(TenantId, ServiceId), usize>,
}

/// A check as a Cedar request, built before timing (as the engine's queries are).
#[derive(Debug)]
pub(crate) struct CedarCheck {
    domain: usize,
    request: Request,
}

impl Cedar {
    /// Translates every domain.
    pub(crate) fn build(facts: &Facts) -> Self {
        let mut domains = Vec::new();
        let mut index = HashMap::new();
        for ((tenant, service), domain) in &facts.domains {
            let catalog = facts.catalogs.get(service).expect("a registered service");
            let policies = PolicySet::from_str(&policies(service, domain))
                .unwrap_or_else(|err| panic!("the generated policies parse: {err}"));
            let entities = Entities::from_entities(entities(service, domain, catalog), None)
                .expect("the generated entities are consistent");
            index.insert((tenant.clone(), service.clone()), domains.len());
            domains.push((policies, entities));
        }
        Self {
            authorizer: Authorizer::new(),
            domains,
            index,
        }
    }

    /// The number of policies over every domain.
    pub(crate) fn policy_count(&self) -> usize {
        self.domains.iter().map(|(p, _)| p.policies().count()).sum()
    }

    /// The request for `query` at `now`.
    pub(crate) fn prepare(&self, query: &CheckQuery, now: Timestamp) -> CedarCheck {
        let domain = self.index[&(query.tenant.clone(), query.service.clone())];
        let resource = match &query.object {
            Some(object) => uid("Object", object.as_str()),
            None => uid("Service", query.service.as_str()),
        };
        let context = Context::from_pairs([(
            "now".to_owned(),
            RestrictedExpression::new_long(now.unix_millis()),
        )])
        .expect("a valid context");
        let request = Request::new(
            uid("User", query.user.as_str()),
            uid("Action", query.permission.as_str()),
            resource,
            context,
            None,
        )
        .expect("a request without a schema is valid");
        CedarCheck { domain, request }
    }

    /// Cedar's decision.
    pub(crate) fn decide(&self, check: &CedarCheck) -> bool {
        let (policies, entities) = &self.domains[check.domain];
        self.authorizer
            .is_authorized(&check.request, policies, entities)
            .decision()
            == Decision::Allow
    }
}

fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(kind).expect("a valid type name"),
        EntityId::new(id),
    )
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: &[EntityUid],
) -> Entity {
    Entity::new(uid, attrs, parents.iter().cloned().collect::<HashSet<_>>())
        .expect("attributes are plain values")
}

fn subject_uid(subject: &Subject) -> EntityUid {
    match subject {
        Subject::User(user) => uid("User", user.as_str()),
        Subject::Group(group) => uid("Group", group.as_str()),
    }
}

fn security_group_uid(group: Option<&authzd::engine::SecurityGroupId>) -> EntityUid {
    uid(
        "SecurityGroup",
        group.map_or(ADMINISTRATORS_GROUP, |g| g.as_str()),
    )
}

fn entities(
    service: &ServiceId,
    domain: &Domain,
    catalog: &[authzd::engine::Permission],
) -> Vec<Entity> {
    let root = uid("Service", service.as_str());
    let mut out = vec![
        entity(root.clone(), HashMap::new(), &[]),
        entity(uid("Role", FULL_ADMINISTRATOR), HashMap::new(), &[]),
        entity(security_group_uid(None), HashMap::new(), &[]),
    ];
    for group in domain.security_groups.keys() {
        out.push(entity(security_group_uid(Some(group)), HashMap::new(), &[]));
    }
    let parents_of = |subject: &Subject| -> Vec<EntityUid> {
        let groups = domain
            .group_parents(subject)
            .into_iter()
            .map(|g| uid("Group", g.as_str()));
        let security_groups = domain
            .security_groups_of(subject)
            .into_iter()
            .map(|g| security_group_uid(g.as_ref()));
        groups.chain(security_groups).collect()
    };
    for group in domain.groups.keys() {
        let subject = Subject::Group(group.clone());
        out.push(entity(
            subject_uid(&subject),
            HashMap::new(),
            &parents_of(&subject),
        ));
    }
    for (id, user) in &domain.users {
        let subject = Subject::User(id.clone());
        let mut parents = parents_of(&subject);
        if user.full_role {
            parents.push(uid("Role", FULL_ADMINISTRATOR));
        }
        let attrs = HashMap::from([
            (
                "enabled".to_owned(),
                RestrictedExpression::new_bool(user.enabled()),
            ),
            (
                "locked_until".to_owned(),
                RestrictedExpression::new_long(user.locked_until_millis()),
            ),
            (
                "reaches".to_owned(),
                RestrictedExpression::new_bool(user.full_role || user.services.contains(service)),
            ),
        ]);
        out.push(entity(subject_uid(&subject), attrs, &parents));
    }
    for (object, container) in &domain.objects {
        let parent = container
            .as_ref()
            .map_or_else(|| root.clone(), |c| uid("Object", c.as_str()));
        out.push(entity(
            uid("Object", object.as_str()),
            HashMap::new(),
            &[parent],
        ));
    }
    let mut action_groups: HashSet<EntityUid> = HashSet::from([uid("Action", "*")]);
    for permission in catalog {
        let mut parents = vec![
            uid("Action", "*"),
            uid("Action", &format!("{}.*", permission.feature())),
        ];
        for (level, set) in &domain.levels {
            if set.0.iter().any(|pattern| pattern.matches(permission)) {
                parents.push(uid("Action", &format!("level/{level}")));
            }
        }
        action_groups.extend(parents.iter().cloned());
        out.push(entity(
            uid("Action", permission.as_str()),
            HashMap::new(),
            &parents,
        ));
    }
    for group in action_groups {
        out.push(entity(group, HashMap::new(), &[]));
    }
    out
}

/// `action in [...]` for a set of patterns.
fn actions_of(set: &PermissionSet) -> String {
    let actions: Vec<String> = set
        .0
        .iter()
        .map(|pattern| match pattern {
            PermissionPattern::All => "Action::\"*\"".to_owned(),
            other => format!("Action::\"{other}\""),
        })
        .collect();
    format!("action in [{}]", actions.join(", "))
}

fn policies(service: &ServiceId, domain: &Domain) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "permit(principal in Role::\"{FULL_ADMINISTRATOR}\", action, resource);\n\
         permit(principal in SecurityGroup::\"{ADMINISTRATORS_GROUP}\", action, resource);\n\
         forbid(principal, action, resource) unless {{ principal.enabled && \
         principal.locked_until <= context.now && principal.reaches }};"
    );
    for (id, group) in &domain.security_groups {
        let scope = match &group.scope {
            ObjectScope::AllObjects => format!("resource in Service::\"{service}\")"),
            ObjectScope::Objects(objects) => {
                let objects: Vec<String> =
                    objects.iter().map(|o| format!("Object::\"{o}\"")).collect();
                format!("resource) when {{ resource in [{}] }}", objects.join(", "))
            }
        };
        let _ = writeln!(
            text,
            "permit(principal in SecurityGroup::\"{id}\", {}, {scope};",
            actions_of(&group.permissions)
        );
    }
    for grant in domain.grants.values() {
        let principal = match &grant.subject {
            Subject::User(user) => format!("principal == User::\"{user}\""),
            Subject::Group(group) => format!("principal in Group::\"{group}\""),
        };
        let action = match &grant.access {
            Access::Level(level) => format!("action in Action::\"level/{level}\""),
            Access::Permissions(set) => actions_of(set),
        };
        let resource = match &grant.node {
            GrantNode::Service => format!("resource in Service::\"{service}\""),
            GrantNode::Object(object) => format!("resource in Object::\"{object}\""),
        };
        let until = grant.expires_at.map_or_else(String::new, |at| {
            format!(" when {{ context.now < {} }}", at.unix_millis())
        });
        let _ = writeln!(text, "permit({principal}, {action}, {resource}){until};");
    }
    text
}
