//! The start-up load on ordinary pages.
//!
//! The heap is mimalloc's, which asks for transparent huge pages (see `main.rs`). Loading a
//! large state touches its whole heap at once, and a fresh huge page can be far dearer to
//! get than 512 ordinary ones: on a virtual machine whose host has taken back the guest's
//! free memory, the 1.4 GB of a 1 M grants+memberships state took 6.4 s to load on huge
//! pages and 2.3 s on ordinary ones (4.6 s against 0.55 s in the kernel). Huge pages are
//! allowed again once the state is loaded: what is allocated afterwards gets them, and the
//! kernel's `khugepaged` folds the loaded heap into huge pages in the background.

/// Runs `load` with transparent huge pages off for the process (Linux; elsewhere it just
/// runs `load`), then restores the setting the process had.
pub(super) fn on_small_pages<T>(load: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{disable_transparent_huge_pages, transparent_huge_pages_are_disabled};
        // Already off (inherited from the parent): nothing to turn off, nor back on.
        if transparent_huge_pages_are_disabled().unwrap_or(true) {
            return load();
        }
        if let Err(err) = disable_transparent_huge_pages(true) {
            tracing::debug!(%err, "the state loads on the heap's usual pages");
            return load();
        }
        let loaded = load();
        if let Err(err) = disable_transparent_huge_pages(false) {
            tracing::warn!(%err, "transparent huge pages stay off after the start-up load");
        }
        loaded
    }
    #[cfg(not(target_os = "linux"))]
    load()
}
