//! Partner users' accounts over real gRPC, with a controllable clock: failed sign-ins lock
//! a partner user as they lock a tenant user (the server's lockout settings: 3 in a row,
//! for an hour), the lock ends by itself or by an Administrator's unlock, and an
//! Administrator resets a local user's MFA.

use std::sync::Arc;

use authzd::{api::pb, app::ManualClock, engine::Timestamp};
use tonic::Code;

use super::{ADMIN, OWNER, PARTNER, decision, denial, reason, started_with, user_ref};

const HOUR_MILLIS: i64 = 60 * 60 * 1000;

fn sign_in(user: &str, success: bool) -> pb::ReportPartnerSignInRequest {
    pb::ReportPartnerSignInRequest {
        partner: PARTNER.into(),
        user: user.into(),
        success,
    }
}

#[tokio::test]
async fn failed_sign_ins_lock_a_partner_user_until_the_lock_ends_or_an_administrator_unlocks() {
    let start = Timestamp::from_unix_millis(1_900_000_000_000);
    let clock = Arc::new(ManualClock::new(start));
    let (_server, mut p) = started_with(clock.clone()).await;
    p.role("everywhere", pb::CustomerAccess::ServiceAdministrator, &[])
        .await;
    p.user("pat", &[("everywhere", None)]).await;
    p.customer("contoso", &["eu"]).await;
    p.tenant("contoso-prod", "contoso").await;

    // A success between failures starts the count afresh.
    for success in [false, false, true, false, false] {
        p.api
            .report_partner_sign_in(sign_in("pat", success))
            .await
            .unwrap();
    }
    assert_eq!(
        decision(&p.check("contoso-prod", "pat").await),
        pb::Decision::Allowed
    );
    let locked = p
        .api
        .report_partner_sign_in(sign_in("pat", false))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(locked.status(), pb::UserStatus::Locked);
    let until = locked.locked_until.unwrap();
    assert_eq!(until.seconds * 1000, start.unix_millis() + HOUR_MILLIS);
    let denied = p.check("contoso-prod", "pat").await;
    assert_eq!(denial(&denied), pb::DenialReason::UserNotActive);
    // Failures while locked do not extend the lock.
    clock.advance_millis(HOUR_MILLIS / 2);
    let still = p
        .api
        .report_partner_sign_in(sign_in("pat", false))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(still.locked_until, Some(until));
    // The lock ends by itself.
    clock.advance_millis(HOUR_MILLIS / 2);
    assert_eq!(
        decision(&p.check("contoso-prod", "pat").await),
        pb::Decision::Allowed
    );

    // Locked again; only an Administrator unlocks, and only a locked user.
    for _ in 0..3 {
        p.api
            .report_partner_sign_in(sign_in("pat", false))
            .await
            .unwrap();
    }
    p.user("sam", &[]).await;
    let refused = p.api.unlock_partner_user(user_ref("sam", "pat")).await;
    assert_eq!(
        reason(refused, Code::PermissionDenied),
        "partner_administrators_only"
    );
    let unlocked = p
        .api
        .unlock_partner_user(user_ref(ADMIN, "pat"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(unlocked.status(), pb::UserStatus::Active);
    assert_eq!(unlocked.locked_until, None);
    assert_eq!(
        decision(&p.check("contoso-prod", "pat").await),
        pb::Decision::Allowed
    );
    let again = p.api.unlock_partner_user(user_ref(ADMIN, "pat")).await;
    assert_eq!(reason(again, Code::FailedPrecondition), "USER_NOT_LOCKED");
}

#[tokio::test]
async fn sign_ins_of_invited_users_are_refused_and_only_local_users_have_their_mfa_reset() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        1_900_000_000_000,
    )));
    let (_server, mut p) = started_with(clock).await;
    p.api
        .invite_partner_user(pb::InvitePartnerUserRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            id: "dana".into(),
            email: "dana@msp.example".into(),
            display_name: "Dana".into(),
            kind: pb::UserKind::Directory.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let invited = p.api.report_partner_sign_in(sign_in("dana", false)).await;
    assert_eq!(reason(invited, Code::FailedPrecondition), "USER_NOT_ACTIVE");
    let directory = p.api.reset_partner_user_mfa(user_ref(ADMIN, "dana")).await;
    assert_eq!(reason(directory, Code::InvalidArgument), "FIELD_INVALID");
    p.user("pat", &[]).await;
    let not_admin = p.api.reset_partner_user_mfa(user_ref("pat", "pat")).await;
    assert_eq!(
        reason(not_admin, Code::PermissionDenied),
        "partner_administrators_only"
    );
    p.api
        .reset_partner_user_mfa(user_ref(ADMIN, "pat"))
        .await
        .unwrap();
}
