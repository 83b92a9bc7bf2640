//! Durable writes at scale while checkpoints are written (issue #23, point 5):
//! `AUTHZD_LOAD_SCALE=3 AUTHZD_LOAD_SECS=20 cargo bench --bench load -- writes`.
//!
//! The release server serves the dataset (a checkpoint, as after an import) with its default
//! settings, so that a checkpoint of the whole state is written every 10,000 changes while
//! the writers run. One writer, then 64, rename users through `UserService/UpdateUser`
//! (each answer checked); every call is timed. The table has the rates, the tail, the
//! slowest write, the writes slower than 50 ms, and the checkpoints written and their time
//! (the server's own metrics), with the ratio of 64 writers to one.
//! `AUTHZD_LOAD_SERVER_ARGS` passes more flags to the server (for example
//! `--checkpoint-every 10000000`, to see the writes without checkpoints).

use authzd::{dataset::Dataset, metrics::names};

use crate::{
    Measured, SLOW_MICROS, Settings, Shape, Workloads, client, micros, servers::Child, thousands,
};

/// Writers of each cell.
const WRITERS: [usize; 2] = [1, 64];

/// One cell: what the writers measured and the checkpoints written meanwhile.
struct Cell {
    writers: usize,
    measured: Measured,
    checkpoints: f64,
    checkpoint_seconds: f64,
}

pub(crate) fn run(
    settings: &Settings,
    dataset: &Dataset,
    work: &Workloads,
    data_dir: &std::path::Path,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let extra: Vec<String> = std::env::var("AUTHZD_LOAD_SERVER_ARGS")
        .map(|args| args.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut authzd = Child::authzd_with(data_dir, settings.server_cpu(), &extra);
    let facts = dataset.stats.grants + dataset.stats.memberships;
    let count = format!("{}_count", names::CHECKPOINT_DURATION);
    let sum = format!("{}_sum", names::CHECKPOINT_DURATION);
    let cells: Vec<Cell> = runtime.block_on(async {
        let channels = client::connect(authzd.addr, 4).await;
        let mut cells = Vec::new();
        for writers in WRITERS {
            let (checkpoints, seconds) = (authzd.metric(&count), authzd.metric(&sum));
            let measured = client::drive(
                &channels,
                Shape::new(writers),
                &work.writes,
                settings.warm_up,
                settings.measure,
                1,
            )
            .await;
            cells.push(Cell {
                writers,
                measured,
                checkpoints: authzd.metric(&count) - checkpoints,
                checkpoint_seconds: authzd.metric(&sum) - seconds,
            });
            authzd.assert_running();
        }
        cells
    });
    println!(
        "## durable writes while checkpoints are written{}\n",
        if settings.smoke { " (smoke)" } else { "" }
    );
    println!(
        "- dataset: {} tenants, {} grants+memberships, {} objects; server flags: {}; {:.1} s \
         per cell after {:.1} s of warm-up; {}\n",
        dataset.stats.tenants,
        thousands(facts as f64),
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
        "| writers | writes/s | p50 | p99 | p99.9 | slowest | over {} ms | checkpoints (time) | ×1 writer |",
        SLOW_MICROS / 1000
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let single = cells[0].measured.rate;
    for cell in &cells {
        let m = &cell.measured;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} of {} | {} ({:.2} s) | {:.2}× |",
            cell.writers,
            thousands(m.rate),
            micros(m.p50),
            micros(m.p99),
            micros(m.p999),
            micros(m.max),
            m.slow,
            thousands(m.calls as f64),
            cell.checkpoints,
            cell.checkpoint_seconds,
            m.rate / single
        );
    }
    drop(authzd);
}
