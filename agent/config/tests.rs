use std::time::Duration;

use super::*;

const PASSWORD: &str = "hunter2-correct-horse";

/// A minimal valid config whose `[mail]` table is `from` plus `mail`.
fn text(mail: &str) -> String {
    format!(
        r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
{mail}

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"
"#
    )
}

/// A minimal contractor config with `extra_top` after its first lines and `extra_contractor`
/// in its contractor's table, parsed as `/etc/dutywatch/dutywatch.toml`.
pub(super) fn contractor_config(extra_top: &str, extra_contractor: &str) -> Result<Config, String> {
    let text = format!(
        r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"
{extra_top}
[mail]
from = "dutywatch@acme.example"
transport = "file"
dir = "outbox"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]
{extra_contractor}
[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"
"#
    );
    parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &|_| None)
        .map_err(|e| e.to_string())
}

fn env(name: &str) -> Option<String> {
    match name {
        "SMTP_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    }
}

fn parse_mail(mail: &str) -> Result<Config, ConfigErrors> {
    parse_with_env(
        Path::new("/etc/dutywatch/dutywatch.toml"),
        &text(mail),
        &env,
    )
}

fn smtp(mail: &str) -> SmtpConfig {
    match parse_mail(mail) {
        Ok(config) => match config.mail.transport {
            Transport::Smtp(smtp) => smtp,
            other => panic!("not smtp: {other:?}"),
        },
        Err(errors) => panic!("{errors}"),
    }
}

/// The one error a `[mail]` table gives, as `line: key: message`.
fn error(mail: &str) -> (Option<usize>, String, String) {
    match parse_mail(mail) {
        Ok(config) => panic!("should fail: {config:?}"),
        Err(ConfigErrors(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:#?}");
            let error = errors.into_iter().next().unwrap();
            (error.line, error.key, error.message)
        }
    }
}

#[test]
fn smtp_with_a_login_resolves_the_password_at_load() {
    let smtp = smtp(
        r#"transport = "smtp"
host = "smtp.example.com"
tls = "starttls"
username = "dutywatch@acme.example"
password = { env = "SMTP_PASSWORD" }"#,
    );
    assert_eq!(smtp.host, "smtp.example.com");
    assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::Starttls));
    assert_eq!(smtp.timeout, Duration::from_secs(30));
    assert_eq!(smtp.relay(), "smtp.example.com:587");
    let login = smtp.login.expect("a login");
    assert_eq!(login.username, "dutywatch@acme.example");
    assert_eq!(login.password.secret().expect("read").expose(), PASSWORD);
}

#[test]
fn config_debug_never_prints_the_password() {
    let config = parse_mail(
        r#"transport = "smtp"
host = "smtp.example.com"
tls = "implicit"
username = "dutywatch"
password = { env = "SMTP_PASSWORD" }"#,
    )
    .unwrap();
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(debug.contains("[redacted]"));
}

#[test]
fn a_literal_password_is_located_but_never_repeated() {
    let errors = parse_mail(&format!(
        "transport = \"smtp\"\nhost = \"smtp.example.com\"\ntls = \"implicit\"\nusername = \"dutywatch\"\npassword = \"{PASSWORD}\""
    ))
    .unwrap_err();
    let shown = format!("{errors} {errors:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert_eq!(errors.0.len(), 1, "{shown}");
    assert_eq!(errors.0[0].line, Some(11), "the password line: {shown}");
    assert!(shown.contains("never written into the config"), "{shown}");
}

#[test]
fn the_port_defaults_by_tls_mode_and_can_be_set() {
    let port = |mail: &str| smtp(mail).port;
    assert_eq!(
        port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"implicit\""),
        465
    );
    assert_eq!(
        port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"none\""),
        25
    );
    assert_eq!(
        port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nport = 2525"),
        2525
    );
    let smtp = smtp("transport = \"smtp\"\nhost = \"::1\"\ntls = \"none\"\ntimeout = \"10s\"");
    assert_eq!(smtp.timeout, Duration::from_secs(10));
    assert_eq!(smtp.relay(), "[::1]:25");
}

