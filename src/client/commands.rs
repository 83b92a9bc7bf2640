//! The table of client commands: one row per gRPC method, naming the command (`noun verb`),
//! the method and the flags that fill its request. Everything else — the clap tree, the
//! request, the call, the output — is derived from this table and the descriptor pool, so a
//! new RPC needs one row here and nothing more.

use super::text::Refused;

/// One flag: `--name VALUE` fills the request field at `path` (dotted through nested
/// messages). How the value is read follows the field's type (see `request.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// The flag, without the leading dashes (kebab-case).
    pub(crate) name: &'static str,
    /// The field path in the request message, e.g. `security_group.scope.objects`.
    pub(crate) path: &'static str,
    /// Whether the command needs it.
    pub(crate) required: bool,
    /// Help text; empty: the proto comment of the field (kept in the descriptor set).
    pub(crate) help: &'static str,
    /// For an enum field: the values the server always refuses through this flag, so that
    /// the command line neither offers nor sends them.
    pub(crate) refused: &'static [Refused],
}

/// A required flag whose help is the field's proto comment.
const fn req(name: &'static str, path: &'static str) -> Flag {
    Flag {
        name,
        path,
        required: true,
        help: "",
        refused: &[],
    }
}

/// An optional flag whose help is the field's proto comment.
const fn opt(name: &'static str, path: &'static str) -> Flag {
    Flag {
        name,
        path,
        required: false,
        help: "",
        refused: &[],
    }
}

impl Flag {
    /// The same flag with its own help text.
    const fn help(self, help: &'static str) -> Self {
        Self { help, ..self }
    }

    /// The same enum flag without values the server always refuses through it.
    const fn refusing(self, refused: &'static [Refused]) -> Self {
        Self { refused, ..self }
    }
}

/// One client command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// The first word (`user`), or the whole command when `verb` is empty (`check`).
    pub(crate) noun: &'static str,
    /// The second word (`invite`); empty for a one-word command.
    pub(crate) verb: &'static str,
    /// The full method, `package.Service/Method`.
    pub(crate) method: &'static str,
    /// The flags, in groups so that shared ones (paging, etags) are written once.
    pub(crate) flags: &'static [&'static [Flag]],
}

impl Entry {
    /// Every flag of the command.
    pub(crate) fn all_flags(&self) -> impl Iterator<Item = &'static Flag> + use<> {
        self.flags.iter().flat_map(|group| group.iter())
    }
}

/// The first words and what they manage, in the order `--help` lists them.
pub(crate) const NOUNS: &[(&str, &str)] = &[
    (
        "tenant",
        "Tenants: create (platform), get, subscribe to a service, recover ownership",
    ),
    (
        "service",
        "Services and their permission catalogs: register, update (platform), list",
    ),
    (
        "user",
        "Users of a tenant, their roles and their access to services",
    ),
    ("group", "Directory groups and their members"),
    ("object", "Objects and containers of a tenant's service"),
    ("security-group", "Security groups of a tenant's service"),
    ("level", "Permission levels of a tenant's service"),
    (
        "audit",
        "The audit trail of management calls: list (platform, or a tenant's owner)",
    ),
    (
        "grant",
        "Grants of permission levels or permission sets to users and groups",
    ),
    ("partner", "Partners: onboard (platform), get"),
    (
        "partner-user",
        "Users of a partner: invite, status, ownership, and the customers they reach",
    ),
    (
        "customer",
        "Customers of a partner, and the link of tenants to them (platform)",
    ),
    (
        "customer-group",
        "Static and dynamic groups of a partner's customers, and their members with why",
    ),
    (
        "partner-role",
        "Partner roles: permissions, access to customers' services, scope, members",
    ),
    (
        "customer-role",
        "Customer roles: module permissions synced to the tenants in scope, sync per tenant",
    ),
    (
        "tenant-role",
        "Roles of tenant-module permissions in a tenant (own or synced copies), members",
    ),
    (
        "check",
        "Decide one permission for one user on one object (CheckService/Check)",
    ),
    (
        "batch-check",
        "Decide many checks at one revision (CheckService/BatchCheck)",
    ),
    (
        "lookup",
        "Which objects a user may act on; which users may act on an object",
    ),
    (
        "view",
        "Every permission of a user; every subject with access to an object",
    ),
];

// Flag groups. Shared ones (ids, paging, etags) are written once; the rest belong to one
// command each, named after it.
const REQUEST_ID: &[Flag] = &[opt("request-id", "request_id")];
const ETAG: &[Flag] = &[opt("etag", "etag")];
const MASK: &[Flag] = &[opt("update-mask", "update_mask")
    .help("Which fields to change (e.g. `name,description`); empty: all")];
