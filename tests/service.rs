//! The daemon under a service manager: readiness, watchdog, clean stop.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// Reads notify datagrams until one satisfies `want`, or fails after a
/// generous deadline (a stuck daemon must fail the test, not hang it).
pub(crate) fn wait_for(
    socket: &UnixDatagram,
    seen: &mut Vec<String>,
    want: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buffer = [0u8; 4096];
    while !want(seen) {
        assert!(
            Instant::now() < deadline,
            "timed out; notify messages so far: {seen:?}"
        );
        if let Ok(len) = socket.recv(&mut buffer) {
            seen.push(String::from_utf8_lossy(&buffer[..len]).into_owned());
        }
    }
}

pub(crate) fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn the_daemon_notifies_ready_feeds_the_watchdog_survives_a_bad_reload_and_stops_on_sigterm() {
    let fixture = util::standard(jiff::Timestamp::now());
    let socket_path = fixture.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");

    let mut child = Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["run", "--config", "dutywatch.toml"])
        .current_dir(fixture.dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        // A 400 ms watchdog: the loop must ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env("DUTYWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    // Drained as it comes: the fixture's CRM leaves most objectives unowned,
    // and a full pipe would block the daemon's logging, and with it the loop.
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        use std::io::Read as _;
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });

    let mut seen = Vec::new();
    wait_for(&socket, &mut seen, |m| {
        m.iter().any(|s| s.contains("READY=1"))
    });
    let ready = seen
        .iter()
        .position(|s| s.contains("READY=1"))
        .expect("ready");
    wait_for(&socket, &mut seen, |m| {
        m[ready..]
            .iter()
            .filter(|s| s.contains("WATCHDOG=1"))
            .count()
            >= 3
    });
    assert!(
        seen.iter().any(|s| s.starts_with("STATUS=last cycle")),
        "the first cycle reports its summary: {seen:?}"
    );

    // SIGHUP with a broken config: reported, and the daemon keeps running
    // on the old one (RELOADING=1, then READY=1 again, the watchdog fed).
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good.replace("every = \"90d\"", "every = \"soon\""),
    );
    signal(&child, "-HUP");
    wait_for(&socket, &mut seen, |m| {
        m.iter().any(|s| s.contains("RELOADING=1"))
    });
    let reloading = seen
        .iter()
        .position(|s| s.contains("RELOADING=1"))
        .expect("reloading");
    wait_for(&socket, &mut seen, |m| {
        m[reloading..].iter().any(|s| s.contains("READY=1"))
    });
    wait_for(&socket, &mut seen, |m| {
        m[reloading..]
            .iter()
            .filter(|s| s.contains("WATCHDOG=1"))
            .count()
            >= 2
    });
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "a bad reload must not stop the daemon"
    );

    // SIGHUP with 100,000 nested `[` in a check (once a stack overflow that
    // killed the daemon): refused, and the daemon keeps running.
    fixture.write(
        "dutywatch.toml",
        &good.replace(
            "check = \"mfa_registered == true\"",
            &crate::cli::deeply_nested_check(),
        ),
    );
    let deep = seen.len();
    signal(&child, "-HUP");
    wait_for(&socket, &mut seen, |m| {
        m[deep..].iter().any(|s| s.contains("RELOADING=1"))
    });
    wait_for(&socket, &mut seen, |m| {
        let Some(reloading) = m[deep..].iter().position(|s| s.contains("RELOADING=1")) else {
            return false;
        };
        m[deep + reloading..]
            .iter()
            .filter(|s| s.contains("WATCHDOG=1") || s.contains("READY=1"))
            .count()
            >= 3
    });
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "a deeply nested config must not kill the daemon"
    );

    // A good config whose CRM gained a row it must set aside: the reload
    // takes it and says which row, as start-up does.
    fixture.write("dutywatch.toml", &good);
    fixture.write(
        "crm.csv",
        &format!(
            "{}3.99.1,msp,,Does a thing,msp,Monthly report,,\n",
            util::CRM
        ),
    );
    let reloads = seen.len();
    signal(&child, "-HUP");
    wait_for(&socket, &mut seen, |m| {
        m[reloads..].iter().any(|s| s.contains("RELOADING=1"))
    });
    wait_for(&socket, &mut seen, |m| {
        m[reloads..].iter().any(|s| s.contains("READY=1"))
    });

    signal(&child, "-TERM");
    wait_for(&socket, &mut seen, |m| {
        m.iter().any(|s| s.contains("STOPPING=1"))
    });
    let exit = child.wait().expect("the daemon exits");
    let stderr = stderr_reader.join().expect("the stderr reader");
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(
        stderr.contains("ConfigReloadRejected"),
        "the rejected reload is logged: {stderr}"
    );
    assert!(stderr.contains("`soon` is not a cadence"), "{stderr}");
    assert!(stderr.contains("lists cannot be nested"), "{stderr}");
    assert!(
        !stderr.contains(&"[".repeat(100)),
        "the log quotes a short excerpt, not the whole expression"
    );
    assert!(
        stderr.contains("CrmProblem") && stderr.contains("3.99.1"),
        "the reloaded CRM's problem is logged: {stderr}"
    );
    assert!(fixture.path("state/dutywatch.db").exists());
}