#[test]
fn tls_is_required_and_never_guessed() {
    let (line, key, message) = error("transport = \"smtp\"\nhost = \"relay\"\nport = 465");
    assert_eq!((line, key.as_str()), (Some(7), "mail.tls"));
    assert!(
        message.contains("is not guessed from the port"),
        "{message}"
    );

    let Err(errors) = parse_mail("transport = \"smtp\"\nhost = \"relay\"\ntls = \"ssl\"") else {
        panic!("`ssl` is not a tls mode");
    };
    let text = errors.to_string();
    assert!(text.contains("dutywatch.toml:9"), "{text}");
    assert!(
        text.contains("starttls") && text.contains("implicit"),
        "{text}"
    );
}

#[test]
fn host_is_required_and_bare() {
    let (line, key, _) = error("transport = \"smtp\"\ntls = \"starttls\"");
    assert_eq!((line, key.as_str()), (Some(7), "mail.host"));
    for (host, says) in [
        ("smtps://smtp.example.com", "is a URL"),
        ("smtp.example.com:587", "give the port separately"),
        ("[::1]", "without brackets"),
        ("", "is empty"),
    ] {
        let (line, key, message) = error(&format!(
            "transport = \"smtp\"\ntls = \"starttls\"\nhost = \"{host}\""
        ));
        assert_eq!((line, key.as_str()), (Some(9), "mail.host"), "{host}");
        assert!(message.contains(says), "{host}: {message}");
    }
}

#[test]
fn username_and_password_come_together() {
    let (line, key, message) =
        error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nusername = \"dw\"");
    assert_eq!((line, key.as_str()), (Some(10), "mail.password"));
    assert!(
        message.contains("`username` is set but `password` is not"),
        "{message}"
    );

    let (line, key, message) = error(
        "transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\npassword = { env = \"SMTP_PASSWORD\" }",
    );
    assert_eq!((line, key.as_str()), (Some(10), "mail.username"));
    assert!(
        message.contains("`password` is set but `username` is not"),
        "{message}"
    );
}

#[test]
fn a_password_in_clear_text_goes_only_to_this_host() {
    let login = "username = \"dw\"\npassword = { env = \"SMTP_PASSWORD\" }";
    let (line, key, message) = error(&format!(
        "transport = \"smtp\"\nhost = \"smtp.example.com\"\ntls = \"none\"\n{login}"
    ));
    assert_eq!((line, key.as_str()), (Some(9), "mail.tls"));
    assert!(
        message.contains("send the password in clear text to `smtp.example.com`"),
        "{message}"
    );
    for host in ["localhost", "127.0.0.1", "127.0.0.2", "::1"] {
        let smtp = smtp(&format!(
            "transport = \"smtp\"\nhost = \"{host}\"\ntls = \"none\"\n{login}"
        ));
        assert!(smtp.login.is_some(), "{host}");
    }
    // Without a password there is nothing to leak but the mail itself,
    // which an MTA relaying on port 25 sees anyway.
    assert!(
        smtp("transport = \"smtp\"\nhost = \"mx.example.com\"\ntls = \"none\"")
            .login
            .is_none()
    );
}

#[test]
fn a_missing_credential_fails_the_load_and_names_it() {
    let (line, key, message) = error(
        "transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nusername = \"dw\"\npassword = { credential = \"smtp-password\" }",
    );
    assert_eq!((line, key.as_str()), (Some(11), "mail.password"));
    assert_eq!(
        message,
        "cannot resolve the SMTP password: credential smtp-password needs $CREDENTIALS_DIRECTORY, \
         which is not set; add LoadCredential=smtp-password:<path> to the systemd unit"
    );
}

#[test]
fn keys_of_the_other_transport_are_named() {
    let (line, key, message) = error("transport = \"file\"\nhost = \"relay\"");
    assert_eq!((line, key.as_str()), (Some(8), "mail.host"));
    assert_eq!(
        message,
        "`host` does not apply to transport = \"file\" (it takes: dir)"
    );
    let (_, key, message) =
        error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ndir = \"outbox\"");
    assert_eq!(key, "mail.dir");
    assert!(
        message.starts_with("`dir` does not apply to transport = \"smtp\""),
        "{message}"
    );
}

