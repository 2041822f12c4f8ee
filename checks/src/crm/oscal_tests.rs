//! OSCAL CRMs built in the tests, shaped like real OSCAL 1.1 JSON: an SSP's by-components
//! (provided and responsibilities on one statement, an inherited/satisfied pair, a plain
//! description of a customer component, not-applicable, an 800-53 id, a component nobody
//! owns) and a component definition with statement-level objectives.

use super::*;
use crate::lint::code;

fn problems(load: &CrmLoad) -> Vec<(String, Severity, &'static str)> {
    load.problems
        .iter()
        .map(|f| {
            let at = f
                .location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            (at, f.severity, f.code)
        })
        .collect()
}

fn rows(load: &CrmLoad) -> Vec<(String, Responsibility, Option<String>, Option<String>)> {
    load.crm
        .rows()
        .iter()
        .map(|row| {
            (
                row.control.to_string(),
                row.assignment.responsible(),
                row.assignment
                    .duty_of(crate::party::Party::Contractor)
                    .map(str::to_owned),
                row.assignment
                    .duty_of(crate::party::Party::Msp)
                    .map(str::to_owned),
            )
        })
        .collect()
}

const PROVIDER: &str = "7c1e6a52-2f55-4c4e-9b1f-5b8a4f0e2a01";
const CUSTOMER: &str = "7c1e6a52-2f55-4c4e-9b1f-5b8a4f0e2a02";
const NOBODY: &str = "7c1e6a52-2f55-4c4e-9b1f-5b8a4f0e2a03";

