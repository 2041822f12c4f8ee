//! `dutywatch export --format oscal`: the assessor's package as OSCAL, checked against the
//! OSCAL community's own models (compliance-trestle, pinned, installed into target/ on first
//! use) and against the coverage report it is written from.

use std::path::Path;
use std::process::Command;

use dutywatch_checks::crm::{Assignment, Crm, CrmImport};
use dutywatch_checks::party::Party;
use sha2::Digest as _;

use crate::util::{self, at, text};

/// The trestle whose models are OSCAL 1.1.x (trestle 4 and later model OSCAL 1.2).
const TRESTLE: &str = "compliance-trestle==3.12.4";

/// Loads each `(kind, path)` with trestle's models; panics with trestle's complaint when one
/// is refused. Returns trestle's summary (counts per document).
pub(crate) fn trestle_accepts(documents: &[(&str, &Path)]) -> serde_json::Value {
    let path = util::python::pip_package(
        "compliance-trestle",
        TRESTLE,
        "import trestle; assert trestle.__version__ == '3.12.4'",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/oscal_check.py");
    let mut command = Command::new("python3");
    command.arg(script);
    for (kind, file) in documents {
        command.arg(format!("{kind}={}", file.display()));
    }
    if let Some(path) = path {
        command.env("PYTHONPATH", path);
    }
    let output = command.output().expect("python3 runs");
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "compliance-trestle refused the OSCAL export:\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Every objective's owner and each side's text (or the justification), as a CRM decides them.
fn owners(crm: &Crm, packages: Option<&[String]>) -> Vec<(String, String, String, String, String)> {
    let ownership = crm.ownership(packages);
    dutywatch_checks::catalog::objectives()
        .map(|objective| {
            let row = ownership.row(objective);
            let owner = row.map_or("unowned", |r| r.assignment.responsible().as_str());
            let side = |party| {
                row.and_then(|r| r.assignment.duty_of(party))
                    .unwrap_or_default()
                    .to_owned()
            };
            let justification = match row.map(|r| &r.assignment) {
                Some(Assignment::NotApplicable { justification }) => justification.clone(),
                _ => String::new(),
            };
            let msp_checks = row.map_or_else(String::new, |r| {
                format!(
                    "{:?} {:?}",
                    r.assignment.evidence_producer(),
                    r.assignment.verification()
                )
            });
            (
                format!("{objective} {owner}"),
                side(Party::Contractor),
                side(Party::Msp),
                justification,
                msp_checks,
            )
        })
        .collect()
}

/// The component definition read back as a CRM: every objective with the same owner and
/// texts, and no problem.
fn assert_round_trips(component: &Path, crm: &Crm, packages: &[String]) {
    let bytes = std::fs::read(component).expect("component definition");
    let name = component.display().to_string();
    let load = Crm::from_file_with(&name, &bytes, None, &CrmImport::default());
    // Not even a warning: evidence producer and verification come back too.
    assert!(load.problems.is_empty(), "{:?}", load.problems);
    let lint = dutywatch_checks::lint::lint(&load, None);
    let errors: Vec<String> = lint
        .findings
        .iter()
        .filter(|f| f.is_error() && f.code != "unowned-objective")
        .map(|f| f.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(owners(&load.crm, None), owners(crm, Some(packages)));
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn finding<'a>(results: &'a serde_json::Value, objective: &str) -> &'a serde_json::Value {
    results["assessment-results"]["results"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["target"]["title"] == objective)
        .unwrap_or_else(|| panic!("no finding for {objective}"))
}

#[test]
fn the_oscal_export_of_the_standard_fixture_loads_in_trestle_and_says_what_coverage_says() {
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
        "oscal",
        "--out",
        "oscal",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    let out = fixture.path("oscal");
    let results_path = out.join("acme.assessment-results.json");
    let plan_path = out.join("acme.assessment-plan.json");
    let component_path = out.join("acme.component-definition.json");
    let summary = trestle_accepts(&[
        ("assessment-results", &results_path),
        ("assessment-plan", &plan_path),
        ("component-definition", &component_path),
    ]);
    assert_eq!(summary["trestle"], "3.12.4");
    assert_eq!(summary["assessment-results"]["findings"], 320);
    assert_eq!(summary["assessment-results"]["observations"], 2);
    assert_eq!(
        summary["assessment-results"]["import-ap"],
        "acme.assessment-plan.json"
    );
    assert_eq!(summary["component-definition"]["components"], 2);

    let results = read_json(&results_path);
    let document = &results["assessment-results"];
    assert_eq!(document["metadata"]["oscal-version"], "1.1.2");
    assert_eq!(document["metadata"]["last-modified"], util::CLOCK);
    let result = &document["results"][0];
    assert_eq!(
        result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .map(Vec::len),
        Some(110)
    );

    // The same verdicts as the coverage report: 3.1.1 (shared, met) and 3.5.3 (MSP, met)
    // are satisfied and nothing else; satisfied count = coverage's met count.
    let config = fixture.load();
    let store = dutywatch::store::Store::open_read_only(&config.database).expect("db");
    let report = dutywatch::coverage::coverage(&config, &store, None).expect("coverage");
    let met = report.clients[0].overall.met;
    assert_eq!(summary["assessment-results"]["satisfied"], met);
    let access = finding(&results, "3.1.1[a]");
    assert_eq!(access["target"]["type"], "objective-id");
    assert_eq!(access["target"]["target-id"], "sp800-171_3.1.1.a");
    assert_eq!(access["target"]["status"]["state"], "satisfied");
    assert_eq!(access["target"]["status"]["reason"], "pass");
    assert_eq!(
        access["related-observations"].as_array().map(Vec::len),
        Some(1)
    );

    // Absence of evidence is not satisfied, and says why.
    let training = finding(&results, "3.2.1[a]");
    assert_eq!(training["target"]["status"]["state"], "not-satisfied");
    assert_eq!(training["target"]["status"]["reason"], "other");
    let remarks = training["target"]["status"]["remarks"]
        .as_str()
        .expect("remarks");
    assert!(remarks.contains("no_evidence"), "{remarks}");
    assert!(training.get("related-observations").is_none());
    let unwatched = finding(&results, "3.14.1[a]");
    assert_eq!(unwatched["target"]["status"]["state"], "not-satisfied");
    assert!(
        unwatched["target"]["status"]["remarks"]
            .as_str()
            .is_some_and(|r| r.contains("no duty watches it")),
        "{unwatched}"
    );
    let unowned = finding(&results, "3.3.1[a]");
    assert_eq!(unowned["target"]["status"]["state"], "not-satisfied");

    // Each evidence file with the SHA-256 of its bytes; the chain head as chain.txt has it.
    let observations = result["observations"].as_array().expect("observations");
    let sha = |text: &str| hex::encode(sha2::Sha256::digest(text.as_bytes()));
    for (name, bytes) in [("reviews.csv", util::REVIEWS), ("mfa.json", util::MFA_OK)] {
        let evidence = observations
            .iter()
            .map(|o| &o["relevant-evidence"][0])
            .find(|e| e["href"] == name)
            .unwrap_or_else(|| panic!("no observation of {name}"));
        let props = evidence["props"].as_array().expect("props");
        assert!(
            props
                .iter()
                .any(|p| p["name"] == "sha256" && p["value"] == sha(bytes).as_str()),
            "{evidence}"
        );
    }
    let resources = document["back-matter"]["resources"]
        .as_array()
        .expect("back-matter");
    assert!(
        resources
            .iter()
            .any(|r| r["rlinks"][0]["href"] == "reviews.csv"
                && r["rlinks"][0]["hashes"][0]["value"] == sha(util::REVIEWS).as_str())
    );
    let chain = std::fs::read_to_string(out.join("chain.txt")).expect("chain.txt");
    let head = chain
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .expect("a head");
    let props = result["props"].as_array().expect("props");
    let prop = |name: &str| {
        props
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(prop("evidence-chain-head").as_deref(), Some(head));
    assert_eq!(prop("evidence-chain").as_deref(), Some("intact"));

    // The same state exports the same documents (UUIDs from content, no randomness).
    let again = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "oscal",
        "--out",
        "oscal",
    ]);
    assert!(again.status.success(), "{:?}", text(&again));
    assert_eq!(read_json(&results_path), results);

    // The component definition is the CRM: read back, every objective has the same owner
    // and texts, and a config naming it as its `crm_file` just works.
    let acme = &config.contractors[0];
    assert_round_trips(&component_path, &acme.crm.crm, &acme.packages);
    let component = read_json(&component_path);
    let statements = |role: &str| {
        component["component-definition"]["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|c| c["responsible-roles"][0]["role-id"] == role)
            .map(|c| c["control-implementations"][0]["implemented-requirements"].clone())
            .expect(role)
    };
    let provider = statements("provider");
    let mfa = provider
        .as_array()
        .and_then(|r| r.iter().find(|r| r["control-id"] == "sp800-171_3.5.3"))
        .expect("3.5.3 is the MSP's");
    assert_eq!(mfa["statements"][0]["description"], "Enforces MFA");
    let kind = |statement: &serde_json::Value| {
        statement["props"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "responsibility-kind"))
            .map(|p| p["value"].clone())
    };
    assert_eq!(kind(&mfa["statements"][0]), Some("provided".into()));
    let customer = statements("customer");
    let inherited = customer
        .as_array()
        .and_then(|r| r.iter().find(|r| r["control-id"] == "sp800-171_3.5.3"))
        .expect("the contractor's side of 3.5.3");
    assert_eq!(kind(&inherited["statements"][0]), Some("inherited".into()));
    let config_text = std::fs::read_to_string(fixture.path("dutywatch.toml")).expect("config");
    fixture.write(
        "dutywatch.toml",
        &config_text.replace(
            "crm_file = \"crm.csv\"",
            "crm_file = \"oscal/acme.component-definition.json\"",
        ),
    );
    let from_oscal = fixture.load();
    assert_eq!(
        owners(&from_oscal.contractors[0].crm.crm, None),
        owners(&acme.crm.crm, Some(&acme.packages))
    );
}

#[test]
fn the_demo_exports_oscal_that_trestle_accepts() {
    let now = at("2026-11-23T15:00:00Z");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let dir = tempfile::tempdir().expect("tmp");
    dutywatch::demo::render_into(&demo, dir.path(), now).expect("render");
    let config = dutywatch::config::load(&dir.path().join("dutywatch.toml")).expect("config");
    let store = dutywatch::store::Store::open(&config.database).expect("db");
    let mut engine = dutywatch::engine::Engine::new(std::sync::Arc::new(config), store);
    engine.cycle(now).expect("cycle");
    let config = dutywatch::config::load(&dir.path().join("dutywatch.toml")).expect("config");
    // The demo's incident register opens its incidents, as `once` and the daemon do.
    let incidents = dutywatch::incident::tick(engine.store_mut(), &config, now).expect("tick");
    assert!(incidents.opened >= 2, "{incidents:?}");
    let out = dir.path().join("oscal");
    let exported =
        dutywatch::export::oscal::export(&config, engine.store(), None, &out, now).expect("export");
    let client = &exported.coverage.clients[0];
    let id = &client.contractor;
    let summary = trestle_accepts(&[
        (
            "assessment-results",
            &out.join(format!("{id}.assessment-results.json")),
        ),
        (
            "assessment-plan",
            &out.join(format!("{id}.assessment-plan.json")),
        ),
        (
            "component-definition",
            &out.join(format!("{id}.component-definition.json")),
        ),
    ]);
    assert_eq!(summary["assessment-results"]["findings"], 320);
    // An observation per evidence row and per incident, each incident cited by 3.6.2.
    assert_eq!(
        summary["assessment-results"]["observations"],
        client.evidence.len() + incidents.opened
    );
    let results = read_json(&out.join(format!("{id}.assessment-results.json")));
    let observations = results["assessment-results"]["results"][0]["observations"]
        .as_array()
        .expect("observations");
    let incident = observations
        .iter()
        .find(|o| o["title"] == "Incident INC-2026-0003")
        .unwrap_or_else(|| panic!("no incident observation: {observations:#?}"));
    let description = incident["description"].as_str().expect("text");
    assert!(
        description.contains("report to DoD (72 h): due ")
            && description.contains(": kept.")
            && description.contains("Timeline: "),
        "{description}"
    );
    // Cited where it speaks to the objective: tracked [a], documented [b], DoD notified [e],
    // the contractor's officials notified by the hand-off [f]; who they are [c], [d] is the
    // plan's to say.
    let cited = |objective: &str| {
        finding(&results, objective)["related-observations"]
            .as_array()
            .map_or(0, |r| {
                r.iter()
                    .filter(|o| o["observation-uuid"] == incident["uuid"])
                    .count()
            })
    };
    for (objective, times) in [
        ("3.6.2[a]", 1),
        ("3.6.2[b]", 1),
        ("3.6.2[c]", 0),
        ("3.6.2[d]", 0),
        ("3.6.2[e]", 1),
        ("3.6.2[f]", 1),
    ] {
        assert_eq!(
            cited(objective),
            times,
            "{objective}: {:#}",
            finding(&results, objective)
        );
    }
    assert_eq!(
        summary["assessment-results"]["satisfied"],
        client.overall.met
    );
    let contractor = &config.contractors[0];
    assert_round_trips(
        &out.join(format!("{id}.component-definition.json")),
        &contractor.crm.crm,
        &contractor.packages,
    );
    assert!(
        summary["component-definition"]["statements"]
            .as_u64()
            .is_some_and(|n| n >= 320),
        "every objective the demo CRM owns, once per side it has: {summary}"
    );
}

#[test]
fn a_broken_chain_exports_oscal_that_says_so_exits_1_and_still_loads() {
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

    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "oscal",
        "--out",
        "oscal",
    ]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("evidence chain is broken at E1"),
        "{stderr}"
    );
    let results_path = fixture.path("oscal/acme.assessment-results.json");
    trestle_accepts(&[("assessment-results", &results_path)]);
    let results = read_json(&results_path);
    let result = &results["assessment-results"]["results"][0];
    let chain = result["props"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "evidence-chain"))
        .map(|p| p["value"].as_str().unwrap_or_default().to_owned())
        .expect("evidence-chain prop");
    assert!(chain.starts_with("BROKEN at E1"), "{chain}");
    // The tampered row is shown as such, with no hash vouching for it.
    let tampered = result["observations"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["props"][0]["value"] == "E1"))
        .expect("an observation of E1");
    let props = tampered["relevant-evidence"][0]["props"]
        .as_array()
        .expect("props");
    assert!(
        props.iter().any(|p| p["name"] == "integrity"
            && p["value"]
                .as_str()
                .is_some_and(|v| v.starts_with("TAMPERED"))),
        "{tampered}"
    );
    assert!(!props.iter().any(|p| p["name"] == "sha256"), "{tampered}");
}

