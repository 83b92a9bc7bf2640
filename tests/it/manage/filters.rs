//! List filters over real gRPC (#20 item 5): users by the services they reach, groups by
//! member, objects by type, creator and a search of names and descriptions; each combined
//! with the text filter and paged with a stable cursor.

use super::*;

const OTHER_SERVICE: &str = "iaas-backup";

/// The field a bad request names.
fn bad_field<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let status = refused(result, Code::InvalidArgument, field);
    let bad = status
        .get_details_bad_request()
        .expect("a bad field is named in a BadRequest");
    assert_eq!(bad.field_violations[0].field, field);
}

fn ids<T>(items: Vec<T>, id: impl Fn(T) -> String) -> Vec<String> {
    items.into_iter().map(id).collect()
}

impl Admin {
    /// Registers `service` (and subscribes the tenant to it when `subscribed`).
    async fn another_service(&mut self, service: &str, subscribed: bool) {
        self.platform
            .register_service(platform(pb::RegisterServiceRequest {
                service: Some(pb::ServiceDefinition {
                    id: service.into(),
                    ..service_definition(
                        &["backup.run"],
                        pb::DemotionPolicy::RemoveFromAdministrators,
                    )
                }),
                request_id: String::new(),
            }))
            .await
            .unwrap();
        if subscribed {
            self.platform
                .subscribe_service(platform(pb::SubscribeServiceRequest {
                    tenant: TENANT.into(),
                    service: service.into(),
                }))
                .await
                .unwrap();
        }
    }

