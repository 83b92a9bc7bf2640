//! Which scope each method needs, and which tenants a request names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost_reflect::{DescriptorPool, DynamicMessage};

use super::{Access, access, tenants_named, unframe};
use crate::{api::pb, auth::Scope};

#[test]
fn each_service_needs_its_scope_and_health_needs_nothing() {
    for (path, expected) in [
        ("/grpc.health.v1.Health/Check", Access::Open),
        ("/authz.v1.CheckService/Check", Access::Scope(Scope::Check)),
        ("/authz.v1.WatchService/Watch", Access::Scope(Scope::Watch)),
        (
            "/authz.v1.AuditService/ListAuditEvents",
            Access::Scope(Scope::Audit),
        ),
        (
            "/authz.v1.PlatformService/CreateTenant",
            Access::Scope(Scope::Platform),
        ),
        (
            "/authz.v1.AccountService/ReportSignIn",
            Access::Scope(Scope::Platform),
        ),
        (
            "/authz.v1.AccountService/UnlockUser",
            Access::Scope(Scope::Manage),
        ),
        (
            "/authz.v1.UserService/InviteUser",
            Access::Scope(Scope::Manage),
        ),
        ("/authz.v1.ServerService/GetServerInfo", Access::AnyCaller),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Access::AnyCaller,
        ),
    ] {
        assert_eq!(access(path), expected, "{path}");
    }
}

fn decoded(name: &str, message: &impl prost::Message) -> DynamicMessage {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let descriptor = pool.get_message_by_name(name).unwrap();
    DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).unwrap()
}

#[test]
fn tenants_are_found_at_the_top_nested_in_lists_and_as_a_new_tenants_id() {
    let mut named = Vec::new();
    let watch = pb::WatchRequest {
        tenants: vec!["a".into(), String::new(), "b".into()],
        ..Default::default()
    };
    tenants_named(&decoded("authz.v1.WatchRequest", &watch), &mut named, 0);
    assert_eq!(named, ["a", "b"]);

    named.clear();
    let update = pb::UpdateUserRequest {
        user: Some(pb::User {
            tenant: "nested".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    tenants_named(
        &decoded("authz.v1.UpdateUserRequest", &update),
        &mut named,
        0,
    );
    assert_eq!(named, ["nested"]);

    named.clear();
    let create = pb::CreateTenantRequest {
        id: "fresh".into(),
        ..Default::default()
    };
    tenants_named(
        &decoded("authz.v1.CreateTenantRequest", &create),
        &mut named,
        0,
    );
    assert_eq!(named, ["fresh"]);
}

#[test]
fn a_request_body_is_exactly_one_uncompressed_message() {
    let framed = |flag: u8, len: u32, body: &[u8]| {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(body);
        prost::bytes::Bytes::from(bytes)
    };
    assert_eq!(&unframe(&framed(0, 2, b"ab")).unwrap()[..], b"ab");
    assert_eq!(
        unframe(&framed(1, 2, b"ab")).unwrap_err().code(),
        tonic::Code::Unimplemented
    );
    assert_eq!(
        unframe(&framed(0, 3, b"ab")).unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        unframe(&framed(0, 1, b"ab")).unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        unframe(&prost::bytes::Bytes::from_static(b"\0\0"))
            .unwrap_err()
            .code(),
        tonic::Code::InvalidArgument
    );
}

#[test]
fn a_call_let_through_starts_the_refusals_in_a_row_over() {
    let tag = std::sync::Arc::new(crate::tls::ConnectionTag::default());
    for _ in 0..40 {
        super::count_against(Some(&tag));
    }
    assert_eq!(super::count_against(Some(&tag)), super::MAX_HOLD);
    tag.note_success();
    for _ in 0..super::FREE_REFUSALS {
        assert!(super::count_against(Some(&tag)).is_zero());
    }
    assert_eq!(super::count_against(Some(&tag)), super::FIRST_HOLD);
}

#[test]
fn refusals_in_a_row_are_answered_ever_more_slowly_after_the_first_few() {
    use std::time::Duration;
    let holds: Vec<Duration> = (1..=12).map(super::hold_after).collect();
    let ms = |ms| Duration::from_millis(ms);
    assert_eq!(
        holds,
        [
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            ms(10),
            ms(20),
            ms(40),
            ms(80),
            ms(160),
            ms(320),
            ms(640),
            ms(1000),
        ]
    );
    assert_eq!(super::hold_after(63), ms(1000));
    assert_eq!(super::hold_after(u32::MAX), ms(1000));
    // Without a connection (in-process calls) nothing is counted or held.
    assert_eq!(super::count_against(None), Duration::ZERO);
}
