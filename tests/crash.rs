//! Crash safety: a child process appends in a loop and records every acknowledged append;
//! the parent kills it with SIGKILL at random moments, reopens the log and checks that every
//! acknowledged event is there, byte for byte, with gapless positions and a valid chain.
//!
//! The child is this same test binary, re-run with an environment variable that turns
//! `crash_child_appender` into the appending loop.

mod support;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credledger::ledger::{EventStore, ExpectedVersion, Position, SledStore};
use rand::{Rng, RngCore, SeedableRng};
use support::{event, request};

const CHILD_DIR: &str = "CREDLEDGER_CRASH_CHILD_DIR";
const CHILD_ACKS: &str = "CREDLEDGER_CRASH_CHILD_ACKS";
const ROUNDS: usize = 24;
const CHILD_TASKS: usize = 8;

/// In the child: append forever from several tasks, logging each acknowledged append.
#[test]
fn crash_child_appender() {
    let (Ok(dir), Ok(acks)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ACKS)) else {
        return; // Not the child: nothing to do.
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = SledStore::open(&dir).expect("child opens the log");
        let log = Arc::new(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&acks)
                .expect("ack file"),
        ));
        let mut tasks = Vec::new();
        for task in 0..CHILD_TASKS {
            let store = store.clone();
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::from_entropy();
                loop {
                    let mut payload = vec![0u8; rng.gen_range(1..300)];
                    rng.fill_bytes(&mut payload);
                    let new_event = event("crash.appended", &payload);
                    let id = new_event.event_id;
                    let outcome = store
                        .append(request(
                            &format!("crash-{task}"),
                            ExpectedVersion::Any,
                            vec![new_event],
                        ))
                        .await
                        .expect("append");
                    // Acknowledged: record it in one write, so a kill leaves whole lines only.
                    let line = format!(
                        "{} {} {}\n",
                        outcome.first_position.0,
                        id.0,
                        hex::encode(&payload)
                    );
                    log.lock()
                        .expect("ack log lock")
                        .write_all(line.as_bytes())
                        .expect("ack write");
                }
            }));
        }
        for task in tasks {
            task.await.expect("appender");
        }
    });
}

/// An acknowledged append as the child recorded it.
struct Ack {
    event_id: String,
    payload: Vec<u8>,
}

fn read_acks(path: &Path) -> BTreeMap<u64, Ack> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut acks = BTreeMap::new();
    // Only complete lines count: a kill may cut the last one.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for line in complete.lines() {
        let mut parts = line.split(' ');
        let position: u64 = parts.next().and_then(|p| p.parse().ok()).expect("position");
        let event_id = parts.next().expect("event id").to_owned();
        let payload = hex::decode(parts.next().expect("payload")).expect("hex payload");
        let previous = acks.insert(position, Ack { event_id, payload });
        assert!(previous.is_none(), "position {position} acknowledged twice");
    }
    acks
}

fn ack_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn spawn_child(data: &Path, acks: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "crash_child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, data)
        .env(CHILD_ACKS, acks)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn check_log(
    runtime: &tokio::runtime::Runtime,
    data: &PathBuf,
    acks: &BTreeMap<u64, Ack>,
    round: usize,
) {
    runtime.block_on(async {
        let store = SledStore::open(data).expect("reopen after kill");
        let head = store.head().position;
        let max_acked = acks.keys().next_back().copied().unwrap_or(0);
        assert!(
            head >= max_acked,
            "round {round}: head {head} lost acknowledged {max_acked}"
        );
        // read_all fails on any gap, so this also proves positions are gapless.
        let all = store
            .read_all(Position::FIRST, usize::MAX)
            .await
            .expect("read back every position");
        assert_eq!(
            all.len() as u64,
            head,
            "round {round}: gapless positions 1..={head}"
        );
        for (position, ack) in acks {
            let envelope = &all[(*position - 1) as usize];
            assert_eq!(
                envelope.body.event_id.0.to_string(),
                ack.event_id,
                "round {round}: id at {position}"
            );
            assert_eq!(
                envelope.body.payload, ack.payload,
                "round {round}: bytes at {position}"
            );
        }
        let summary = store
            .verify()
            .expect("walk the log")
            .unwrap_or_else(|broken| panic!("round {round}: {broken}"));
        assert_eq!(summary.events, head);
        store.close().await.expect("close");
    });
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if std::env::var(CHILD_DIR).is_ok() {
        return; // Inside a child run.
    }
    let dir = tempfile::TempDir::new().expect("temp dir");
    let data = dir.path().join("data");
    let acks_path = dir.path().join("acks.log");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut rng = rand::thread_rng();
    for round in 0..ROUNDS {
        let before = ack_lines(&acks_path);
        let mut child = spawn_child(&data, &acks_path);
        // Wait until this child has acknowledged something, then kill it at a random moment.
        let deadline = Instant::now() + Duration::from_secs(60);
        while ack_lines(&acks_path) <= before {
            if let Some(status) = child.try_wait().expect("poll child") {
                panic!("round {round}: child exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: child acknowledged nothing"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap child");
        let acks = read_acks(&acks_path);
        check_log(&runtime, &data, &acks, round);
    }
    let acks = read_acks(&acks_path);
    assert!(
        acks.len() > ROUNDS,
        "the child acknowledged appends in every round"
    );
    // The kills landed among moves of full blocks to the archive file too: blocks were
    // archived, and every check above read them back.
    let db = credledger::ledger::open_db(&data).expect("open the log");
    let state = db
        .open_tree("archive_index")
        .expect("archive index")
        .get("state")
        .expect("read the archive state")
        .expect("blocks were archived");
    let archived = u64::from_be_bytes(state[..8].try_into().expect("8 bytes"));
    assert!(
        archived * 16 * 4 > acks.len() as u64,
        "{archived} blocks archived of {} acknowledged events",
        acks.len()
    );
}
