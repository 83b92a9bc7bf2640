//! Bulk calls (each item decided on its own, the accepted ones in one revision) and the
//! invitation with its role and service access (all or none), over real gRPC.

use std::time::Duration;

use authzd::api::pb::{
    account_service_client::AccountServiceClient, watch_service_client::WatchServiceClient,
};

use super::*;

fn bulk_users(actor: &str, users: &[&str]) -> pb::BulkUsersRequest {
    pb::BulkUsersRequest {
        actor: actor.into(),
        tenant: TENANT.into(),
        users: strings(users),
    }
}

/// Each item's outcome: `None` applied, else its code and reason.
fn outcomes(response: &pb::BulkResponse) -> Vec<Option<(Code, String)>> {
    response
        .results
        .iter()
        .map(|r| {
            r.error
                .as_ref()
                .map(|e| (Code::from(e.code), e.reason.clone()))
        })
        .collect()
}

/// Locks `user` by failed sign-ins (3 in a row by default).
async fn lock(server: &TestServer, user: &str) {
    let mut accounts = AccountServiceClient::new(server.channel().await);
    for _ in 0..3 {
        accounts
            .report_sign_in(platform(pb::ReportSignInRequest {
                tenant: TENANT.into(),
                user: user.into(),
                success: false,
            }))
            .await
            .unwrap();
    }
}