const PAGING: &[Flag] = &[
    opt("page-size", "page_size").help("Page size (default 100, at most 1000)"),
    opt("page-token", "page_token").help("The `next_page_token` of the previous page"),
];
const FILTER: &[Flag] = &[opt("filter", "filter")];
const LIST_USERS: &[Flag] = &[
    opt("status", "statuses").help("Only users in these statuses (e.g. `locked`)"),
    opt("role", "roles").help("Only users whose role is of these kinds"),
    opt("kind", "kinds").help("Only users of these kinds"),
    opt("service", "services").help(
        "Only users who reach one of these services (given access, or an administrator role)",
    ),
];
const LIST_GROUPS: &[Flag] = &[opt("member", "members")
    .help("Only groups that directly contain one of these, `user:ID` or `group:ID`")];
const LIST_OBJECTS: &[Flag] = &[
    opt("parent", "parent"),
    opt("type", "types").help("Only objects of these catalog types"),
    opt("creator", "creators").help("Only objects these users created"),
];
const AUDIT_FILTER: &[Flag] = &[
    opt("tenant", "filter.tenant"),
    opt("by-actor", "filter.by_actor"),
    opt("target", "filter.target"),
    opt("from", "filter.from"),
    opt("until", "filter.until"),
];
const MIN_REVISION: &[Flag] = &[opt("min-revision", "consistency.min_revision")
    .help("Answer from a state at least this new (a revision a write returned)")];
const TENANT: &[Flag] = &[req("tenant", "tenant")];
const USER: &[Flag] = &[req("user", "user")];
const SERVICE: &[Flag] = &[req("service", "service")];
const GROUP: &[Flag] = &[req("group", "group")];
const OBJECT: &[Flag] = &[req("object", "object")];
const PERMISSION: &[Flag] = &[req("permission", "permission")];
const SECURITY_GROUP: &[Flag] = &[req("security-group", "security_group")];
const LEVEL: &[Flag] = &[req("level", "permission_level")];
const GRANT: &[Flag] = &[req("grant", "grant")];
const CASCADE: &[Flag] = &[opt("cascade", "cascade")
    .help("Carry the change to the objects that depend on this one instead of being refused")];
const WITH_DEPENDENCIES: &[Flag] = &[opt("with-dependencies", "with_dependencies")
    .help("Also give the subject the objects that the granted ones depend on")];
const MEMBER: &[Flag] = &[req("member", "member").help("The member, `user:ID` or `group:ID`")];
const PERMISSION_PATTERNS: &str = "Permission patterns (`feature.operation`, `feature.*`, `*`)";

const CREATE_TENANT: &[Flag] = &[
    opt("id", "id"),
    req("name", "name"),
    opt("customer", "customer"),
    opt("owner-id", "owner_id"),
    req("owner-email", "owner_email"),
    req("owner-display-name", "owner_display_name"),
    // The engine refuses a support account as a tenant's owner (`owner.kind`).
    opt("owner-kind", "owner_kind").refusing(&[Refused {
        value: "USER_KIND_SUPPORT",
        why: "a support account cannot own a tenant",
    }]),
];
const SERVICE_DEFINITION: &[Flag] = &[
    req("id", "service.id").help("Service id, e.g. `crm-backup`"),
    opt("display-name", "service.display_name"),
    opt("permissions", "service.permissions")
        .help("The permission catalog, `feature.operation` each"),
    opt("object-types", "service.object_types").help(
        "Object types, each `NAME[:top][:TYPE+TYPE…]` (`top`: may sit at the top level; then \
         the types it may contain), e.g. `site:top:mailbox+folder,mailbox::folder,folder`; or \
         a JSON array of ObjectType",
    ),
    opt("demotion", "service.demotion"),
];
const INVITE_USER: &[Flag] = &[
    opt("id", "id"),
    req("email", "email"),
    req("display-name", "display_name"),
    opt("kind", "kind"),
];
const UPDATE_USER: &[Flag] = &[
    req("tenant", "user.tenant"),
    req("user", "user.id").help("User id"),
    opt("email", "user.email"),
    opt("display-name", "user.display_name"),
];
const SET_ROLE: &[Flag] = &[
    // SetTenantRole always refuses the owner's role (`records::tenant_role`).
    req("role", "role.kind").refusing(&[Refused {
        value: "ROLE_KIND_OWNER",
        why: "the owner changes only by `authzd user transfer-ownership`",
    }]),
    opt("management", "role.management"),
    opt("auto-discovery", "role.auto_discovery"),
    opt("administration", "role.administration"),
    opt("services", "role.services")
        .help("For an application administrator: the services it administers"),
];
const SET_GROUP_ROLE: &[Flag] = &[opt(
    "application-administrator-of",
    "application_administrator_of",
)
.help(
    "The services the group administers from now on (none: no longer an application administrator)",
)];
const INVITE_ACCESS: &[Flag] = &[
    // As `user set-role`: never the owner's role.
    opt("role", "role.kind").refusing(&[Refused {
        value: "ROLE_KIND_OWNER",
        why: "the owner changes only by `authzd user transfer-ownership`",
    }]),
    opt("management", "role.management"),
    opt("auto-discovery", "role.auto_discovery"),
    opt("administration", "role.administration"),
    opt("services", "role.services")
        .help("For an application administrator: the services it administers"),
    opt("service-access", "service_access")
        .help("Services to give the user access to, in the same change as the invitation"),
];
const USERS: &[Flag] = &[req("users", "users").help("The users, 1 to 100, each once")];
const MEMBERS: &[Flag] = &[req("members", "members")
    .help("The members, 1 to 100, each `user:ID` or `group:ID`, each once")];
