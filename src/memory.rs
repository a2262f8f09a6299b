//! Keeping the server's resident memory close to what it really holds.
//!
//! Why: glibc's malloc gives threads their own arenas (up to eight per core) and hands
//! memory freed inside a heap back to the kernel only when asked. At 1,500 calls that
//! showed as ~8 KB of RSS per call from spread arenas, and as SIP transactions' memory
//! still resident long after they ended (rsipstack keeps an answered INVITE's transactions
//! for 64×T1 = 32 s, so a burst of calls leaves a hole the size of its transactions). Two
//! measures: at most `ARENAS` arenas, and a `malloc_trim` every `TRIM_EVERY` from a thread
//! of its own (the media path never allocates, so the arena locks it takes stall nothing
//! that carries audio).
//!
//! Limits: glibc on Linux only; elsewhere both calls do nothing.

use std::time::Duration;

/// Arenas malloc may use; the media workers never allocate per packet, so contention on
/// them is the SIP side's only, and small.
pub const ARENAS: i32 = 2;
/// How often freed memory is returned to the kernel.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Caps malloc's arenas; call before any thread is started.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other
    // threads exist, as glibc asks for M_ARENA_MAX.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Starts the thread that returns freed memory to the kernel every `every`.
pub fn start_trimming(every: Duration) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("memory-trim".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                let started = std::time::Instant::now();
                let released = trim();
                tracing::debug!(released, took = ?started.elapsed(), "memory trimmed");
            }
        })
        .map(|_| ())
}

/// Returns free heap pages to the kernel; whether any were.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe; it only releases pages malloc holds free.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn freed_memory_inside_the_heap_goes_back_to_the_kernel() {
        // Many small blocks, all written, then every other one kept: the freed ones sit
        // between live ones, where free() alone never returns them.
        let mut blocks: Vec<Vec<u8>> = (0..5_000).map(|_| vec![1u8; 16 * 1024]).collect();
        let mut kept = Vec::new();
        for (i, b) in blocks.drain(..).enumerate() {
            if i % 2 == 0 {
                kept.push(b);
            }
        }
        let before = rss_kb();
        assert!(trim(), "pages were free to release");
        let after = rss_kb();
        // 40 MB were freed in 16 KB holes, each holding at least three whole pages.
        assert!(
            before.saturating_sub(after) > 20_000,
            "RSS before {before} KB, after {after} KB"
        );
        assert_eq!(kept.len(), 2_500);
        assert!(
            kept.iter().all(|b| b[16 * 1024 - 1] == 1),
            "live memory untouched"
        );
    }
}