fn ssp() -> String {
    format!(
        r#"{{
  "system-security-plan": {{
    "uuid": "0d8e6b2c-4f3a-4b7e-8c1d-2a9f6e5b4c01",
    "metadata": {{
      "title": "Acme CUI enclave SSP",
      "last-modified": "2026-10-01T12:00:00Z",
      "version": "1.3",
      "oscal-version": "1.1.2",
      "roles": [{{"id": "provider", "title": "Managed service provider"}}, {{"id": "customer", "title": "OSA"}}],
      "parties": [{{"uuid": "3b2a1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c01", "type": "organization", "name": "Bluewater IT"}}]
    }},
    "import-profile": {{"href": "nist-800-171r2-profile.json"}},
    "system-characteristics": {{"system-name": "Acme enclave"}},
    "system-implementation": {{
      "users": [],
      "components": [
        {{
          "uuid": "{PROVIDER}",
          "type": "service",
          "title": "Bluewater managed endpoint service",
          "description": "Managed endpoints.",
          "props": [{{"name": "asset-type", "value": "saas"}}],
          "links": [{{"href": "https://example.org/msp", "rel": "homepage"}}],
          "responsible-roles": [{{"role-id": "provider", "party-uuids": ["3b2a1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c01"]}}],
          "status": {{"state": "operational"}}
        }},
        {{
          "uuid": "{CUSTOMER}",
          "type": "this-system",
          "title": "Acme enclave",
          "description": "The contractor's own system.",
          "responsible-roles": [{{"role-id": "customer"}}],
          "status": {{"state": "operational"}}
        }},
        {{
          "uuid": "{NOBODY}",
          "type": "software",
          "title": "Backup appliance",
          "description": "Nobody said whose.",
          "status": {{"state": "operational"}}
        }}
      ]
    }},
    "control-implementation": {{
      "description": "NIST SP 800-171 rev2",
      "implemented-requirements": [
        {{
          "uuid": "a1000000-0000-4000-8000-000000000311",
          "control-id": "3.1.1",
          "props": [{{"name": "implementation-status", "value": "implemented"}}],
          "statements": [{{
            "statement-id": "3.1.1_smt",
            "uuid": "a1000000-0000-4000-8000-100000000311",
            "by-components": [{{
              "component-uuid": "{PROVIDER}",
              "uuid": "a1000000-0000-4000-8000-200000000311",
              "description": "Accounts are created in the managed directory.",
              "export": {{
                "provided": [{{"uuid": "a1000000-0000-4000-8000-300000000311", "description": "Administers accounts"}}],
                "responsibilities": [{{"uuid": "a1000000-0000-4000-8000-400000000311", "provided-uuid": "a1000000-0000-4000-8000-300000000311", "description": "Approves access"}}]
              }}
            }}]
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000000353",
          "control-id": "3.5.3",
          "by-components": [{{
            "component-uuid": "{PROVIDER}",
            "uuid": "a1000000-0000-4000-8000-200000000353",
            "description": "MFA as inherited from the MSP.",
            "inherited": [{{"uuid": "a1000000-0000-4000-8000-500000000353", "provided-uuid": "b2000000-0000-4000-8000-000000000353", "description": "Enforces MFA"}}]
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000000312",
          "control-id": "3.1.2",
          "by-components": [{{
            "component-uuid": "{PROVIDER}",
            "uuid": "a1000000-0000-4000-8000-200000000312",
            "description": "",
            "inherited": [{{"uuid": "a1000000-0000-4000-8000-500000000312", "description": "Role templates"}}],
            "satisfied": [{{"uuid": "a1000000-0000-4000-8000-600000000312", "responsibility-uuid": "b2000000-0000-4000-8000-000000000312", "description": "Assigns roles"}}]
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000003141",
          "control-id": "3.14.1",
          "by-components": [
            {{
              "component-uuid": "{PROVIDER}",
              "uuid": "a1000000-0000-4000-8000-200000003141",
              "description": "Patch management",
              "export": {{"provided": [{{"uuid": "a1000000-0000-4000-8000-300000003141", "description": "Patches systems weekly"}}]}}
            }},
            {{
              "component-uuid": "{CUSTOMER}",
              "uuid": "a1000000-0000-4000-8000-210000003141",
              "description": "Patching comes from the MSP",
              "inherited": [{{"uuid": "a1000000-0000-4000-8000-500000003141", "provided-uuid": "a1000000-0000-4000-8000-300000003141", "description": "Inherits weekly patching"}}]
            }}
          ]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000000321",
          "control-id": "3.2.1",
          "by-components": [{{
            "component-uuid": "{CUSTOMER}",
            "uuid": "a1000000-0000-4000-8000-200000000321",
            "description": "Runs awareness training"
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000003116",
          "control-id": "3.1.16",
          "by-components": [{{
            "component-uuid": "{CUSTOMER}",
            "uuid": "a1000000-0000-4000-8000-200000003116",
            "description": "No wireless in the enclave",
            "implementation-status": {{"state": "not-applicable"}}
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-0000000000a2",
          "control-id": "ac-2",
          "by-components": [{{
            "component-uuid": "{CUSTOMER}",
            "uuid": "a1000000-0000-4000-8000-2000000000a2",
            "description": "Account management"
          }}]
        }},
        {{
          "uuid": "a1000000-0000-4000-8000-000000000381",
          "control-id": "3.8.1",
          "by-components": [{{
            "component-uuid": "{NOBODY}",
            "uuid": "a1000000-0000-4000-8000-200000000381",
            "description": "Backups are encrypted"
          }}]
        }}
      ]
    }}
  }}
}}
"#
    )
}

/// The line a text first appears on, 1-based.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap();
    text[..at].matches('\n').count() + 1
}

#[test]
fn an_ssps_by_components_become_rows_with_each_sides_text() {
    let text = ssp();
    let load = Crm::from_file_with("ssp.json", text.as_bytes(), None, &CrmImport::default());
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        rows(&load),
        [
            // provided + responsibilities on one statement: shared.
            (
                "3.1.1".to_owned(),
                Responsibility::Shared,
                s("Approves access"),
                s("Administers accounts")
            ),
            // inherited only: the provider does it.
            (
                "3.5.3".to_owned(),
                Responsibility::Msp,
                None,
                s("Enforces MFA")
            ),
            // inherited and satisfied: both sides.
            (
                "3.1.2".to_owned(),
                Responsibility::Shared,
                s("Assigns roles"),
                s("Role templates")
            ),
            // a provided/inherited pair in one document: the provider's, counted once.
            (
                "3.14.1".to_owned(),
                Responsibility::Msp,
                None,
                s("Patches systems weekly")
            ),
            // a customer component's plain description.
            (
                "3.2.1".to_owned(),
                Responsibility::Contractor,
                s("Runs awareness training"),
                None
            ),
            (
                "3.1.16".to_owned(),
                Responsibility::NotApplicable,
                None,
                None
            ),
        ]
    );
    let na = &load.crm.rows()[5];
    assert_eq!(
        na.assignment,
        Assignment::NotApplicable {
            justification: "No wireless in the enclave".to_owned()
        }
    );
    // Each row says where in the document it came from: the JSON pointer and the line.
    let shared = &load.crm.rows()[0];
    assert_eq!(
        shared.location.to_string(),
        format!(
            "ssp.json#/system-security-plan/control-implementation/implemented-requirements/0/statements/0/by-components/0:{}",
            line_of(&text, "a1000000-0000-4000-8000-200000000311")
        )
    );

    // An 800-53 id is a located error; a component nobody owns too, at the component.
    let found = problems(&load);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found
            .iter()
            .find(|f| f.2 == code::INVALID_ID)
            .map(|f| f.0.clone()),
        Some(format!(
            "ssp.json#/system-security-plan/control-implementation/implemented-requirements/6/by-components/0:{}",
            line_of(&text, "a1000000-0000-4000-8000-2000000000a2")
        ))
    );
    let unknown = load
        .problems
        .iter()
        .find(|f| f.code == code::COMPONENT_PARTY_UNKNOWN)
        .expect("the backup appliance's party is unknown");
    assert_eq!(unknown.severity, Severity::Error);
    assert_eq!(
        unknown.location.as_ref().map(ToString::to_string),
        Some(format!(
            "ssp.json#/system-security-plan/system-implementation/components/2:{}",
            line_of(&text, NOBODY)
        ))
    );
    assert!(
        unknown.message.contains("Backup appliance"),
        "{}",
        unknown.message
    );
    assert!(
        !load
            .crm
            .rows()
            .iter()
            .any(|r| r.control.to_string() == "3.8.1"),
        "its text is not guessed onto a side"
    );
}

#[test]
fn a_component_definition_with_statement_level_objectives() {
    let text = r#"{
  "component-definition": {
    "uuid": "c3000000-0000-4000-8000-000000000001",
    "metadata": {"title": "Bluewater CRM", "last-modified": "2026-10-01T12:00:00Z", "version": "2", "oscal-version": "1.1.2"},
    "components": [{
      "uuid": "c3000000-0000-4000-8000-000000000002",
      "type": "service",
      "title": "Bluewater managed IT",
      "description": "The MSP's service.",
      "responsible-roles": [{"role-id": "provider"}],
      "control-implementations": [{
        "uuid": "c3000000-0000-4000-8000-000000000003",
        "source": "https://doi.org/10.6028/NIST.SP.800-171r2",
        "description": "800-171",
        "implemented-requirements": [
          {
            "uuid": "c3000000-0000-4000-8000-000000000311",
            "control-id": "sp800-171_3.1.1",
            "description": "Account management",
            "statements": [
              {"statement-id": "sp800-171_3.1.1.a", "uuid": "c3000000-0000-4000-8000-00000000311a",
               "description": "Keeps the user list",
               "responsibility": [{"description": "Names who may have an account"}]},
              {"statement-id": "3.1.1_smt.b", "uuid": "c3000000-0000-4000-8000-00000000311b",
               "description": "Lists service accounts"}
            ]
          },
          {
            "uuid": "c3000000-0000-4000-8000-000000003141",
            "control-id": "3.14.1",
            "description": "Patches every endpoint",
            "props": [{"name": "control-origination", "value": "sp-system"}]
          },
          {
            "uuid": "c3000000-0000-4000-8000-000000000999",
            "control-id": "sp_800_171_03.01.01",
            "description": "A rev3 id"
          }
        ]
      }]
    },
    {
      "uuid": "c3000000-0000-4000-8000-000000000004",
      "type": "software",
      "title": "Inventory tool",
      "description": "Nobody said whose.",
      "control-implementations": [{
        "uuid": "c3000000-0000-4000-8000-000000000005",
        "source": "https://doi.org/10.6028/NIST.SP.800-171r2",
        "description": "800-171",
        "implemented-requirements": [
          {"uuid": "c3000000-0000-4000-8000-000000000341", "control-id": "3.4.1",
           "description": "Keeps the baseline inventory"}
        ]
      }]
    }]
  }
}"#;
    let load = Crm::from_file_with("crm.json", text.as_bytes(), None, &CrmImport::default());
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        rows(&load),
        [
            (
                "3.1.1[a]".to_owned(),
                Responsibility::Shared,
                s("Names who may have an account"),
                s("Keeps the user list")
            ),
            (
                "3.1.1[b]".to_owned(),
                Responsibility::Msp,
                None,
                s("Lists service accounts")
            ),
            (
                "3.14.1".to_owned(),
                Responsibility::Msp,
                None,
                s("Patches every endpoint")
            ),
        ]
    );
    let found = problems(&load);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].2, code::INVALID_ID);
    assert!(
        found[0].0.starts_with(
            "crm.json#/component-definition/components/0/control-implementations/0/implemented-requirements/2:"
        ),
        "{found:?}"
    );
    assert_eq!(
        (found[1].0.as_str(), found[1].2),
        (
            format!(
                "crm.json#/component-definition/components/1:{}",
                line_of(text, "c3000000-0000-4000-8000-000000000004")
            )
            .as_str(),
            code::COMPONENT_PARTY_UNKNOWN
        )
    );
}

#[test]
fn json_that_is_not_an_oscal_crm_is_an_error_with_its_line() {
    let broken = "{\n  \"component-definition\": {\n    \"uuid\": \n  }\n}\n";
    let load = Crm::from_file_with("crm.json", broken.as_bytes(), None, &CrmImport::default());
    let found = problems(&load);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].2, code::INVALID_OSCAL);
    assert_eq!(found[0].0, "crm.json:4");
    // CSV is still CSV.
    let csv = "id,owner,contractor_does\n3.2.1,contractor,Trains\n";
    let load = Crm::from_file_with("crm.csv", csv.as_bytes(), None, &CrmImport::default());
    assert_eq!(load.crm.rows().len(), 1);
}

#[test]
fn oscal_ids_normalise_to_the_forms_the_row_parser_reads() {
    for (id, expected) in [
        ("3.1.1", "3.1.1"),
        ("sp800-171_3.1.1", "3.1.1"),
        ("SP800-171_3.13.11", "3.13.11"),
        ("3.1.1.a", "3.1.1.a"),
        ("3.1.1.a_obj", "3.1.1.a"),
        ("3.1.1_obj.a", "3.1.1.a"),
        ("3.1.1_smt.a", "3.1.1.a"),
        ("3.1.1_smt", "3.1.1"),
        ("ac.l2-3.1.1", "3.1.1"),
        ("ac-2", "ac-2"),
    ] {
        assert_eq!(oscal_input::normalise_id(id), expected, "{id}");
    }
}
