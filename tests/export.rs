//! `dutywatch coverage` and `dutywatch export`: the report per objective and the assessor's
//! CSV package, at exact instants on the standard fixture and on the rendered demo.

use std::collections::BTreeMap;

use dutywatch::coverage::{self, Owner};
use dutywatch::export::{self, OBJECTIVE_COLUMNS};
use dutywatch_checks::verdict::StateKind;
use sha2::Digest as _;

use crate::util::{self, at, text};

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("csv opens");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn coverage_of_the_standard_fixture_at_an_exact_instant() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let config = fixture.load();
    let report = coverage::coverage(&config, engine.store(), None).expect("coverage");
    assert_eq!(report.clients.len(), 1);
    let acme = &report.clients[0];
    assert_eq!(acme.contractor, "acme");
    assert_eq!(
        acme.objectives.len(),
        320,
        "every objective, in catalog order"
    );
    let names: Vec<&str> = acme
        .objectives
        .iter()
        .map(|o| o.objective.as_str())
        .collect();
    let catalog: Vec<String> = dutywatch_checks::catalog::objectives()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(names, catalog);
    let get = |id: &str| {
        acme.objectives
            .iter()
            .find(|o| o.objective == id)
            .unwrap_or_else(|| panic!("{id}"))
    };

    // 3.1.1 is shared and watched by the access review, met until 2026-12-30 13:00 UTC:
    // signed off 2026-10-01 08:00 EDT, 90 calendar days in New York are 08:00 EST.
    let access = get("3.1.1[a]");
    assert_eq!(access.owner, Owner::Shared);
    assert_eq!(access.requirement, "3.1.1");
    assert_eq!(access.family, "AC");
    assert_eq!(access.contractor_does, "Approves access");
    assert_eq!(access.msp_does, "Administers accounts");
    assert_eq!(access.duties.len(), 1);
    let duty = &access.duties[0];
    assert_eq!(duty.duty, "access-review");
    assert_eq!(duty.state, StateKind::Met);
    assert_eq!(duty.due, Some(at("2026-12-30T13:00:00Z")));
    let newest = duty.newest_evidence.as_ref().expect("evidence behind it");
    assert!(
        newest.origin.ends_with("evidence/reviews.csv"),
        "{newest:?}"
    );
    assert_eq!(newest.effective_at, Some(now), "the file's mtime");
    assert!(access.met && !access.unwatched);

    // 3.5.3 is the MSP's, met; 3.2.1 the contractor's, with no manual evidence yet.
    let mfa = get("3.5.3[a]");
    assert_eq!(
        (mfa.owner, mfa.duties[0].state),
        (Owner::Msp, StateKind::Met)
    );
    let training = get("3.2.1[a]");
    assert_eq!(training.owner, Owner::Contractor);
    assert_eq!(training.duties[0].state, StateKind::NoEvidence);
    assert!(training.duties[0].newest_evidence.is_none());
    assert!(!training.met);

    // 3.14.1 is owned by the MSP and no duty watches it; 3.3.1 has no CRM row.
    let patches = get("3.14.1[a]");
    assert_eq!(patches.owner, Owner::Msp);
    assert!(patches.unwatched && patches.duties.is_empty() && !patches.met);
    let audit = get("3.3.1[a]");
    assert_eq!(audit.owner, Owner::Unowned);
    assert!(!audit.unwatched);

    let count = |requirement: &str| {
        acme.objectives
            .iter()
            .filter(|o| o.requirement == requirement)
            .count()
    };
    let (n311, n353, n321, n3141) = (
        count("3.1.1"),
        count("3.5.3"),
        count("3.2.1"),
        count("3.14.1"),
    );
    let overall = &acme.overall;
    assert_eq!(overall.objectives, 320);
    assert_eq!(overall.owned, n311 + n353 + n321 + n3141);
    assert_eq!(overall.unowned, 320 - overall.owned);
    assert_eq!(overall.watched, n311 + n353 + n321);
    assert_eq!(overall.met, n311 + n353);
    let ac = acme.families.iter().find(|f| f.scope == "AC").expect("AC");
    assert_eq!((ac.owned, ac.watched, ac.met), (n311, n311, n311));
    assert_eq!(acme.families.len(), 14);

    // The binary prints the same, and --json carries the report.
    let output = fixture.run(&["coverage", "--config", "dutywatch.toml", "--client", "acme"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("UNWATCHED"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "all  320 objectives: {:>3} owned, {:>3} watched, {:>3} met",
            overall.owned, overall.watched, overall.met
        )),
        "{stdout}"
    );
    let output = fixture.run(&["coverage", "--config", "dutywatch.toml", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        json["clients"][0]["objectives"].as_array().map(Vec::len),
        Some(320)
    );
    assert_eq!(json["clients"][0]["overall"]["met"], overall.met);
    let output = fixture.run(&[
        "coverage",
        "--config",
        "dutywatch.toml",
        "--client",
        "nobody",
    ]);
    assert!(!output.status.success());
}

