//! `cargo run --example fake-tenant [FIRST_PORT]`: a fake tenant on loopback for
//! `config/tenant/dutywatch.toml`, so dutywatch can be seen pulling from Microsoft Graph,
//! Azure Resource Manager, NinjaOne, Splunk and Elastic without any of them. The servers are
//! the integration tests' own fakes (`tests/util`), included here rather than copied; the
//! tenant's data is `tests/util/fake_tenant.rs`, dated from the moment it starts. Runs until
//! Ctrl-C.

// The fakes carry helpers only the tests use.
#[allow(dead_code)]
#[path = "../tests/util/arm_server.rs"]
mod arm_server;
#[allow(dead_code)]
#[path = "../tests/util/elastic_server.rs"]
mod elastic_server;
#[allow(dead_code)]
#[path = "../tests/util/fake_http.rs"]
mod fake_http;
#[allow(dead_code)]
#[path = "../tests/util/fake_tenant.rs"]
mod fake_tenant;
#[allow(dead_code)]
#[path = "../tests/util/graph_server.rs"]
mod graph_server;
#[allow(dead_code)]
#[path = "../tests/util/ninjaone_server.rs"]
mod ninjaone_server;
#[allow(dead_code)]
#[path = "../tests/util/splunk_server.rs"]
mod splunk_server;

use std::process::ExitCode;

use fake_tenant::Ports;

fn main() -> ExitCode {
    let first = match std::env::args().nth(1) {
        None => Ports::DEFAULT_BASE,
        Some(text) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(_) => {
                eprintln!(
                    "fake-tenant: `{text}` is not a port; run it without arguments for {} to {}, or give the first of five ports (e.g. 48100)",
                    Ports::DEFAULT_BASE,
                    Ports::DEFAULT_BASE + 4
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let Some(ports) = Ports::from_base(first).filter(|_| first != 0) else {
        eprintln!("fake-tenant: the five ports from {first} do not fit; give a port below 65531");
        return ExitCode::FAILURE;
    };
    let tenant = match fake_tenant::start(ports, jiff::Timestamp::now()) {
        Ok(tenant) => tenant,
        Err(error) => {
            eprintln!("fake-tenant: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake tenant for config/tenant/dutywatch.toml, dated from now:");
    for (name, base) in tenant.bases() {
        println!("  {name:<24} {base}");
    }
    println!(
        "  Entra token endpoint     {}\n  Graph/ARM client id      {}\n  NinjaOne client id       {}\n  secret (all five APIs)   config/tenant/demo-secret",
        tenant.graph.token_url(),
        graph_server::CLIENT_ID,
        ninjaone_server::CLIENT_ID,
    );
    if first != Ports::DEFAULT_BASE {
        println!(
            "  (not the config's ports: change its 127.0.0.1:{}..{} URLs to match)",
            Ports::DEFAULT_BASE,
            Ports::DEFAULT_BASE + 4
        );
    }
    println!(
        "in another terminal: cargo run -- once --config config/tenant/dutywatch.toml\nCtrl-C stops it."
    );
    // The servers run on their own threads until the process is interrupted.
    loop {
        std::thread::park();
    }
}