#[test]
fn port_and_timeout_must_be_usable() {
    let (_, key, _) = error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nport = 0");
    assert_eq!(key, "mail.port");
    let (_, key, message) =
        error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ntimeout = \"6m\"");
    assert_eq!(key, "mail.timeout");
    assert!(message.contains("out of range"), "{message}");
    // Zero is no period at all; the parser says so, with the line.
    let Err(errors) =
        parse_mail("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ntimeout = \"0s\"")
    else {
        panic!("a zero timeout must fail");
    };
    assert!(errors.to_string().contains("longer than zero"), "{errors}");
}

#[test]
fn toml_errors_are_placed_under_their_table_and_key() {
    let text = "timezone = \"UTC\"\n[mail]\nfrom = \"x\"\n\n[[contractor.duty]]\nid = \"é\"\n  every = 3\n";
    let at = |needle: &str| text.find(needle).unwrap();
    assert_eq!(toml_key_at(text, at("timezone")), "timezone");
    assert_eq!(toml_key_at(text, at("from")), "mail.from");
    assert_eq!(toml_key_at(text, at("[[contractor")), "contractor.duty");
    assert_eq!(toml_key_at(text, at("every")), "contractor.duty.every");
    // Offsets inside a character or past the end never panic.
    assert_eq!(toml_key_at(text, at("é") + 1), "contractor.duty");
    assert_eq!(toml_key_at(text, text.len() + 10), "contractor.duty");
}

#[test]
fn contact_roles_fall_back_to_the_role_below_and_msp_roles_to_the_msp_table() {
    let text = text(r#"transport = "file""#)
        .replace(
            r#"contacts = ["soc@keystone.example"]"#,
            "contacts = [\"soc@keystone.example\"]\nmanagement_contacts = [\"ceo@keystone.example\"]",
        )
        .replace(
            r#"contacts = ["it@acme.example"]"#,
            "contacts = [\"it@acme.example\"]\nbackup_contacts = [\"deputy@acme.example\"]",
        );
    let config = match parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let acme = &config.contractors[0];
    let at = |party, role| -> Vec<String> {
        acme.contacts_at(party, role)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        at(Party::Contractor, ContactRole::Primary),
        ["it@acme.example"]
    );
    assert_eq!(
        at(Party::Contractor, ContactRole::Backup),
        ["deputy@acme.example"]
    );
    // Nobody named for management: the backups hear it.
    assert_eq!(
        at(Party::Contractor, ContactRole::Management),
        ["deputy@acme.example"]
    );
    // The MSP side: no backups anywhere, so its primary contacts; management from [msp].
    assert_eq!(
        at(Party::Msp, ContactRole::Backup),
        ["soc@keystone.example"]
    );
    assert_eq!(
        at(Party::Msp, ContactRole::Management),
        ["ceo@keystone.example"]
    );
}

#[test]
fn a_relative_secret_file_is_read_from_the_configs_directory() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp-password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = text(
        r#"transport = "smtp"
host = "smtp.example.com"
tls = "starttls"
username = "dutywatch@acme.example"
password = { file = "smtp-password" }"#,
    );
    let config = match parse_with_env(&dir.path().join("dutywatch.toml"), &text, &env) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let Transport::Smtp(smtp) = config.mail.transport else {
        panic!("smtp")
    };
    let login = smtp.login.expect("a login");
    assert_eq!(login.password.secret().expect("read").expose(), PASSWORD);
}

/// An MSP config of `clients` (each a `[[contractor]]` block as written).
fn msp_text(clients: &[&str]) -> String {
    let mut text = text("transport = \"file\"\ndir = \"outbox\"")
        .replace("perspective = \"contractor\"", "perspective = \"msp\"");
    // Drop the one contractor `text` carries: the clients are given.
    let cut = text.find("[[contractor]]").unwrap();
    text.truncate(cut);
    for client in clients {
        text.push_str(client);
    }
    text
}

