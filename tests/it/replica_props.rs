//! Property test of replicas writing at once: three replicas (the real app, each with its
//! own writer, snapshot and connections) on one real PostgreSQL database take random
//! changes concurrently. Whatever the interleaving, what they commit must be a serial
//! history: revisions gap-free, each accepted change valid on the state the changes
//! before it leave (replayed into a fresh engine and into the naive reference model), and
//! every replica's state equal to that replay, answering checks as the reference does.

use std::sync::Arc;

use authzd::{
    app::{App, ChangeMeta, ManualClock, StoreOptions},
    engine::{Mutation, Revision, Snapshot},
    store::{
        Store,
        postgres::{DatabaseTls, SharedDatabase},
    },
};
use proptest::{prelude::*, test_runner::TestRunner};

use crate::{
    engine_props::{NOW, Op, compare, fingerprint, op, setup, to_mutation},
    reference::Reference,
    support::postgres::PgServer,
};

/// Replicas writing at once.
const REPLICAS: usize = 3;

/// Empties the database: the next replica to open it migrates it afresh.
async fn reset(url: &str) {
    let client = authzd::store::postgres::connect(url, &DatabaseTls::default())
        .await
        .unwrap();
    client
        .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .await
        .unwrap();
}

fn open_replica(url: &str) -> App {
    let database = SharedDatabase::open(url, &DatabaseTls::default()).unwrap();
    App::open_store(
        Store::Postgres(database),
        Arc::new(ManualClock::new(NOW)),
        StoreOptions::default(),
    )
    .unwrap()
}

/// Submits `ops` one after another to `replica`; the revision of each accepted one.
async fn submit_all(replica: App, ops: Vec<Mutation>) -> Vec<(Revision, Mutation)> {
    let mut accepted = Vec::new();
    for mutation in ops {
        if let Ok(revision) = replica
            .submit(mutation.clone(), ChangeMeta::default())
            .await
        {
            accepted.push((revision, mutation));
        }
    }
    accepted
}

fn serial_history(url: &str, ops: &[Op], probes: &[u8]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(reset(url));
    let replicas: Vec<App> = (0..REPLICAS).map(|_| open_replica(url)).collect();
    let setup = setup();
    let mut revision = Revision::new(0);
    for mutation in &setup {
        revision = runtime
            .block_on(replicas[0].submit(mutation.clone(), ChangeMeta::default()))
            .unwrap();
    }
    // Replica n takes every REPLICAS-th change, in order; the replicas run at once.
    let mut streams = vec![Vec::new(); REPLICAS];
    for (n, op) in ops.iter().enumerate() {
        streams[n % REPLICAS].push(to_mutation(op));
    }
    let accepted = runtime.block_on(async {
        let tasks: Vec<_> = replicas
            .iter()
            .zip(streams)
            .map(|(replica, ops)| tokio::spawn(submit_all(replica.clone(), ops)))
            .collect();
        let mut accepted = Vec::new();
        for task in tasks {
            accepted.extend(task.await.unwrap());
        }
        accepted
    });
    let mut accepted = accepted;
    accepted.sort_by_key(|(revision, _)| *revision);
    let newest = Revision::new(revision.get() + accepted.len() as u64);
    // Gap-free and never given twice: the accepted changes are exactly the revisions after
    // the setup.
    let revisions: Vec<u64> = accepted.iter().map(|(r, _)| r.get()).collect();
    prop_assert_eq!(
        revisions,
        (revision.get() + 1..=newest.get()).collect::<Vec<_>>()
    );
    // A serial history: each accepted change applies to the state the earlier ones leave.
    let mut replayed = Snapshot::empty();
    let mut reference = Reference::default();
    for mutation in &setup {
        replayed = replayed
            .apply(replayed.revision().next(), mutation, NOW)
            .unwrap();
        reference.apply(mutation);
    }
    for (at, mutation) in &accepted {
        match replayed.apply(*at, mutation, NOW) {
            Ok(next) => replayed = next,
            Err(err) => {
                return Err(TestCaseError::fail(format!(
                    "revision {at} was accepted by a replica but does not apply after the ones before it: {err}"
                )));
            }
        }
        reference.apply(mutation);
    }
    let expected = fingerprint(&replayed);
    for replica in &replicas {
        let state = runtime
            .block_on(replica.snapshot_at_least(newest, std::time::Duration::from_secs(10)))
            .unwrap();
        prop_assert_eq!(state.revision(), newest);
        prop_assert_eq!(fingerprint(&state), expected.clone());
    }
    for probe in probes {
        compare(&replicas[0].snapshot(), &reference, probe % 2, probe / 2);
    }
    for replica in replicas {
        replica.close();
    }
    Ok(())
}

#[test]
fn replicas_writing_at_once_commit_a_serial_history() {
    let pg = PgServer::start();
    let url = pg.url();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::collection::vec(op(), 1..45),
        proptest::collection::vec(any::<u8>(), 8),
    );
    runner
        .run(&strategy, |(ops, probes)| {
            serial_history(&url, &ops, &probes)
        })
        .unwrap();
}