    async fn users_reaching(
        &mut self,
        services: &[&str],
        roles: &[pb::RoleKind],
        filter: &str,
    ) -> Result<Vec<String>, Status> {
        let answer = self
            .users
            .list_users(pb::ListUsersRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                services: strings(services),
                roles: roles.iter().copied().map(i32::from).collect(),
                filter: filter.into(),
                ..Default::default()
            })
            .await?;
        Ok(ids(answer.into_inner().users, |u| u.id))
    }

    async fn groups_holding(
        &mut self,
        members: Vec<pb::SubjectRef>,
        filter: &str,
    ) -> Result<Vec<String>, Status> {
        let answer = self
            .groups
            .list_groups(pb::ListGroupsRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                members,
                filter: filter.into(),
                ..Default::default()
            })
            .await?;
        Ok(ids(answer.into_inner().groups, |g| g.id))
    }

    async fn group_with(&mut self, id: &str, name: &str, members: &[pb::SubjectRef]) {
        self.groups
            .create_group(pb::CreateGroupRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: id.into(),
                name: name.into(),
                request_id: String::new(),
            })
            .await
            .unwrap();
        for member in members {
            self.groups
                .add_group_member(pb::GroupMemberRequest {
                    actor: OWNER.into(),
                    tenant: TENANT.into(),
                    group: id.into(),
                    member: Some(member.clone()),
                })
                .await
                .unwrap();
        }
    }

    /// Creates a top-level object as `actor`, with a description.
    async fn described(
        &mut self,
        actor: &str,
        id: &str,
        object_type: &str,
        description: &str,
    ) -> pb::Object {
        self.objects
            .create_object(pb::CreateObjectRequest {
                actor: actor.into(),
                object: Some(pb::Object {
                    tenant: TENANT.into(),
                    service: SERVICE.into(),
                    id: id.into(),
                    r#type: object_type.into(),
                    name: format!("Object {id}"),
                    description: description.into(),
                    // The server says who created it; a client's claim is ignored.
                    creator: "mallory".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .object
            .unwrap()
    }
}

fn list_objects(request: pb::ListObjectsRequest) -> pb::ListObjectsRequest {
    pb::ListObjectsRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        service: SERVICE.into(),
        ..request
    }
}

#[tokio::test]
async fn users_are_listed_by_the_services_they_reach() {
    let (_server, mut admin) = started().await;
    admin.another_service(OTHER_SERVICE, true).await;
    admin.another_service("cloud-mgmt", false).await;
    for user in ["bob", "carl", "dana", "erin"] {
        admin.user(user).await;
    }
    admin.give_service("bob", SERVICE).await;
    admin.give_service("carl", OTHER_SERVICE).await;
    admin
        .set_role(OWNER, "dana", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();

    // Given access, or an administrator who reaches every subscribed service; erin,
    // given nothing, reaches none.
    let reaching = admin.users_reaching(&[SERVICE], &[], "").await.unwrap();
    assert_eq!(reaching, ["bob", "dana", OWNER]);
    let reaching = admin
        .users_reaching(&[OTHER_SERVICE], &[], "")
        .await
        .unwrap();
    assert_eq!(reaching, ["carl", "dana", OWNER]);
    // A service the tenant does not subscribe to is reached by no one.
    let reaching = admin
        .users_reaching(&["cloud-mgmt"], &[], "")
        .await
        .unwrap();
    assert!(reaching.is_empty(), "{reaching:?}");
    // Combined with the other selections and the text filter.
    let both = [SERVICE, OTHER_SERVICE];
    let standard = [pb::RoleKind::StandardUser];
    let reaching = admin.users_reaching(&both, &standard, "").await.unwrap();
    assert_eq!(reaching, ["bob", "carl"]);
    let reaching = admin
        .users_reaching(&both, &standard, "USER C")
        .await
        .unwrap();
    assert_eq!(reaching, ["carl"]);

    bad_field(
        admin.users_reaching(&["bad id!"], &[], "").await,
        "services[0]",
    );
    let many = vec![SERVICE; 17];
    bad_field(admin.users_reaching(&many, &[], "").await, "services");
}

#[tokio::test]
async fn groups_are_listed_by_the_subjects_they_directly_contain() {
    let (_server, mut admin) = started().await;
    admin.user("bob").await;
    admin.user("carl").await;
    admin
        .group_with("restorers", "Restorers", &[user_subject("bob")])
        .await;
    admin
        .group_with(
            "operators",
            "Operators",
            &[user_subject("carl"), group_subject("restorers")],
        )
        .await;
    admin
        .group_with("readers", "Readers", &[user_subject("bob")])
        .await;

    // Which groups is bob in: directly only (operators holds him through restorers).
    let holding = admin
        .groups_holding(vec![user_subject("bob")], "")
        .await
        .unwrap();
    assert_eq!(holding, ["readers", "restorers"]);
    let holding = admin
        .groups_holding(vec![user_subject("carl"), group_subject("restorers")], "")
        .await
        .unwrap();
    assert_eq!(holding, ["operators"]);
    let holding = admin
        .groups_holding(vec![user_subject("bob")], "REST")
        .await
        .unwrap();
    assert_eq!(holding, ["restorers"]);
    // A subject in no group (or none at all) selects nothing.
    let holding = admin
        .groups_holding(vec![user_subject("nobody")], "")
        .await
        .unwrap();
    assert!(holding.is_empty(), "{holding:?}");

    bad_field(
        admin
            .groups_holding(
                vec![pb::SubjectRef {
                    kind: pb::SubjectKind::Unspecified.into(),
                    id: "bob".into(),
                }],
                "",
            )
            .await,
        "members[0].kind",
    );
    bad_field(
        admin
            .groups_holding(vec![user_subject("bad id!")], "")
            .await,
        "members[0].id",
    );
    bad_field(
        admin
            .groups_holding(vec![user_subject("bob"); 17], "")
            .await,
        "members",
    );
}

#[tokio::test]
async fn objects_show_their_creator_and_description_and_are_listed_by_them() {
    let (_server, mut admin) = started().await;
    admin.user("bob").await;
    admin
        .set_role(OWNER, "bob", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    let plan = admin
        .described("bob", "plan-1", "plan", "Nightly mailboxes")
        .await;
    assert_eq!(plan.creator, "bob", "the actor, not the client's claim");
    assert_eq!(plan.description, "Nightly mailboxes");
    admin
        .described(OWNER, "plan-2", "plan", "Weekly sites")
        .await;
    admin.described("bob", "org-1", "org", "Head office").await;
    admin.described(OWNER, "org-2", "org", "").await;

    let list = |request: pb::ListObjectsRequest| {
        let mut objects = admin.objects.clone();
        async move {
            objects
                .list_objects(list_objects(request))
                .await
                .map(|answer| ids(answer.into_inner().objects, |o| o.id))
        }
    };
    let by_type = list(pb::ListObjectsRequest {
        types: strings(&["plan"]),
        ..Default::default()
    });
    assert_eq!(by_type.await.unwrap(), ["plan-1", "plan-2"]);
    let by_creator = list(pb::ListObjectsRequest {
        creators: strings(&["bob"]),
        ..Default::default()
    });
    assert_eq!(by_creator.await.unwrap(), ["org-1", "plan-1"]);
    // The text filter searches descriptions too, ignoring case, and combines.
    let searched = list(pb::ListObjectsRequest {
        filter: "MAILBOX".into(),
        ..Default::default()
    });
    assert_eq!(searched.await.unwrap(), ["plan-1"]);
    let combined = list(pb::ListObjectsRequest {
        types: strings(&["org", "plan"]),
        creators: strings(&[OWNER]),
        filter: "weekly".into(),
        ..Default::default()
    });
    assert_eq!(combined.await.unwrap(), ["plan-2"]);

    bad_field(
        list(pb::ListObjectsRequest {
            creators: strings(&["bad id!"]),
            ..Default::default()
        })
        .await,
        "creators[0]",
    );
    bad_field(
        list(pb::ListObjectsRequest {
            types: strings(&[""]),
            ..Default::default()
        })
        .await,
        "types[0]",
    );
    bad_field(
        list(pb::ListObjectsRequest {
            types: vec!["plan".into(); 17],
            ..Default::default()
        })
        .await,
        "types",
    );
}

#[tokio::test]
async fn an_object_update_changes_its_description_only_when_asked() {
    let (_server, mut admin) = started().await;
    admin.described(OWNER, "plan-1", "plan", "Nightly").await;
    let update = |name: &str, description: &str, paths: &[&str]| pb::UpdateObjectRequest {
        actor: OWNER.into(),
        object: Some(pb::Object {
            tenant: TENANT.into(),
            service: SERVICE.into(),
            id: "plan-1".into(),
            name: name.into(),
            description: description.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: strings(paths),
        }),
        etag: String::new(),
    };
    let renamed = admin
        .objects
        .update_object(update("Plan", "", &["name"]))
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_str()),
        ("Plan", "Nightly")
    );
    let described = admin
        .objects
        .update_object(update("", "Every night", &["description"]))
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    assert_eq!(
        (described.name.as_str(), described.description.as_str()),
        ("Plan", "Every night")
    );
    assert_ne!(
        described.etag, renamed.etag,
        "a new description is a change"
    );
    assert_eq!(described.creator, OWNER, "the creator stays");
    bad_field(
        admin
            .objects
            .update_object(update("", "two\nlines", &["description"]))
            .await,
        "object.description",
    );
}

#[tokio::test]
async fn a_filtered_object_list_pages_with_a_stable_cursor() {
    let (_server, mut admin) = started().await;
    for n in 0..5 {
        admin
            .described(OWNER, &format!("plan-{n}"), "plan", &format!("Plan {n}"))
            .await;
        admin
            .described(OWNER, &format!("org-{n}"), "org", &format!("Org {n}"))
            .await;
    }
    let objects = admin.objects.clone();
    let page = |token: String| {
        let mut objects = objects.clone();
        async move {
            objects
                .list_objects(list_objects(pb::ListObjectsRequest {
                    types: strings(&["plan"]),
                    creators: strings(&[OWNER]),
                    page_size: 3,
                    page_token: token,
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let first = page(String::new()).await;
    assert_eq!(ids(first.objects, |o| o.id), ["plan-0", "plan-1", "plan-2"]);
    assert!(!first.next_page_token.is_empty());
    // An object created before the cursor's position is not returned again; one after it
    // that matches is; one that does not match never is.
    admin.described(OWNER, "plan-00", "plan", "late").await;
    admin.described(OWNER, "plan-9", "plan", "late").await;
    admin.described(OWNER, "org-9", "org", "late").await;
    let second = page(first.next_page_token).await;
    assert_eq!(
        ids(second.objects, |o| o.id),
        ["plan-3", "plan-4", "plan-9"]
    );
    assert!(second.next_page_token.is_empty());
}
