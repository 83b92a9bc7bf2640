//! Backing the heap with transparent huge pages.
//!
//! A check reads a few words from anywhere in a snapshot of hundreds of megabytes, so
//! nearly every read misses the TLB as well as the caches; with 2 MiB pages the whole
//! snapshot needs a few hundred translations instead of a few hundred thousand. glibc takes
//! the setting (`glibc.malloc.hugetlb=1`: it asks the kernel for huge pages for what it
//! maps) only from `GLIBC_TUNABLES` at start-up, so the process starts itself again, once,
//! with it set. The kernel must allow transparent huge pages (`madvise` or `always`).

/// Set to `off` to keep the heap on ordinary pages.
pub const OPT_OUT_ENV: &str = "AUTHZD_HUGE_PAGES";

/// The glibc tunable that backs malloc's memory with transparent huge pages.
const TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// Where the kernel says whether transparent huge pages may be used.
const THP_SETTING: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Whether this process's heap is set up for huge pages.
pub fn enabled() -> bool {
    std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains(TUNABLE))
}

/// Replaces the process with itself started again with the tunable set, unless it is set
/// already, opted out of ([`OPT_OUT_ENV`]), or of no use here (not glibc on Linux, or the
/// kernel's transparent huge pages off). Returns only when it does not restart: `Some`
/// with the reason when the restart failed.
pub fn restart_on_huge_pages() -> Option<std::io::Error> {
    if enabled()
        || std::env::var_os(OPT_OUT_ENV).is_some_and(|value| value == "off")
        || !kernel_allows()
    {
        return None;
    }
    #[cfg(unix)]
    return Some(restart_with_tunable());
    #[cfg(not(unix))]
    return None;
}

fn kernel_allows() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
        && std::fs::read_to_string(THP_SETTING).is_ok_and(|setting| !setting.contains("[never]"))
}

/// Replaces the process with itself, the tunable added; returns only if that failed.
#[cfg(unix)]
fn restart_with_tunable() -> std::io::Error {
    use std::os::unix::process::CommandExt as _;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return err,
    };
    let tunables = match std::env::var("GLIBC_TUNABLES") {
        Ok(others) if !others.is_empty() => format!("{others}:{TUNABLE}"),
        _ => TUNABLE.to_owned(),
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    // The process id stays the same.
    command.args(args).env("GLIBC_TUNABLES", tunables).exec()
}
