//! `eventlog consume TOPIC --group G --follow` joins the group as a member: three of
//! them on a 6-partition topic get two partitions each, and when one is killed the
//! other two take its partitions over from its commits; `group describe` shows the
//! members and the generation, the metrics count members and rebalances, and a member
//! paused past its session timeout rejoins when it wakes.

use crate::common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BinaryServer, cli_ok as ok, run_cli};
use serde_json::Value;

/// A child process killed when dropped, so a failing test leaves no member running
/// (a member would otherwise keep trying to rejoin a server that is gone).
struct Member(Child);

impl Member {
    fn id(&self) -> u32 {
        self.0.id()
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `consume --group --follow` process writing its stdout to `out`.
fn member(url: &str, out: &Path) -> Member {
    let child = Command::new(env!("CARGO_BIN_EXE_eventlog"))
        .args(["consume", "work", "--group", "workers", "--follow"])
        .args(["--session-timeout", "2s"])
        .env("EVENTLOG_SERVER", url)
        .stdin(Stdio::null())
        .stdout(File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn consume");
    Member(child)
}

/// Sends a signal to a process with `kill`.
fn signal(which: &str, pid: &str) {
    let status = Command::new("kill")
        .args([which, pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Values printed so far by a text `consume` (last column), header skipped.
fn printed(out: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with("PARTITION"))
        .filter_map(|l| l.rsplit(' ').next())
        .map(str::to_string)
        .collect()
}

/// Polls `check` until it holds (a minute at most: a guard against hangs).
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Partitions per member in `group describe --format json`, when none is releasing.
fn assignment(url: &str) -> Option<Vec<usize>> {
    // NOT_FOUND until the first member has joined.
    let output = run_cli(url, &["group", "describe", "workers", "--format", "json"]);
    let value: Value = serde_json::from_slice(&output.stdout).ok()?;
    let members = value["members"].as_array()?;
    if members
        .iter()
        .any(|m| !m["revoking"].as_array().unwrap().is_empty())
    {
        return None;
    }
    let mut counts: Vec<usize> = members
        .iter()
        .map(|m| m["assigned"].as_array().unwrap().len())
        .collect();
    counts.sort();
    Some(counts)
}

fn produce_round(url: &str, tag: &str) -> Vec<String> {
    let mut values = Vec::new();
    for p in 0..6 {
        let value = format!("{tag}{p}");
        ok(
            url,
            &["produce", "work", "--partition", &p.to_string(), &value],
        );
        values.push(value);
    }
    values
}

/// A server serving metrics on a port of its own (retried if the port was taken).
fn start_with_metrics(data_dir: &Path) -> (BinaryServer, SocketAddr) {
    for _ in 0..5 {
        let metrics = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let args = ["--metrics-listen", &metrics.to_string()];
        if let Some(server) = BinaryServer::try_start_with(data_dir, &args, "info") {
            return (server, metrics);
        }
    }
    panic!("the server did not start with metrics");
}

/// The metrics text of `GET /metrics`.
fn scrape(metrics: SocketAddr) -> String {
    let mut stream = TcpStream::connect(metrics).expect("connect to the metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

/// The value of the sample line starting with `name_and_labels`.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name_and_labels} in {text}"))
}

#[test]
fn three_cli_members_share_the_partitions_and_survivors_take_over() {
    let dir = tempfile::tempdir().unwrap();
    let (server, metrics) = start_with_metrics(dir.path());
    let url = &server.url.clone();
    ok(url, &["topic", "create", "work", "--partitions", "6"]);
    let mut expected: BTreeSet<String> = produce_round(url, "a").into_iter().collect();
    let outs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("member{i}.out")))
        .collect();
    let mut members: Vec<Member> = outs.iter().map(|out| member(url, out)).collect();
    wait_for("three members with two partitions each", || {
        assignment(url) == Some(vec![2, 2, 2])
    });
    let union = |outs: &[std::path::PathBuf]| -> BTreeSet<String> {
        outs.iter().flat_map(|o| printed(o)).collect()
    };
    wait_for("the first round is printed", || {
        union(&outs).is_superset(&expected)
    });

    let scraped = scrape(metrics);
    assert!(
        scraped.contains("eventlog_group_members{group=\"workers\"} 3"),
        "{scraped}"
    );
    members.remove(0).kill();
    expected.extend(produce_round(url, "b"));
    wait_for("two members hold every partition", || {
        assignment(url) == Some(vec![3, 3])
    });
    wait_for("the survivors print the second round", || {
        union(&outs[1..]).is_superset(
            &expected
                .iter()
                .filter(|v| v.starts_with('b'))
                .cloned()
                .collect(),
        )
    });
    let scraped = scrape(metrics);
    assert!(
        scraped.contains("eventlog_group_members{group=\"workers\"} 2"),
        "{scraped}"
    );
    // Three joins and one departure, at least; each is a generation.
    let generation = sample(&scraped, "eventlog_group_generation{group=\"workers\"}");
    let rebalances = sample(
        &scraped,
        "eventlog_group_rebalances_total{group=\"workers\"}",
    );
    assert!(generation >= 4.0 && rebalances >= 4.0, "{scraped}");
    assert!(scraped.contains("eventlog_group_rebalance_duration_seconds_count{group=\"workers\"}"));
    let table = ok(url, &["group", "describe", "workers"]);
    assert!(table.contains("strategy sticky, 2 member(s)"), "{table}");

    // A member paused past its session timeout loses its partitions; woken up, its
    // client notices, joins again and gets its share back.
    let paused = members[0].id().to_string();
    signal("-STOP", &paused);
    wait_for("the other member holds every partition", || {
        assignment(url) == Some(vec![6])
    });
    signal("-CONT", &paused);
    wait_for("the woken member rejoined", || {
        assignment(url) == Some(vec![3, 3])
    });
    drop(members);
    server.stop();
}