const CREATE_GROUP: &[Flag] = &[opt("id", "id"), req("name", "name")];
const UPDATE_GROUP: &[Flag] = &[
    req("tenant", "group.tenant"),
    req("group", "group.id").help("Group id"),
    opt("name", "group.name"),
];
const OBJECT_FIELDS: &[Flag] = &[
    req("tenant", "object.tenant"),
    req("service", "object.service"),
    opt("name", "object.name"),
    opt("related", "object.related")
        .help("Objects this one depends on (a plan covers site collections)"),
    opt("description", "object.description"),
];
const CREATE_OBJECT: &[Flag] = &[
    opt("id", "object.id").help("Object id; empty: chosen by the server"),
    req("type", "object.type"),
    opt("parent", "object.parent").help("The container; empty: the top level"),
];
const SECURITY_GROUP_FIELDS: &[Flag] = &[
    req("tenant", "security_group.tenant"),
    req("service", "security_group.service"),
    opt("name", "security_group.name"),
    opt("description", "security_group.description"),
    opt("permissions", "security_group.permissions").help(PERMISSION_PATTERNS),
    opt("all-objects", "security_group.scope.all_objects")
        .help("Scope: every object of the service"),
    opt("objects", "security_group.scope.objects")
        .help("Scope: these objects and containers (and what they hold)"),
];
const LEVEL_FIELDS: &[Flag] = &[
    req("tenant", "permission_level.tenant"),
    req("service", "permission_level.service"),
    opt("name", "permission_level.name"),
    opt("description", "permission_level.description"),
    opt("permissions", "permission_level.permissions").help(PERMISSION_PATTERNS),
];
const GIVE_GRANT: &[Flag] = &[
    req("tenant", "grant.tenant"),
    req("service", "grant.service"),
    opt("id", "grant.id").help("Grant id; empty: chosen by the server"),
    req("subject", "grant.subject").help("Who: `user:ID` or `group:ID`"),
    opt("level", "grant.level").help("What: a permission level id, or"),
    opt("permissions", "grant.permissions").help("… a permission set (patterns)"),
    opt("object", "grant.object").help("Where: an object id; empty: the whole service"),
    opt("expires-at", "grant.expires_at")
        .help("Until when (RFC 3339, e.g. 2030-01-01T00:00:00Z); unset: no expiry"),
];
const LIST_GRANTS: &[Flag] = &[
    opt("subject", "subject").help("Only grants naming this subject, `user:ID` or `group:ID`"),
    opt("object", "object"),
];
const CHECK: &[Flag] = &[
    opt("object", "object").help("Object id; empty: the service as a whole"),
    opt("explain", "explain")
        .help("Also print why (the grants behind an allow, the reason for a deny)"),
];
const CHECK_SERVICE: &[Flag] = &[opt("service", "service")
    .help("Service id; without one, a tenant-module permission (e.g. `user_management.view`)")];
const CHECK_SUBJECT: &[Flag] = &[
    opt("user", "user").help("The user of the tenant …"),
    opt("partner-user", "partner_user")
        .help("… or a partner user, reaching the tenant through its partner roles"),
];
const BATCH_CHECK: &[Flag] = &[
    opt("user", "one_user.user").help("One user … (with --items)"),
    opt("items", "one_user.items")
        .help("… many checks, each `PERMISSION[@OBJECT]` (no object: the service)"),
    opt("users", "many_users.users").help("Many users … (with --permission, --object)"),
    opt("permission", "many_users.permission").help("… one permission …"),
    opt("object", "many_users.object").help("… on one object (empty: the service)"),
    opt("explain", "explain"),
];