#[test]
fn objectives_csv_round_trips_to_the_coverage_report() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let config = fixture.load();
    let out = fixture.path("package");
    let exported = export::export(&config, engine.store(), None, &out, now).expect("export");
    assert!(exported.chain_intact());

    let (header, rows) = read_csv(&out.join("objectives.csv"));
    assert_eq!(header, OBJECTIVE_COLUMNS);
    let report = coverage::coverage(&config, engine.store(), None).expect("coverage");
    assert_eq!(report, exported.coverage, "the export is the report");
    let mut expected = Vec::new();
    for client in &report.clients {
        for objective in &client.objectives {
            let lead = vec![
                client.contractor.clone(),
                objective.objective.clone(),
                objective.requirement.clone(),
                objective.family.clone(),
                objective.owner.to_string(),
                objective.contractor_does.clone(),
                objective.msp_does.clone(),
            ];
            let met = if objective.met { "yes" } else { "no" }.to_owned();
            if objective.duties.is_empty() {
                let mut row = lead.clone();
                row.extend(std::iter::repeat_n(String::new(), 8));
                row.push(met.clone());
                expected.push(row);
            }
            for duty in &objective.duties {
                let mut row = lead.clone();
                row.extend([
                    duty.duty.clone(),
                    duty.responsible.to_string(),
                    duty.state.to_string(),
                    duty.due.map(|d| d.to_string()).unwrap_or_default(),
                    coverage::local(duty.due, &config.timezone),
                    duty.reason.clone(),
                    duty.evidence
                        .iter()
                        .map(|e| format!("E{e}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    if duty.shows_implemented { "yes" } else { "no" }.to_owned(),
                    met.clone(),
                ]);
                expected.push(row);
            }
        }
    }
    assert_eq!(rows, expected);

    // Parsed back, the times are the report's instants.
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let access = rows
        .iter()
        .find(|r| r[column("objective")] == "3.1.1[a]")
        .expect("3.1.1[a]");
    assert_eq!(
        access[column("due")].parse::<jiff::Timestamp>().ok(),
        Some(at("2026-12-30T13:00:00Z"))
    );
    assert_eq!(access[column("due_local")], "2026-12-30 08:00:00 EST");
    assert_eq!(access[column("state")], "met");
    assert_eq!(access[column("duty_shows_implemented")], "yes");
    assert_eq!(access[column("objective_met")], "yes");
    let unwatched = rows
        .iter()
        .find(|r| r[column("objective")] == "3.14.1[a]")
        .expect("3.14.1[a]");
    assert_eq!(
        (
            unwatched[column("owner")].as_str(),
            unwatched[column("duty")].as_str()
        ),
        ("msp", "")
    );
    assert_eq!(
        unwatched[column("objective_met")],
        "no",
        "nothing watches it"
    );
    let objectives: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r[column("objective")].as_str())
        .collect();
    assert_eq!(objectives.len(), 320);
}

