//! Dependent objects both ways over real gRPC (#20 item 8): a grant on a plan needs
//! access to the sites the plan depends on (or brings it), and moving or deleting such a
//! site is refused while someone reaches the plan, unless the call cascades.

use super::*;

/// `alice` with access to the service; `org1` ⊃ `c1` ⊃ `site1`, and `plan1` depending on
/// `site1`.
pub(super) async fn plan_over_a_site() -> (crate::support::server::TestServer, Admin) {
    let (server, mut admin) = started().await;
    admin.user("alice").await;
    admin.give_service("alice", SERVICE).await;
    admin.object("org1", "org", "").await;
    admin.object("c1", "container", "org1").await;
    admin.object("site1", "site", "c1").await;
    admin
        .objects
        .create_object(pb::CreateObjectRequest {
            actor: OWNER.into(),
            object: Some(pb::Object {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                id: "plan1".into(),
                r#type: "plan".into(),
                name: "Plan 1".into(),
                related: strings(&["site1"]),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    (server, admin)
}

fn give_on(object: &str, id: &str, with_dependencies: bool) -> pb::GiveGrantRequest {
    pb::GiveGrantRequest {
        actor: OWNER.into(),
        grant: Some(pb::Grant {
            tenant: TENANT.into(),
            service: SERVICE.into(),
            id: id.into(),
            subject: Some(user_subject("alice")),
            permissions: strings(&["backup.run"]),
            object: object.into(),
            ..Default::default()
        }),
        request_id: String::new(),
        with_dependencies,
    }
}

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_grant_on_a_plan_needs_its_sites_or_brings_them() {
    let (_server, mut admin) = plan_over_a_site().await;
    let refused = admin
        .grants
        .give_grant(give_on("plan1", "g-plan", false))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "DEPENDENCY_NOT_REACHED");
    assert!(refused.message().contains("site1"), "{}", refused.message());
    let given = admin
        .grants
        .give_grant(give_on("plan1", "g-plan", true))
        .await
        .unwrap()
        .into_inner();
    assert!(
        admin
            .allowed("alice", "backup.run", "site1", given.revision)
            .await
    );
    let brought = admin
        .grants
        .get_grant(pb::GrantRefRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            grant: "g-plan:site1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .grant
        .unwrap();
    assert_eq!(brought.object, "site1");
    assert_eq!(brought.revision_given_with_plan(), given.revision);
}

/// The grant given alongside another carries no revision of its own; its etag is that
/// revision (the change that gave it).
trait GivenWith {
    fn revision_given_with_plan(&self) -> u64;
}

impl GivenWith for pb::Grant {
    fn revision_given_with_plan(&self) -> u64 {
        self.etag
            .trim_start_matches('r')
            .parse()
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn moving_or_deleting_a_site_a_reached_plan_depends_on_is_refused_unless_it_cascades() {
    let (_server, mut admin) = plan_over_a_site().await;
    admin
        .grants
        .give_grant(give_on("c1", "g-container", false))
        .await
        .unwrap();
    admin
        .grants
        .give_grant(give_on("plan1", "g-plan", false))
        .await
        .unwrap();
    let move_out = |cascade: bool| pb::MoveObjectRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        service: SERVICE.into(),
        object: "site1".into(),
        new_parent: "org1".into(),
        etag: String::new(),
        cascade,
    };
    let refused = admin
        .objects
        .move_object(move_out(false))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "OBJECT_DEPENDED_ON");
    assert!(refused.message().contains("plan1"), "{}", refused.message());
    let delete = |cascade: bool| pb::ObjectRefRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        service: SERVICE.into(),
        object: "site1".into(),
        etag: String::new(),
        cascade,
    };
    let refused = admin
        .objects
        .delete_object(delete(false))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "OBJECT_DEPENDED_ON");
    // Cascading, the move takes the plan grant with it.
    let moved = admin
        .objects
        .move_object(move_out(true))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !admin
            .allowed("alice", "backup.run", "plan1", moved.revision)
            .await
    );
    // Nobody reaches the plan now: the site may go, and the plan stops depending on it.
    admin.objects.delete_object(delete(false)).await.unwrap();
    let plan = admin
        .objects
        .get_object(pb::ObjectRefRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            object: "plan1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    assert!(plan.related.is_empty());
}
