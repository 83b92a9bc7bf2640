//! The `authzd` binary; everything lives in the library.

/// The heap is mimalloc's: it backs its memory with transparent huge pages by itself
/// (where the kernel's setting is `madvise` or `always`), so that a check's random reads
/// over a snapshot of hundreds of megabytes rarely miss the TLB, with nothing for the
/// operator to set (the start-up load alone runs on ordinary pages, see
/// `app/huge_pages.rs`). Measured against glibc's malloc with and without its `hugetlb`
/// tunable and jemalloc with and without THP: docs/benchmarks.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    authzd::cli::main()
}