#[test]
fn an_msp_exports_one_set_of_documents_per_client_each_with_only_its_own_evidence() {
    let fixture = crate::perspective::msp_fixture();
    let mut engine = util::engine(&fixture);
    // Acme's unregistered user is first seen at 15:00; past the 24 h tolerance it is lapsed.
    engine.cycle(at("2026-11-23T15:00:00Z")).expect("cycle");
    engine.cycle(at("2026-11-24T16:00:00Z")).expect("cycle");
    drop(engine);
    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "oscal",
        "--out",
        "oscal",
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let mut documents = Vec::new();
    for client in ["acme", "birch"] {
        for (kind, suffix) in [
            ("assessment-results", ".assessment-results.json"),
            ("assessment-plan", ".assessment-plan.json"),
            ("component-definition", ".component-definition.json"),
        ] {
            documents.push((kind, fixture.path(&format!("oscal/{client}{suffix}"))));
        }
    }
    let documents: Vec<(&str, &Path)> = documents.iter().map(|(k, p)| (*k, p.as_path())).collect();
    trestle_accepts(&documents);

    // Acme's MFA export has an unregistered user; Birch's does not.
    let acme = read_json(&fixture.path("oscal/acme.assessment-results.json"));
    let birch = read_json(&fixture.path("oscal/birch.assessment-results.json"));
    let state = |results: &serde_json::Value, objective: &str| {
        finding(results, objective)["target"]["status"]["state"].clone()
    };
    assert_eq!(state(&acme, "3.5.3[a]"), "not-satisfied");
    assert_eq!(
        finding(&acme, "3.5.3[a]")["target"]["status"]["reason"],
        "fail",
        "a lapsed duty fails"
    );
    assert_eq!(state(&birch, "3.5.3[a]"), "satisfied");
    let origins = |results: &serde_json::Value| -> Vec<String> {
        results["assessment-results"]["results"][0]["observations"]
            .as_array()
            .expect("observations")
            .iter()
            .filter_map(|o| {
                o["relevant-evidence"][0]["props"]
                    .as_array()?
                    .iter()
                    .find(|p| p["name"] == "origin")
                    .map(|p| p["value"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    };
    let (acme_origins, birch_origins) = (origins(&acme), origins(&birch));
    assert!(!acme_origins.is_empty() && !birch_origins.is_empty());
    assert!(
        acme_origins.iter().all(|o| o.contains("/acme/")),
        "{acme_origins:?}"
    );
    assert!(
        birch_origins.iter().all(|o| o.contains("/birch/")),
        "{birch_origins:?}"
    );
    assert_ne!(
        acme["assessment-results"]["uuid"],
        birch["assessment-results"]["uuid"]
    );

    // --client writes that client's documents only.
    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "oscal",
        "--out",
        "oscal",
        "--client",
        "birch",
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(
        fixture
            .path("oscal/birch.assessment-results.json")
            .is_file()
    );
    assert!(!fixture.path("oscal/acme.assessment-results.json").exists());
}