#[test]
fn the_export_of_the_standard_fixture_at_an_exact_instant() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    drop(engine);

    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "csv",
        "--out",
        "package",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let out = fixture.path("package");

    // Two evidence rows (reviews and MFA), collected and effective at `now`.
    let (header, rows) = read_csv(&out.join("evidence.csv"));
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_source: BTreeMap<&str, &Vec<String>> = rows
        .iter()
        .map(|r| (r[column("source")].as_str(), r))
        .collect();
    let reviews = by_source["reviews"];
    assert_eq!(reviews[column("client")], "acme");
    assert_eq!(reviews[column("fetched_at")], "2026-11-23T15:00:00Z");
    assert_eq!(reviews[column("effective_at")], "2026-11-23T15:00:00Z");
    assert_eq!(
        reviews[column("effective_at_local")],
        "2026-11-23 10:00:00 EST"
    );
    assert_eq!(reviews[column("integrity")], "ok");
    let sha = hex::encode(sha2::Sha256::digest(util::REVIEWS.as_bytes()));
    assert_eq!(reviews[column("sha256")], sha);

    let (header, artifacts) = read_csv(&out.join("artifacts.csv"));
    assert_eq!(header, ["file_name", "sha256", "evidence"]);
    let names: BTreeMap<&str, &str> = artifacts
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(names["reviews.csv"], sha);
    assert_eq!(
        names["mfa.json"],
        hex::encode(sha2::Sha256::digest(util::MFA_OK.as_bytes()))
    );

    let chain = std::fs::read_to_string(out.join("chain.txt")).expect("chain.txt");
    assert!(chain.starts_with("evidence chain intact\n"), "{chain}");
    assert!(chain.contains("rows: 2\nhead_id: E2\nhead: "), "{chain}");
    assert!(
        chain.contains(&format!("verified_at: {}", util::CLOCK)),
        "{chain}"
    );
    let readme = std::fs::read_to_string(out.join("README.txt")).expect("README.txt");
    assert!(
        readme.contains(&format!("Exported at {}", util::CLOCK)),
        "{readme}"
    );
    for file in export::FILES {
        assert!(out.join(file).is_file(), "{file}");
        if file != "README.txt" {
            assert!(readme.contains(file), "README names {file}");
        }
    }

    // An earlier export is replaced; a directory someone else filled is refused.
    let again = fixture.run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    assert!(again.status.success(), "{:?}", text(&again));
    fixture.write("mine/notes.txt", "keep me");
    let refused = fixture.run(&["export", "--config", "dutywatch.toml", "--out", "mine"]);
    let (_, stderr) = text(&refused);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("was not made by `dutywatch export`"),
        "{stderr}"
    );
    assert!(fixture.path("mine/notes.txt").is_file());
}

#[test]
fn a_broken_chain_still_exports_says_so_and_exits_1() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    drop(engine);
    util::tamper_payload(
        &fixture,
        "id = (SELECT MIN(id) FROM evidence)",
        "{\"value\": []}",
    );

    let output = fixture.run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("evidence chain is broken at E1"),
        "{stderr}"
    );
    let chain = std::fs::read_to_string(fixture.path("package/chain.txt")).expect("chain.txt");
    assert!(
        chain.starts_with("EVIDENCE CHAIN BROKEN at E1: "),
        "{chain}"
    );
    let (header, rows) = read_csv(&fixture.path("package/evidence.csv"));
    let integrity = header
        .iter()
        .position(|h| h == "integrity")
        .expect("integrity");
    assert!(
        rows.iter().any(|r| r[integrity].starts_with("TAMPERED")),
        "{rows:?}"
    );
    let (_, objectives) = read_csv(&fixture.path("package/objectives.csv"));
    assert!(objectives.len() >= 320);
}

