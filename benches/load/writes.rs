//! Durable writes at scale while checkpoints are written (issue #23, point 5):
//! `AUTHZD_LOAD_SCALE=3 AUTHZD_LOAD_SECS=20 cargo bench --bench load -- writes`.
//!
//! The release server serves the dataset (a checkpoint, as after an import) with its default
//! settings, so that a checkpoint of the whole state is written every 10,000 changes while
//! the writers run. Every call is timed and its answer checked:
//!
//! - renames (`UserService/UpdateUser`) by one writer, then by 64;
//! - a bulk load: 64 writers inviting new users with access to a service
//!   (`UserService/InviteUser` with a request id), once on a server holding a tenth of the
//!   dataset's tenants and once on the whole dataset, for the ratio of the two rates;
//! - the server's resident memory after all that, against the same server restarted on
//!   the same directory.
//!
//! The table has the rates, the tail, the slowest write, the writes slower than 50 ms, and
//! the checkpoints written and their time (the server's own metrics).
//! `AUTHZD_LOAD_SERVER_ARGS` passes more flags to the servers (for example
//! `--checkpoint-every 10000000`, to see the writes without checkpoints).

use std::{path::Path, sync::Arc, time::Instant};

use authzd::{
    dataset::{Dataset, DatasetSpec},
    metrics::names,
};

use crate::{
    Measured, SLOW_MICROS, Settings, Shape, Workloads, client, micros, servers, servers::Child,
    thousands,
};

/// Writers of the concurrent cells.
const WRITERS: usize = 64;

/// One row: what the writers measured and the checkpoints written meanwhile.
struct Row {
    what: String,
    measured: Measured,
    checkpoints: f64,
    checkpoint_seconds: f64,
    /// The rate against the row's baseline, and what that is.
    ratio: (f64, &'static str),
}

pub(crate) fn run(
    settings: &Settings,
    spec: &DatasetSpec,
    dataset: &Dataset,
    work: &Workloads,
    data_dir: &Path,
    scratch: &Path,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let extra: Vec<String> = std::env::var("AUTHZD_LOAD_SERVER_ARGS")
        .map(|args| args.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let facts = |dataset: &Dataset| dataset.stats.grants + dataset.stats.memberships;

    // A tenth of the tenants, for the bulk load's rate on a smaller state.
    let tenth = Dataset::generate(&DatasetSpec {
        scale: 1,
        tenants: (spec.tenants * spec.scale / 10).max(1),
        ..*spec
    });
    let tenth_dir = scratch.join("tenth");
    drop(servers::prepare_data_dir(&tenth, &tenth_dir));
    let small = Child::authzd_with(&tenth_dir, settings.server_cpu(), &extra);
    let tenth_bulk = runtime.block_on(measure(
        &small,
        settings,
        &invitations(&tenth),
        WRITERS,
        format!(
            "{WRITERS} writers inviting new users, on a tenth of the state ({} grants+memberships)",
            thousands(facts(&tenth) as f64)
        ),
    ));
    drop(small);
    let tenth_bulk = Row {
        ratio: (1.0, "a tenth"),
        ..tenth_bulk
    };

    let mut authzd = Child::authzd_with(data_dir, settings.server_cpu(), &extra);
    let mut rows = Vec::new();
    runtime.block_on(async {
        for writers in [1, WRITERS] {
            let mut row = measure(
                &authzd,
                settings,
                &work.writes,
                writers,
                format!(
                    "{writers} writer{} renaming users",
                    if writers == 1 { "" } else { "s" }
                ),
            )
            .await;
            row.ratio = (
                rows.first()
                    .map_or(1.0, |single: &Row| row.measured.rate / single.measured.rate),
                "1 writer",
            );
            rows.push(row);
            authzd.assert_running();
        }
        let mut bulk = measure(
            &authzd,
            settings,
            &invitations(dataset),
            WRITERS,
            format!(
                "{WRITERS} writers inviting new users, on the whole state ({} grants+memberships)",
                thousands(facts(dataset) as f64)
            ),
        )
        .await;
        bulk.ratio = (bulk.measured.rate / tenth_bulk.measured.rate, "a tenth");
        rows.push(tenth_bulk);
        rows.push(bulk);
        authzd.assert_running();
    });
    let loaded_resident = authzd.resident();
    drop(authzd);
    let started = Instant::now();
    let restarted = Child::authzd_with(data_dir, settings.server_cpu(), &extra);
    let served_after = started.elapsed();
    let restarted_resident = restarted.resident();
    drop(restarted);

    println!(
        "## durable writes while checkpoints are written{}\n",
        if settings.smoke { " (smoke)" } else { "" }
    );
    println!(
        "- dataset: {} tenants, {} grants+memberships, {} objects; server flags: {}; {:.1} s \
         per cell after {:.1} s of warm-up; {}\n",
        dataset.stats.tenants,
        thousands(facts(dataset) as f64),
        thousands(dataset.stats.objects as f64),
        if extra.is_empty() {
            "the defaults (a checkpoint every 10,000 changes)".to_owned()
        } else {
            extra.join(" ")
        },
        settings.measure.as_secs_f64(),
        settings.warm_up.as_secs_f64(),
        match settings.pinned {
            Some((server, load)) => format!("server on CPU {server}, writers on CPU {load}"),
            None => "nothing pinned".to_owned(),
        }
    );
    println!(
        "| writes | writes/s | p50 | p99 | p99.9 | slowest | over {} ms | checkpoints (time) | ratio |",
        SLOW_MICROS / 1000
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let m = &row.measured;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} of {} | {} ({:.2} s) | {:.2}× {} |",
            row.what,
            thousands(m.rate),
            micros(m.p50),
            micros(m.p99),
            micros(m.p999),
            micros(m.max),
            m.slow,
            thousands(m.calls as f64),
            row.checkpoints,
            row.checkpoint_seconds,
            row.ratio.0,
            row.ratio.1
        );
    }
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    println!(
        "\nResident memory after these writes: {:.1} MiB; the same server restarted on the same \
         directory: {:.1} MiB, serving after {:.2} s; after the writes against restarted: {:.2}×",
        mib(loaded_resident),
        mib(restarted_resident),
        served_after.as_secs_f64(),
        loaded_resident as f64 / restarted_resident.max(1) as f64
    );
}

/// New users invited into every tenant of `dataset`, with access to its first service.
fn invitations(dataset: &Dataset) -> client::Call {
    let tenants = dataset
        .tenants
        .iter()
        .map(|t| t.tenant.to_string())
        .collect();
    client::invitations(Arc::new(tenants), dataset.services[0].to_string())
}

/// `writers` writers sending `call` to `server`, with the checkpoints it wrote meanwhile.
async fn measure(
    server: &Child,
    settings: &Settings,
    call: &client::Call,
    writers: usize,
    what: String,
) -> Row {
    let shape = Shape::new(writers);
    let count = format!("{}_count", names::CHECKPOINT_DURATION);
    let sum = format!("{}_sum", names::CHECKPOINT_DURATION);
    let (checkpoints, seconds) = (server.metric(&count), server.metric(&sum));
    let channels = client::connect(server.addr, shape.connections).await;
    let measured = client::drive(
        &channels,
        shape,
        call,
        settings.warm_up,
        settings.measure,
        1,
    )
    .await;
    Row {
        what,
        measured,
        checkpoints: server.metric(&count) - checkpoints,
        checkpoint_seconds: server.metric(&sum) - seconds,
        ratio: (1.0, ""),
    }
}