/// The events of revision `revision`, read from the log.
async fn event_at(server: &TestServer, revision: u64, kinds: Vec<i32>) -> pb::ChangeEvent {
    let mut stream = WatchServiceClient::new(server.channel().await)
        .watch(pb::WatchRequest {
            start_revision: Some(revision - 1),
            kinds,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("the stream stalled")
            .unwrap()
            .expect("the stream ended");
        if let Some(pb::watch_response::Message::Event(event)) = message.message {
            assert_eq!(event.revision, revision, "no other event in between");
            return event;
        }
    }
}

#[tokio::test]
async fn bulk_unlock_unlocks_the_locked_users_in_one_revision_and_says_why_not_per_item() {
    let (server, mut admin) = started().await;
    for id in ["ann", "bob", "carl"] {
        admin.user(id).await;
    }
    lock(&server, "ann").await;
    lock(&server, "bob").await;
    let response = AccountServiceClient::new(server.channel().await)
        .bulk_unlock_users(bulk_users(OWNER, &["ann", "ghost", "bob", "carl"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        outcomes(&response),
        [
            None,
            Some((Code::NotFound, "NOT_FOUND".into())),
            None,
            Some((Code::FailedPrecondition, "USER_NOT_LOCKED".into())),
        ]
    );
    assert_eq!(response.applied, 2);
    let not_found = response.results[1].error.as_ref().unwrap();
    assert_eq!(
        not_found.metadata.get("id").map(String::as_str),
        Some("ghost")
    );
    assert!(not_found.message.contains("ghost"), "{}", not_found.message);
    for id in ["ann", "bob"] {
        let user = admin
            .users
            .get_user(user_ref(OWNER, id))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(user.status, i32::from(pb::UserStatus::Active), "{id}");
        // Both changed by the one batch: its revision is their etag.
        assert_eq!(user.etag, format!("r{}", response.revision), "{id}");
    }
    // Watchers see the batch as one event holding each unlock.
    let event = event_at(&server, response.revision, Vec::new()).await;
    assert_eq!(event.kind, i32::from(pb::EventKind::BatchApplied));
    let items: Vec<(i32, &str)> = event
        .items
        .iter()
        .map(|i| (i.kind, i.user.as_str()))
        .collect();
    let unlocked = i32::from(pb::EventKind::UserUnlocked);
    assert_eq!(items, [(unlocked, "ann"), (unlocked, "bob")]);
    assert!(event.items.iter().all(|i| i.revision == response.revision));
    // A kinds filter for unlocks passes the batch.
    let filtered = event_at(&server, response.revision, vec![unlocked]).await;
    assert_eq!(filtered.items.len(), 2);

    // Nothing accepted: nothing written.
    let again = AccountServiceClient::new(server.channel().await)
        .bulk_unlock_users(bulk_users(OWNER, &["ann", "ghost"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.applied, 0);
    assert_eq!(again.revision, response.revision);
}

#[tokio::test]
async fn bulk_set_role_applies_what_the_actor_may_and_denies_the_rest_per_item() {
    let (_server, mut admin) = started().await;
    for id in ["mgmt", "sa", "std1", "std2"] {
        admin.user(id).await;
    }
    let mut management = role(pb::RoleKind::CustomizedAdministrator);
    management.management = true;
    admin.set_role(OWNER, "mgmt", management).await.unwrap();
    admin
        .set_role(OWNER, "sa", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    let mut app_admin = role(pb::RoleKind::ApplicationAdministrator);
    app_admin.services = strings(&[SERVICE]);
    let response = admin
        .users
        .bulk_set_tenant_role(pb::BulkSetTenantRoleRequest {
            actor: "mgmt".into(),
            tenant: TENANT.into(),
            users: strings(&["std1", "sa", "std2"]),
            role: Some(app_admin),
        })
        .await
        .unwrap()
        .into_inner();
    let denied = outcomes(&response);
    assert_eq!(denied[0], None);
    assert_eq!(
        denied[1].as_ref().map(|d| d.0),
        Some(Code::PermissionDenied)
    );
    assert_eq!(denied[2], None);
    for (id, kind) in [
        ("std1", pb::RoleKind::ApplicationAdministrator),
        ("sa", pb::RoleKind::ServiceAdministrator),
        ("std2", pb::RoleKind::ApplicationAdministrator),
    ] {
        let user = admin
            .users
            .get_user(user_ref(OWNER, id))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap();
        assert_eq!(user.role.unwrap().kind, i32::from(kind), "{id}");
    }
    assert_eq!(response.applied, 2);
}

#[tokio::test]
async fn bulk_calls_refuse_no_items_too_many_and_repeated_ones_whole() {
    let (_server, mut admin) = started().await;
    admin.user("ann").await;
    let many: Vec<String> = (0..=100).map(|n| format!("u{n}")).collect();
    for users in [Vec::new(), many, strings(&["ann", "bob", "ann"])] {
        let status = admin
            .users
            .bulk_delete_users(pb::BulkUsersRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                users,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "FIELD_INVALID"
        );
    }
    // Group members, one of them twice.
    let status = admin
        .groups
        .bulk_add_group_members(pb::BulkGroupMembersRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "g".into(),
            members: vec![user_subject("ann"), user_subject("ann")],
        })
        .await
        .unwrap_err();
    assert!(status.message().contains("members[1]"), "{status:?}");
}

#[tokio::test]
async fn bulk_group_members_add_and_remove_each_on_its_own() {
    let (_server, mut admin) = started().await;
    admin.user("ann").await;
    admin.user("bob").await;
    admin
        .groups
        .create_group(pb::CreateGroupRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "ops".into(),
            name: "Ops".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let members = vec![
        user_subject("ann"),
        user_subject("ghost"),
        user_subject("bob"),
    ];
    let added = admin
        .groups
        .bulk_add_group_members(pb::BulkGroupMembersRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "ops".into(),
            members: members.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        outcomes(&added),
        [None, Some((Code::NotFound, "NOT_FOUND".into())), None]
    );
    let removed = admin
        .groups
        .bulk_remove_group_members(pb::BulkGroupMembersRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "ops".into(),
            members,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.applied, 2);
    assert!(removed.revision > added.revision);
}

#[tokio::test]
async fn an_invitation_with_role_and_service_access_is_made_all_at_once() {
    let (server, mut admin) = started().await;
    let mut management = role(pb::RoleKind::CustomizedAdministrator);
    management.management = true;
    let response = admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "nina".into(),
            email: "nina@acme.example".into(),
            display_name: "Nina".into(),
            role: Some(management),
            service_access: strings(&[SERVICE]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let nina = response.user.unwrap();
    assert_eq!(nina.status, i32::from(pb::UserStatus::Invited));
    assert_eq!(
        nina.role.unwrap().kind,
        i32::from(pb::RoleKind::CustomizedAdministrator)
    );
    assert_eq!(nina.services, strings(&[SERVICE]));
    assert_eq!(nina.etag, format!("r{}", response.revision));
    // A mailer asking for invitations gets the batch, its invitation first.
    let event = event_at(
        &server,
        response.revision,
        vec![i32::from(pb::EventKind::UserInvited)],
    )
    .await;
    assert_eq!(event.kind, i32::from(pb::EventKind::BatchApplied));
    assert_eq!(event.items[0].kind, i32::from(pb::EventKind::UserInvited));
    assert_eq!(event.items[0].email, "nina@acme.example");
    assert_eq!(event.notify, strings(&["nina"]));
}

#[tokio::test]
async fn an_invitation_whose_role_is_refused_leaves_no_user_behind() {
    let (_server, mut admin) = started().await;
    admin.user("mgmt").await;
    let mut management = role(pb::RoleKind::CustomizedAdministrator);
    management.management = true;
    admin.set_role(OWNER, "mgmt", management).await.unwrap();
    let status = admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: "mgmt".into(),
            tenant: TENANT.into(),
            id: "boss".into(),
            email: "boss@acme.example".into(),
            display_name: "Boss".into(),
            role: Some(role(pb::RoleKind::ServiceAdministrator)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let missing = admin
        .users
        .get_user(user_ref(OWNER, "boss"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // An unknown service also refuses the whole invitation.
    let status = admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "boss".into(),
            email: "boss@acme.example".into(),
            display_name: "Boss".into(),
            service_access: strings(&["no-such-service"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    assert!(admin.users.get_user(user_ref(OWNER, "boss")).await.is_err());
}