const PARTNER: &[Flag] = &[req("partner", "partner")];
const CUSTOMER: &[Flag] = &[req("customer", "customer")];
const CUSTOMER_GROUP: &[Flag] = &[req("customer-group", "customer_group")];
const PARTNER_ROLE: &[Flag] = &[req("role", "partner_role")];
const ONBOARD_PARTNER: &[Flag] = &[
    opt("id", "id"),
    req("name", "name"),
    opt("owner-id", "owner_id"),
    req("owner-email", "owner_email"),
    req("owner-display-name", "owner_display_name"),
    // The engine refuses a support account as a partner's system account (`owner.kind`).
    opt("owner-kind", "owner_kind").refusing(&[Refused {
        value: "USER_KIND_SUPPORT",
        why: "a support account cannot be a partner's system account",
    }]),
];
const INVITE_PARTNER_USER: &[Flag] = &[
    opt("id", "id"),
    req("email", "email"),
    req("display-name", "display_name"),
    opt("kind", "kind"),
    opt("roles", "roles").help(
        "Its roles as JSON, each until a time or for good, e.g. \
         `[{\"role\":\"auditors\",\"until\":\"2030-01-01T00:00:00Z\"}]`",
    ),
];
const LIST_PARTNER_USERS: &[Flag] = &[
    opt("status", "statuses").help("Only users in these statuses (e.g. `disabled`)"),
    opt("role", "roles")
        .help("Only members of these partner roles (`administrator`: the owner too)"),
];
const CUSTOMER_FIELDS: &[Flag] = &[
    req("partner", "customer.partner"),
    opt("tags", "customer.tags"),
    opt("data-centre", "customer.data_centre"),
    opt("services", "customer.services"),
];
const CREATE_CUSTOMER: &[Flag] = &[
    opt("id", "customer.id").help("Customer id; empty: chosen by the server"),
    req("name", "customer.name"),
    req("email", "customer.email"),
];
const UPDATE_CUSTOMER: &[Flag] = &[
    req("customer", "customer.id").help("Customer id"),
    opt("name", "customer.name"),
    opt("email", "customer.email"),
];
const LIST_CUSTOMERS: &[Flag] = &[
    opt("tag", "tags").help("Only customers with one of these tags"),
    opt("customer-group", "customer_groups").help("Only customers in one of these groups"),
];
const CUSTOMER_GROUP_FIELDS: &[Flag] = &[
    req("partner", "customer_group.partner"),
    opt("name", "customer_group.name"),
    opt("description", "customer_group.description"),
    opt("condition", "customer_group.condition").help(
        "A dynamic group's condition as JSON, e.g. \
         `{\"all\":{\"terms\":[{\"tag\":\"eu\"},{\"service\":\"crm-backup\"}]}}`; \
         unset: a static group",
    ),
];
const CUSTOMERS: &[Flag] =
    &[req("customers", "customers").help("The customers, 1 to 1000, each once")];
const PARTNER_ROLE_FIELDS: &[Flag] = &[
    req("partner", "partner_role.partner"),
    opt("name", "partner_role.name"),
    opt("description", "partner_role.description"),
    opt("platform-permissions", "partner_role.platform_permissions"),
    opt("module-permissions", "partner_role.module_permissions"),
    opt("access", "partner_role.access"),
    opt("all-customers", "partner_role.scope.all_customers")
        .help("Scope: every customer of the partner"),
    opt("customer-groups", "partner_role.scope.customer_groups")
        .help("Scope: the customers in these groups"),
];
const CUSTOMER_ROLE: &[Flag] = &[req("role", "customer_role")];
const CUSTOMER_ROLE_FIELDS: &[Flag] = &[
    req("partner", "customer_role.partner"),
    opt("name", "customer_role.name"),
    opt("description", "customer_role.description"),
    opt("permissions", "customer_role.permissions"),
    opt("all-tenants", "customer_role.scope.all_tenants")
        .help("Scope: every tenant of every customer of the partner"),
    opt("tenants", "customer_role.scope.tenants").help("Scope: these tenants"),
    opt("customers", "customer_role.scope.customers")
        .help("Scope: every tenant of these customers"),
    opt("customer-groups", "customer_role.scope.customer_groups")
        .help("Scope: every tenant of the customers in these groups"),
    opt("sync", "customer_role.sync"),
];
const SYNC_ENABLED: &[Flag] = &[opt("enabled", "enabled")];
const TENANT_ROLE: &[Flag] = &[req("role", "tenant_role")];
const TENANT_ROLE_FIELDS: &[Flag] = &[
    req("tenant", "tenant_role.tenant"),
    opt("name", "tenant_role.name"),
    opt("description", "tenant_role.description"),
    opt("permissions", "tenant_role.permissions"),
];
const UNTIL: &[Flag] = &[opt("until", "until")
    .help("When the membership ends (RFC 3339, e.g. 2030-01-01T00:00:00Z); unset: never")];

