//! Killing what a child process started, found by parent pid.

use std::process::{Command, Stdio};

/// SIGKILLs every descendant of `pid`. `spin up` serves from a child
/// process (`spin trigger http`) that outlives a SIGKILLed parent, still
/// holding the port; a separate process group would also keep a Ctrl-C of
/// the test run from reaching them, so they are found by parent pid.
pub(crate) fn kill_descendants(pid: u32) {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    // Bounded: a process tree deeper than this is not ours.
    for _ in 0..8 {
        let children: Vec<u32> = parents.iter().flat_map(|parent| children_of(*parent)).collect();
        if children.is_empty() {
            break;
        }
        found.extend(&children);
        parents = children;
    }
    if !found.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(found.iter().map(u32::to_string))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The processes whose parent is `pid`, from /proc/*/stat.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|candidate| {
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let stat = std::fs::read_to_string(format!("/proc/{candidate}/stat")).unwrap_or_default();
            let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
            after_comm.split_whitespace().nth(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}
