//! Facts about a running process, read from `/proc` (Linux).

/// The resident memory of `pid` in KiB (`VmRSS` in `/proc/PID/status`); `None` where that
/// cannot be read (other systems, or a process that has ended). The dashboard's session
/// info, and the tests' and benchmark's memory figures, use it.
pub fn resident_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// The KiB figure `field` of `/proc/PID/status` (`VmRSS`, `RssAnon`…); `None` where
/// that cannot be read.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_of_this_process_is_read_and_of_no_process_is_none() {
        assert!(super::resident_kib(std::process::id()).is_some_and(|kb| kb > 0));
        assert!(super::status_kib(std::process::id(), "RssAnon").is_some_and(|kb| kb > 0));
        assert_eq!(super::resident_kib(u32::MAX), None);
    }
}