/// One row of [`COMMANDS`].
const fn cmd(
    noun: &'static str,
    verb: &'static str,
    method: &'static str,
    flags: &'static [&'static [Flag]],
) -> Entry {
    Entry {
        noun,
        verb,
        method,
        flags,
    }
}

/// Every client command. INVARIANT (checked by unit tests): each method exists in the
/// descriptor set and appears once, each path names a field of its request, and every
/// field of a request but `actor` has a flag.
#[rustfmt::skip]
pub(crate) const COMMANDS: &[Entry] = &[
    // PlatformService: a caller with the platform scope, no actor.
    cmd("tenant", "create", "authz.v1.PlatformService/CreateTenant", &[CREATE_TENANT, REQUEST_ID]),
    cmd("service", "register", "authz.v1.PlatformService/RegisterService", &[SERVICE_DEFINITION, REQUEST_ID]),
    cmd("service", "update", "authz.v1.PlatformService/UpdateService", &[SERVICE_DEFINITION, MASK, ETAG]),
    cmd("tenant", "subscribe", "authz.v1.PlatformService/SubscribeService", &[TENANT, SERVICE]),
    cmd("tenant", "recover-ownership", "authz.v1.PlatformService/RecoverOwnership", &[TENANT, USER]),
    // The management services: need --actor.
    cmd("tenant", "get", "authz.v1.TenantService/GetTenant", &[TENANT]),
    cmd("service", "list", "authz.v1.TenantService/ListServices", &[TENANT, PAGING, FILTER]),
    cmd("user", "invite", "authz.v1.UserService/InviteUser", &[TENANT, INVITE_USER, INVITE_ACCESS, REQUEST_ID]),
    cmd("user", "activate", "authz.v1.UserService/ActivateUser", &[TENANT, USER, ETAG]),
    cmd("user", "disable", "authz.v1.UserService/DisableUser", &[TENANT, USER, ETAG]),
    cmd("user", "enable", "authz.v1.UserService/EnableUser", &[TENANT, USER, ETAG]),
    cmd("user", "get", "authz.v1.UserService/GetUser", &[TENANT, USER]),
    cmd("user", "list", "authz.v1.UserService/ListUsers", &[TENANT, PAGING, FILTER, LIST_USERS]),
    cmd("user", "update", "authz.v1.UserService/UpdateUser", &[UPDATE_USER, MASK, ETAG]),
    cmd("user", "delete", "authz.v1.UserService/DeleteUser", &[TENANT, USER, ETAG]),
    cmd("user", "set-role", "authz.v1.UserService/SetTenantRole", &[TENANT, USER, SET_ROLE, ETAG]),
    cmd("user", "transfer-ownership", "authz.v1.UserService/TransferOwnership", &[TENANT, &[req("new-owner", "new_owner")]]),
    cmd("user", "grant-service", "authz.v1.UserService/GrantServiceAccess", &[TENANT, USER, SERVICE]),
    cmd("user", "revoke-service", "authz.v1.UserService/RevokeServiceAccess", &[TENANT, USER, SERVICE]),
    cmd("user", "report-sign-in", "authz.v1.AccountService/ReportSignIn", &[TENANT, USER, &[opt("success", "success")]]),
    cmd("user", "unlock", "authz.v1.AccountService/UnlockUser", &[TENANT, USER, ETAG]),
    cmd("user", "reset-mfa", "authz.v1.AccountService/ResetMfa", &[TENANT, USER, ETAG]),
    cmd("user", "bulk-delete", "authz.v1.UserService/BulkDeleteUsers", &[TENANT, USERS]),
    cmd("user", "bulk-set-role", "authz.v1.UserService/BulkSetTenantRole", &[TENANT, USERS, SET_ROLE]),
    cmd("user", "bulk-unlock", "authz.v1.AccountService/BulkUnlockUsers", &[TENANT, USERS]),
    cmd("user", "bulk-reset-mfa", "authz.v1.AccountService/BulkResetMfa", &[TENANT, USERS]),
    cmd("audit", "list", "authz.v1.AuditService/ListAuditEvents", &[AUDIT_FILTER, PAGING]),
    cmd("group", "create", "authz.v1.GroupService/CreateGroup", &[TENANT, CREATE_GROUP, REQUEST_ID]),
    cmd("group", "get", "authz.v1.GroupService/GetGroup", &[TENANT, GROUP]),
    cmd("group", "list", "authz.v1.GroupService/ListGroups", &[TENANT, PAGING, FILTER, LIST_GROUPS]),
    cmd("group", "update", "authz.v1.GroupService/UpdateGroup", &[UPDATE_GROUP, MASK, ETAG]),
    cmd("group", "delete", "authz.v1.GroupService/DeleteGroup", &[TENANT, GROUP, ETAG]),
    cmd("group", "add-member", "authz.v1.GroupService/AddGroupMember", &[TENANT, GROUP, MEMBER]),
    cmd("group", "remove-member", "authz.v1.GroupService/RemoveGroupMember", &[TENANT, GROUP, MEMBER]),
    cmd("group", "set-role", "authz.v1.GroupService/SetGroupRole", &[TENANT, GROUP, SET_GROUP_ROLE, ETAG]),
    cmd("group", "bulk-add-members", "authz.v1.GroupService/BulkAddGroupMembers", &[TENANT, GROUP, MEMBERS]),
    cmd("group", "bulk-remove-members", "authz.v1.GroupService/BulkRemoveGroupMembers", &[TENANT, GROUP, MEMBERS]),
    cmd("object", "create", "authz.v1.ObjectService/CreateObject", &[OBJECT_FIELDS, CREATE_OBJECT, REQUEST_ID]),
    cmd("object", "get", "authz.v1.ObjectService/GetObject", &[TENANT, SERVICE, OBJECT]),
    cmd("object", "list", "authz.v1.ObjectService/ListObjects", &[TENANT, SERVICE, LIST_OBJECTS, PAGING, FILTER]),
    cmd("object", "update", "authz.v1.ObjectService/UpdateObject", &[OBJECT_FIELDS, &[req("object", "object.id").help("Object id")], MASK, ETAG]),
    cmd("object", "move", "authz.v1.ObjectService/MoveObject", &[TENANT, SERVICE, OBJECT, &[opt("new-parent", "new_parent")], CASCADE, ETAG]),
    cmd("object", "delete", "authz.v1.ObjectService/DeleteObject", &[TENANT, SERVICE, OBJECT, CASCADE, ETAG]),
    cmd("security-group", "create", "authz.v1.SecurityGroupService/CreateSecurityGroup", &[SECURITY_GROUP_FIELDS, &[opt("id", "security_group.id").help("Security group id; empty: chosen by the server")], REQUEST_ID]),
    cmd("security-group", "get", "authz.v1.SecurityGroupService/GetSecurityGroup", &[TENANT, SERVICE, SECURITY_GROUP]),
    cmd("security-group", "list", "authz.v1.SecurityGroupService/ListSecurityGroups", &[TENANT, SERVICE, PAGING, FILTER]),
    cmd("security-group", "update", "authz.v1.SecurityGroupService/UpdateSecurityGroup", &[SECURITY_GROUP_FIELDS, &[req("security-group", "security_group.id").help("Security group id")], MASK, ETAG]),
    cmd("security-group", "delete", "authz.v1.SecurityGroupService/DeleteSecurityGroup", &[TENANT, SERVICE, SECURITY_GROUP, ETAG]),
    cmd("security-group", "add-member", "authz.v1.SecurityGroupService/AddSecurityGroupMember", &[TENANT, SERVICE, SECURITY_GROUP, MEMBER]),
    cmd("security-group", "remove-member", "authz.v1.SecurityGroupService/RemoveSecurityGroupMember", &[TENANT, SERVICE, SECURITY_GROUP, MEMBER]),
    cmd("level", "create", "authz.v1.PermissionLevelService/CreatePermissionLevel", &[LEVEL_FIELDS, &[opt("id", "permission_level.id").help("Level id; empty: chosen by the server")], REQUEST_ID]),
    cmd("level", "get", "authz.v1.PermissionLevelService/GetPermissionLevel", &[TENANT, SERVICE, LEVEL]),
    cmd("level", "list", "authz.v1.PermissionLevelService/ListPermissionLevels", &[TENANT, SERVICE, PAGING, FILTER]),
    cmd("level", "update", "authz.v1.PermissionLevelService/UpdatePermissionLevel", &[LEVEL_FIELDS, &[req("level", "permission_level.id").help("Level id")], MASK, ETAG]),
    cmd("level", "delete", "authz.v1.PermissionLevelService/DeletePermissionLevel", &[TENANT, SERVICE, LEVEL, ETAG]),
    cmd("grant", "give", "authz.v1.GrantService/GiveGrant", &[GIVE_GRANT, WITH_DEPENDENCIES, REQUEST_ID]),
    cmd("grant", "get", "authz.v1.GrantService/GetGrant", &[TENANT, SERVICE, GRANT]),
    cmd("grant", "list", "authz.v1.GrantService/ListGrants", &[TENANT, SERVICE, LIST_GRANTS, PAGING]),
    cmd("grant", "revoke", "authz.v1.GrantService/RevokeGrant", &[TENANT, SERVICE, GRANT, &[opt("with-dependents", "with_dependents")], ETAG]),
    // PartnerService: the platform onboards partners and links tenants; the rest need a
    // partner user as --actor.
    cmd("partner", "onboard", "authz.v1.PartnerService/OnboardPartner", &[ONBOARD_PARTNER, REQUEST_ID]),
    cmd("partner", "get", "authz.v1.PartnerService/GetPartner", &[PARTNER]),
    cmd("partner-user", "invite", "authz.v1.PartnerService/InvitePartnerUser", &[PARTNER, INVITE_PARTNER_USER, REQUEST_ID]),
    cmd("partner-user", "get", "authz.v1.PartnerService/GetPartnerUser", &[PARTNER, USER]),
    cmd("partner-user", "list", "authz.v1.PartnerService/ListPartnerUsers", &[PARTNER, PAGING, FILTER, LIST_PARTNER_USERS]),
    cmd("partner-user", "activate", "authz.v1.PartnerService/ActivatePartnerUser", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "disable", "authz.v1.PartnerService/DisablePartnerUser", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "enable", "authz.v1.PartnerService/EnablePartnerUser", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "report-sign-in", "authz.v1.PartnerService/ReportPartnerSignIn", &[PARTNER, USER, &[opt("success", "success")]]),
    cmd("partner-user", "unlock", "authz.v1.PartnerService/UnlockPartnerUser", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "reset-mfa", "authz.v1.PartnerService/ResetPartnerUserMfa", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "delete", "authz.v1.PartnerService/DeletePartnerUser", &[PARTNER, USER, ETAG]),
    cmd("partner-user", "transfer-ownership", "authz.v1.PartnerService/TransferPartnerOwnership", &[PARTNER, &[req("new-owner", "new_owner")]]),
    cmd("partner-user", "reach", "authz.v1.PartnerService/ListPartnerUserReach", &[PARTNER, USER, PAGING]),
    cmd("customer", "create", "authz.v1.PartnerService/CreateCustomer", &[CUSTOMER_FIELDS, CREATE_CUSTOMER, REQUEST_ID]),
    cmd("customer", "update", "authz.v1.PartnerService/UpdateCustomer", &[CUSTOMER_FIELDS, UPDATE_CUSTOMER, MASK, ETAG]),
    cmd("customer", "get", "authz.v1.PartnerService/GetCustomer", &[PARTNER, CUSTOMER]),
    cmd("customer", "list", "authz.v1.PartnerService/ListCustomers", &[PARTNER, PAGING, FILTER, LIST_CUSTOMERS]),
    cmd("customer", "delete", "authz.v1.PartnerService/DeleteCustomer", &[PARTNER, CUSTOMER, ETAG]),
    cmd("customer", "set-tenant", "authz.v1.PartnerService/SetTenantCustomer", &[TENANT, &[opt("customer", "customer")]]),
    cmd("customer-group", "create", "authz.v1.PartnerService/CreateCustomerGroup", &[CUSTOMER_GROUP_FIELDS, &[opt("id", "customer_group.id").help("Customer group id; empty: chosen by the server")], REQUEST_ID]),
    cmd("customer-group", "update", "authz.v1.PartnerService/UpdateCustomerGroup", &[CUSTOMER_GROUP_FIELDS, &[req("customer-group", "customer_group.id").help("Customer group id")], MASK, ETAG]),
    cmd("customer-group", "get", "authz.v1.PartnerService/GetCustomerGroup", &[PARTNER, CUSTOMER_GROUP]),
    cmd("customer-group", "list", "authz.v1.PartnerService/ListCustomerGroups", &[PARTNER, PAGING, FILTER]),
    cmd("customer-group", "delete", "authz.v1.PartnerService/DeleteCustomerGroup", &[PARTNER, CUSTOMER_GROUP, ETAG]),
    cmd("customer-group", "add-customers", "authz.v1.PartnerService/AddGroupCustomers", &[PARTNER, CUSTOMER_GROUP, CUSTOMERS]),
    cmd("customer-group", "remove-customers", "authz.v1.PartnerService/RemoveGroupCustomers", &[PARTNER, CUSTOMER_GROUP, CUSTOMERS]),
    cmd("customer-group", "resync", "authz.v1.PartnerService/ResyncCustomerGroup", &[PARTNER, CUSTOMER_GROUP, ETAG]),
    cmd("customer-group", "members", "authz.v1.PartnerService/ListGroupCustomers", &[PARTNER, CUSTOMER_GROUP, PAGING, FILTER]),
    cmd("partner-role", "create", "authz.v1.PartnerService/CreatePartnerRole", &[PARTNER_ROLE_FIELDS, &[opt("id", "partner_role.id").help("Partner role id; empty: chosen by the server")], REQUEST_ID]),
    cmd("partner-role", "update", "authz.v1.PartnerService/UpdatePartnerRole", &[PARTNER_ROLE_FIELDS, &[req("role", "partner_role.id").help("Partner role id")], MASK, ETAG]),
    cmd("partner-role", "get", "authz.v1.PartnerService/GetPartnerRole", &[PARTNER, PARTNER_ROLE]),
    cmd("partner-role", "list", "authz.v1.PartnerService/ListPartnerRoles", &[PARTNER, PAGING, FILTER]),
    cmd("partner-role", "delete", "authz.v1.PartnerService/DeletePartnerRole", &[PARTNER, PARTNER_ROLE, ETAG]),
    cmd("partner-role", "add-member", "authz.v1.PartnerService/AddPartnerRoleMember", &[PARTNER, PARTNER_ROLE, USER, UNTIL]),
    cmd("partner-role", "remove-member", "authz.v1.PartnerService/RemovePartnerRoleMember", &[PARTNER, PARTNER_ROLE, USER, UNTIL]),
    cmd("customer-role", "create", "authz.v1.PartnerService/CreateCustomerRole", &[CUSTOMER_ROLE_FIELDS, &[opt("id", "customer_role.id").help("Customer role id; empty: chosen by the server")], REQUEST_ID]),
    cmd("customer-role", "update", "authz.v1.PartnerService/UpdateCustomerRole", &[CUSTOMER_ROLE_FIELDS, &[req("role", "customer_role.id").help("Customer role id")], MASK, ETAG]),
    cmd("customer-role", "get", "authz.v1.PartnerService/GetCustomerRole", &[PARTNER, CUSTOMER_ROLE]),
    cmd("customer-role", "list", "authz.v1.PartnerService/ListCustomerRoles", &[PARTNER, PAGING, FILTER]),
    cmd("customer-role", "delete", "authz.v1.PartnerService/DeleteCustomerRole", &[PARTNER, CUSTOMER_ROLE, ETAG]),
    cmd("customer-role", "set-tenant-sync", "authz.v1.PartnerService/SetCustomerRoleTenantSync", &[PARTNER, CUSTOMER_ROLE, TENANT, SYNC_ENABLED, ETAG]),
    // TenantRoleService: a user of the tenant as --actor.
    cmd("tenant-role", "create", "authz.v1.TenantRoleService/CreateTenantRole", &[TENANT_ROLE_FIELDS, &[opt("id", "tenant_role.id").help("Tenant role id; empty: chosen by the server")], REQUEST_ID]),
    cmd("tenant-role", "update", "authz.v1.TenantRoleService/UpdateTenantRole", &[TENANT_ROLE_FIELDS, &[req("role", "tenant_role.id").help("Tenant role id")], MASK, ETAG]),
    cmd("tenant-role", "get", "authz.v1.TenantRoleService/GetTenantRole", &[TENANT, TENANT_ROLE]),
    cmd("tenant-role", "list", "authz.v1.TenantRoleService/ListTenantRoles", &[TENANT, PAGING, FILTER]),
    cmd("tenant-role", "delete", "authz.v1.TenantRoleService/DeleteTenantRole", &[TENANT, TENANT_ROLE, ETAG]),
    cmd("tenant-role", "add-member", "authz.v1.TenantRoleService/AddTenantRoleMember", &[TENANT, TENANT_ROLE, USER]),
    cmd("tenant-role", "remove-member", "authz.v1.TenantRoleService/RemoveTenantRoleMember", &[TENANT, TENANT_ROLE, USER]),
    cmd("tenant-role", "detach", "authz.v1.TenantRoleService/DetachTenantRole", &[TENANT, TENANT_ROLE, ETAG]),
    // CheckService: no actor (a product service asks).
    cmd("check", "", "authz.v1.CheckService/Check", &[TENANT, CHECK_SERVICE, CHECK_SUBJECT, PERMISSION, CHECK, MIN_REVISION]),
    cmd("batch-check", "", "authz.v1.CheckService/BatchCheck", &[TENANT, SERVICE, BATCH_CHECK, MIN_REVISION]),
    cmd("lookup", "objects", "authz.v1.CheckService/LookupObjects", &[TENANT, SERVICE, USER, PERMISSION, PAGING, MIN_REVISION]),
    cmd("lookup", "subjects", "authz.v1.CheckService/LookupSubjects", &[TENANT, SERVICE, &[opt("object", "object")], PERMISSION, PAGING, MIN_REVISION]),
    cmd("view", "user", "authz.v1.CheckService/ListUserPermissions", &[TENANT, USER, &[opt("service", "service")], PAGING, MIN_REVISION]),
    cmd("view", "object", "authz.v1.CheckService/ListObjectAccess", &[TENANT, SERVICE, OBJECT, PAGING, MIN_REVISION]),
];
