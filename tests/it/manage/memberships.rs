//! Adding and removing one member answers with the membership, not the member list (#23
//! item 5): the answer's size does not grow with the group.

use super::*;

#[tokio::test]
async fn a_membership_change_answers_with_the_membership_and_the_groups_etag() {
    let (_server, mut admin) = started().await;
    for user in ["ann", "bob"] {
        admin.user(user).await;
        admin.give_service(user, SERVICE).await;
    }
    admin
        .groups
        .create_group(pb::CreateGroupRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "ops".into(),
            name: "Operations".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let member = |user: &str| pb::GroupMemberRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        group: "ops".into(),
        member: Some(user_subject(user)),
    };
    let mut groups = admin.groups.clone();
    let mut group_etag = async || {
        groups
            .get_group(pb::GroupRefRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                group: "ops".into(),
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .group
            .unwrap()
            .etag
    };
    let mut revisions = Vec::new();
    for (user, count) in [("ann", 1), ("bob", 2)] {
        let added = admin
            .groups
            .add_group_member(member(user))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (added.tenant.as_str(), added.group.as_str()),
            (TENANT, "ops")
        );
        assert_eq!(added.member, Some(user_subject(user)));
        assert!(added.is_member);
        assert_eq!(added.member_count, count);
        assert_eq!(added.etag, group_etag().await);
        revisions.push(added.revision);
    }
    assert!(revisions[1] > revisions[0]);
    let removed = admin
        .groups
        .remove_group_member(member("ann"))
        .await
        .unwrap()
        .into_inner();
    assert!(!removed.is_member);
    assert_eq!(removed.member_count, 1);
    assert_eq!(removed.etag, group_etag().await);
    assert!(removed.revision > revisions[1]);
    // The etag it answered is the group's: a change naming it goes through.
    admin
        .groups
        .delete_group(pb::GroupRefRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "ops".into(),
            etag: removed.etag,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_security_group_membership_change_answers_with_the_membership() {
    let (_server, mut admin) = started().await;
    admin.user("ann").await;
    admin.give_service("ann", SERVICE).await;
    admin
        .security
        .create_security_group(pb::CreateSecurityGroupRequest {
            actor: OWNER.into(),
            security_group: Some(pb::SecurityGroup {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                id: "restorers".into(),
                name: "Restorers".into(),
                permissions: strings(&["restore.*"]),
                scope: Some(pb::ObjectScope {
                    all_objects: true,
                    objects: Vec::new(),
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    for group in ["restorers", "administrators"] {
        let request = pb::SecurityGroupMemberRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            security_group: group.into(),
            member: Some(user_subject("ann")),
        };
        let before = admin.security_group(group).await;
        let members_before = u64::try_from(before.members.len()).unwrap();
        let added = admin
            .security
            .add_security_group_member(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (
                added.tenant.as_str(),
                added.service.as_str(),
                added.security_group.as_str()
            ),
            (TENANT, SERVICE, group)
        );
        assert_eq!(added.member, Some(user_subject("ann")));
        assert!(added.is_member, "{group}");
        assert_eq!(added.member_count, members_before + 1, "{group}");
        let after = admin.security_group(group).await;
        assert_eq!(added.etag, after.etag, "{group}");
        assert_eq!(
            added.member_count,
            u64::try_from(after.members.len()).unwrap()
        );
        let removed = admin
            .security
            .remove_security_group_member(request)
            .await
            .unwrap()
            .into_inner();
        assert!(!removed.is_member, "{group}");
        assert_eq!(removed.member_count, members_before, "{group}");
        assert!(removed.revision > added.revision);
    }
}
