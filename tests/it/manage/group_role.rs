//! A directory group as an application administrator over real gRPC (#20 item 4).

use super::*;

#[tokio::test]
async fn rule_a_group_made_application_administrator_gives_its_members_the_role() {
    let (_server, mut admin) = started().await;
    admin.user("ann").await;
    admin.give_service("ann", SERVICE).await;
    for (id, name) in [("ops", "Operations"), ("staff", "Staff")] {
        admin
            .groups
            .create_group(pb::CreateGroupRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: id.into(),
                name: name.into(),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    let member = |group: &str, member: pb::SubjectRef| pb::GroupMemberRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        group: group.into(),
        member: Some(member),
    };
    admin
        .groups
        .add_group_member(member("ops", user_subject("ann")))
        .await
        .unwrap();
    admin
        .groups
        .add_group_member(member(
            "staff",
            pb::SubjectRef {
                kind: pb::SubjectKind::Group.into(),
                id: "ops".into(),
            },
        ))
        .await
        .unwrap();
    let set_role = |actor: &str, services: &[&str]| pb::SetGroupRoleRequest {
        actor: actor.into(),
        tenant: TENANT.into(),
        group: "staff".into(),
        application_administrator_of: strings(services),
        etag: String::new(),
    };
    // Only an administrator of the tenant makes a group one.
    refused(
        admin
            .groups
            .set_group_role(set_role("ann", &[SERVICE]))
            .await,
        Code::PermissionDenied,
        "ann",
    );
    refused(
        admin
            .groups
            .set_group_role(set_role(OWNER, &["no-such-service"]))
            .await,
        Code::FailedPrecondition,
        "no-such-service",
    );
    let set = admin
        .groups
        .set_group_role(set_role(OWNER, &[SERVICE]))
        .await
        .unwrap()
        .into_inner();
    let group = set.group.unwrap();
    assert_eq!(group.application_administrator_of, [SERVICE]);
    // ann, two groups down, holds everything in the service, and the check explains it.
    assert!(
        admin
            .allowed("ann", "settings.edit", "", set.revision)
            .await
    );
    let administrators = admin.administrators_group().await;
    assert!(administrators.synced_members.iter().any(|m| {
        m.member.as_ref().is_some_and(|s| s.id == "staff")
            && m.rule() == pb::SyncRule::ApplicationAdministrator
    }));
    // And she administers the service as a user with the role would: she invites users.
    admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: "ann".into(),
            tenant: TENANT.into(),
            id: "newcomer".into(),
            email: "newcomer@acme.example".into(),
            display_name: "Newcomer".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // No longer: the service's policy removes the group from its Administrators group.
    let unset = admin
        .groups
        .set_group_role(set_role(OWNER, &[]))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !admin
            .allowed("ann", "settings.edit", "", unset.revision)
            .await
    );
}
