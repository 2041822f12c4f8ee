use super::*;
use crate::kind::Kinds;

fn kind(name: &str) -> Arc<EvidenceKind> {
    Kinds::default().get(name).unwrap().clone()
}

fn join(source: &str, alias: &str, on: &str) -> Join {
    Join {
        source: source.to_owned(),
        alias: alias.to_owned(),
        on: Some(parse_key(on).unwrap()),
        max_age: None,
    }
}

#[test]
fn join_keys_read_both_sides() {
    let key = parse_key(" rmm.device == device ").unwrap();
    assert_eq!(key.left.to_string(), "rmm.device");
    assert_eq!(key.right, "device");
    assert_eq!(key.to_string(), "rmm.device = device");
    for bad in ["device", "= id", "device = a.b", "device = "] {
        assert!(
            parse_key(bad).unwrap_err().contains("is not a join key"),
            "{bad}"
        );
    }
}

#[test]
fn joins_are_checked_against_both_kinds_with_a_did_you_mean() {
    let patch = kind("patch");
    let rmm = kind("rmm_device");
    let intune = kind("managed_device");
    check_join(&join("ninja-devices", "rmm", "device = id"), &patch, &rmm).unwrap();
    let error = check_join(&join("ninja-devices", "rmm", "devce = id"), &patch, &rmm).unwrap_err();
    assert!(error.contains("did you mean `device`?"), "{error}");
    let error =
        check_join(&join("ninja-devices", "rmm", "device = idd"), &patch, &rmm).unwrap_err();
    assert!(
        error.contains("`idd` (right of `on`) is not a field of `rmm_device` evidence, which source `ninja-devices` holds; did you mean `id`?"),
        "{error}"
    );
    let so_far = combined_kind(&patch, &[("rmm", &rmm)]);
    check_join(
        &join("intune", "intune", "rmm.device = device"),
        &so_far,
        &intune,
    )
    .unwrap();
    let error = check_join(
        &join("intune", "intune", "rmm.devise = device"),
        &so_far,
        &intune,
    )
    .unwrap_err();
    assert!(error.contains("did you mean `rmm.device`?"), "{error}");
    // Not a key type; an alias taken or not a plain name.
    let error = check_join(
        &join("intune", "intune", "pending_since = device"),
        &patch,
        &intune,
    )
    .unwrap_err();
    assert!(
        error.contains("a join key must be text or an integer"),
        "{error}"
    );
    let error = check_join(
        &join("intune", "rmm", "rmm.device = device"),
        &so_far,
        &intune,
    )
    .unwrap_err();
    assert!(error.contains("already a field or alias"), "{error}");
    let error = check_join(
        &join("intune", "In-tune", "device = device"),
        &patch,
        &intune,
    )
    .unwrap_err();
    assert!(error.contains("is not a join alias"), "{error}");
}

#[test]
fn conditions_address_joined_fields_as_alias_dot_field() {
    let patch = kind("patch");
    let intune = kind("managed_device");
    let all = combined_kind(&patch, &[("intune", &intune)]);
    let ok: crate::predicate::Predicate = "intune.last_sync < now-7d or intune == null"
        .parse()
        .unwrap();
    ok.check_against(&all).unwrap();
    let typo: crate::predicate::Predicate = "intune.last_synk < now-7d".parse().unwrap();
    let error = typo.check_against(&all).unwrap_err();
    assert!(
        error.contains("did you mean `intune.last_sync`?"),
        "{error}"
    );
    // Without the join the same condition does not bind.
    assert!(ok.check_against(&patch).is_err());
    // Types carry over: a joined timestamp is compared as one.
    let wrong: crate::predicate::Predicate = "intune.last_sync == 'x'".parse().unwrap();
    assert!(wrong.check_against(&all).is_err());
}

#[test]
fn a_joined_device_list_whose_last_sync_nothing_reads_is_named() {
    use crate::duty::{Continuous, Quantifier, Rule};
    use crate::period::Period;
    let rule = |unknown_when: Option<&str>| {
        Rule::Continuous(Continuous {
            expect: Quantifier::None,
            filter: None,
            check: "severity == 'CRITICAL'".parse().unwrap(),
            min_records: 0,
            tolerance: Period::from_secs(86_400),
            unknown_when: unknown_when.map(|p| p.parse().unwrap()),
            required_subjects: Vec::new(),
            required_field: None,
            joins: vec![join("intune", "intune", "device = device")],
            min_share: None,
        })
    };
    let joined = |source: &str| (source == "intune").then(|| kind("managed_device"));
    assert_eq!(
        rule(None).unread_freshness(&kind("patch"), &joined),
        ["intune.last_sync"]
    );
    assert!(
        rule(Some("intune.last_sync < now-7d"))
            .unread_freshness(&kind("patch"), &joined)
            .is_empty()
    );
    // A kind without such a field: nothing to say.
    assert!(
        rule(None)
            .unread_freshness(&kind("patch"), &|_| None)
            .is_empty()
    );
}