#[test]
fn the_demo_export_has_every_objective_and_each_evidence_file_with_its_sha256() {
    let now = at("2026-11-23T15:00:00Z");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let dir = tempfile::tempdir().expect("tmp");
    dutywatch::demo::render_into(&demo, dir.path(), now).expect("render");
    let config = dutywatch::config::load(&dir.path().join("dutywatch.toml")).expect("config");
    let store = dutywatch::store::Store::open(&config.database).expect("db");
    let mut engine = dutywatch::engine::Engine::new(std::sync::Arc::new(config), store);
    engine.cycle(now).expect("cycle");
    let config = dutywatch::config::load(&dir.path().join("dutywatch.toml")).expect("config");
    let out = dir.path().join("package");
    let exported = export::export(&config, engine.store(), None, &out, now).expect("export");
    assert!(exported.chain_intact());

    let (header, rows) = read_csv(&out.join("objectives.csv"));
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let objectives: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| r[column("objective")].clone())
        .collect();
    let catalog: std::collections::BTreeSet<String> = dutywatch_checks::catalog::objectives()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(objectives, catalog, "all 320 objectives");
    assert_eq!(objectives.len(), 320);

    // Each evidence file the verdicts rest on, by name, with the SHA-256 of the file on disk.
    let (_, evidence) = read_csv(&out.join("evidence.csv"));
    assert!(evidence.len() >= 5, "{evidence:?}");
    let (_, artifacts) = read_csv(&out.join("artifacts.csv"));
    for row in &evidence {
        let origin = std::path::Path::new(&row[3]);
        let Ok(bytes) = std::fs::read(origin) else {
            continue;
        };
        let name = origin.file_name().expect("a file").to_string_lossy();
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        assert!(
            artifacts
                .iter()
                .any(|a| a[0] == name && a[1] == sha && a[2].split(' ').any(|e| e == row[0])),
            "{name} {sha} {} not in {artifacts:?}",
            row[0]
        );
    }
    let files_on_disk = evidence
        .iter()
        .filter(|r| std::path::Path::new(&r[3]).is_file())
        .count();
    assert_eq!(files_on_disk, evidence.len(), "every demo origin is a file");
    // What the package's other files rest on is listed too: the CRM that says who owns each
    // objective, and the incident register the timeline's steps were stated by.
    for (source, file) in [
        ("crm:file", "crm.csv"),
        ("incident_register", "register.csv"),
    ] {
        assert!(
            evidence.iter().any(|r| r[2] == source),
            "no {source} row in {evidence:?}"
        );
        assert!(
            artifacts.iter().any(|a| a[0] == file),
            "{file} not in {artifacts:?}"
        );
    }
}

#[test]
fn the_html_export_is_one_escaped_page_with_every_objective_and_hash_and_renders_in_chromium() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // A name with markup in it must come out as text.
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("").replace(
            "name = \"Acme Machining\"",
            "name = \"Acme <script>alert(1)</script> & Sons\"",
        ),
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    drop(engine);

    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "html",
        "--out",
        "package",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let page_path = fixture.path("package/index.html");
    let page = std::fs::read_to_string(&page_path).expect("index.html");
    assert!(!page.contains("<script>"), "unescaped markup");
    assert!(page.contains("Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons"));
    // Self-contained: nothing to fetch.
    assert!(!page.contains(" src=") && !page.contains("<link"));
    for objective in dutywatch_checks::catalog::objectives() {
        assert!(
            page.contains(&format!("<tr id=\"{objective}\">")),
            "{objective} missing"
        );
    }
    let reviews = hex::encode(sha2::Sha256::digest(util::REVIEWS.as_bytes()));
    let mfa = hex::encode(sha2::Sha256::digest(util::MFA_OK.as_bytes()));
    assert!(page.contains(&reviews) && page.contains(&mfa));
    assert!(fixture.path("package/chain.txt").is_file());
    // Each objective says whether it is met now, as `coverage` decides it.
    let output = fixture.run(&["coverage", "--config", "dutywatch.toml", "--json"]);
    let coverage: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let objectives = coverage["clients"][0]["objectives"]
        .as_array()
        .expect("objectives");
    let mut met = 0;
    for o in objectives {
        let id = o["objective"].as_str().expect("an id");
        let yes = o["met"].as_bool().expect("met");
        met += usize::from(yes);
        let cell = if yes {
            "<td class=\"state met objective-met\">yes</td>"
        } else {
            "<td class=\"state lapsed objective-met\">no</td>"
        };
        assert!(
            page.contains(&format!("<tr id=\"{id}\"><td>{id}</td>{cell}")),
            "{id}: met {yes}"
        );
    }
    assert!(
        met > 0 && met < objectives.len(),
        "{met} met: both kinds shown"
    );

    // What a browser shows: the chain head, an objective's duty with its state, the hashes.
    let dom = util::chromium::dump_dom(&page_path);
    assert!(
        dom.contains("NIST SP 800-171 rev2 assessor's package"),
        "{dom}"
    );
    assert!(
        dom.contains("Evidence chain: intact, 2 row(s), head row E2"),
        "{dom}"
    );
    assert!(
        dom.contains("<code>access-review</code> (contractor)"),
        "{dom}"
    );
    assert!(dom.contains(&reviews));
}