fn client(id: &str, extra: &str) -> String {
    format!(
        r#"
[[contractor]]
id = "{id}"
name = "Client {id}"
contacts = ["it@{id}.example"]
{extra}
[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"
"#
    )
}

#[test]
fn two_broken_clients_and_a_broken_one_before_a_good_one_are_each_their_own_problem() {
    let a = client("acme", "");
    let b = client("birch", "colour = \"red\"");
    let c = client("cedar", "contacts_extra = 5");
    let d = client("dune", "");
    let e = client("elm", "packages = \"basic\"");
    let text = msp_text(&[&a, &b, &c, &d]);
    let config = parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["acme", "dune"]);
    let q: Vec<(&str, &str)> = config
        .quarantined
        .iter()
        .map(|q| (q.id.as_str(), q.name.as_str()))
        .collect();
    assert_eq!(q, [("birch", "Client birch"), ("cedar", "Client cedar")]);
    let birch = config.quarantined[0].errors[0].to_string();
    let cedar = config.quarantined[1].errors[0].to_string();
    assert!(birch.contains("colour"), "{birch}");
    assert!(cedar.contains("contacts_extra"), "{cedar}");
    // Line numbers point into each client's own block.
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].lines().count() + 1;
    assert_eq!(
        config.quarantined[0].errors[0].line,
        Some(line_of("colour")),
        "{birch}"
    );
    assert_eq!(
        config.quarantined[1].errors[0].line,
        Some(line_of("contacts_extra")),
        "{cedar}"
    );
    // A wrong type (a duplicate key) in one, then a good one.
    let text = msp_text(&[&a, &e, &d]);
    let result = parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env);
    match result {
        Ok(config) => {
            let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["acme", "dune"]);
            assert_eq!(config.quarantined.len(), 1);
            assert_eq!(config.quarantined[0].id, "elm");
        }
        Err(e) => panic!("whole config failed: {e}"),
    }
}

/// A second block with a client's id says which line the first one is on, for a file with
/// hundreds of clients, saved with either line ending.
#[test]
fn a_duplicate_client_id_names_the_line_of_the_first() {
    let (good, refused) = (client("acme", ""), client("acme", "colour = 1"));
    let pairs = [(&good, &good), (&good, &refused), (&refused, &good)];
    for ((first, second), crlf) in pairs.into_iter().flat_map(|p| [(p, false), (p, true)]) {
        let text = msp_text(&[first, &client("birch", ""), second]);
        let text = if crlf {
            text.replace('\n', "\r\n")
        } else {
            text
        };
        let first = text
            .lines()
            .position(|line| line == "id = \"acme\"")
            .unwrap()
            + 1;
        let errors = match parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env) {
            Ok(_) => panic!("loaded with two clients `acme`"),
            Err(errors) => errors.to_string(),
        };
        assert!(
            errors.contains(&format!(
                "contractor `acme` is configured twice (the first is at line {first})"
            )),
            "{errors}"
        );
    }
}

/// A refused block with the id of a client that loads: before, `configured twice` failed the
/// file; now `acme` both loads and is quarantined (and `keep_last_good` adds a second `acme`).
#[test]
fn a_refused_block_with_a_loaded_clients_id_is_a_duplicate() {
    let a = client("acme", "");
    let dup = client("acme", "colour = 1");
    let text = msp_text(&[&a, &dup]);
    match parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env) {
        Ok(config) => {
            let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
            let q: Vec<&str> = config.quarantined.iter().map(|q| q.id.as_str()).collect();
            panic!("contractors {ids:?} quarantined {q:?}: the duplicate id is not told");
        }
        Err(e) => assert!(e.to_string().contains("configured twice"), "{e}"),
    }
}

#[test]
fn a_refused_block_without_a_readable_id_fails_the_whole_config() {
    let a = client("acme", "");
    let broken = client("birch", "colour = 1").replace("id = \"birch\"", "id = 7");
    let text = msp_text(&[&a, &broken]);
    let errors = match parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &env) {
        Ok(config) => panic!("loaded, quarantining {:?}", config.quarantined.len()),
        Err(errors) => errors.to_string(),
    };
    assert!(
        errors.contains("this client's block has no readable `id`"),
        "{errors}"
    );
}
