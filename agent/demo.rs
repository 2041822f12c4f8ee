//! `dutywatch demo`: the bundled demo, runnable with no credentials and no
//! network.
//!
//! Evidence files in the demo are templates: `{{now-20d}}` and friends are
//! replaced with instants relative to the moment the demo runs, so it always
//! shows a mix of met, due-soon, lapsed and missing evidence, however old
//! the checkout is. Forms: `{{now}}`, `{{now-20d}}`, `{{now+3h}}` (RFC 3339),
//! `{{date:now-20d}}` (a bare date) and `{{epoch:now-2d}}` (Unix seconds as
//! a float, as NinjaOne sends them). A file listed in `demo.toml` under
//! `[modified]` gets that modification time, to show stale evidence.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dutywatch_checks::library::Outcome;
use dutywatch_checks::party::Party;
use dutywatch_checks::period::Period;
use jiff::{SignedDuration, Timestamp};

/// Renders `from` into `out` (replacing it), evidence dated relative to `now`, and runs one
/// cycle there as of `now`.
pub fn run(from: &Path, out: &Path, now: Timestamp) -> anyhow::Result<ExitCode> {
    let config = from.join("dutywatch.toml");
    if !config.is_file() {
        bail!(
            "no demo at `{}`: run this from the dutywatch checkout, or pass --from <dir>",
            from.display()
        );
    }
    let now = Timestamp::from_second(now.as_second())?;
    crate::out_dir::clear_previous(out, MARKER, "dutywatch demo")?;
    // Marked before anything else lands, so even a half-rendered demo can be replaced.
    std::fs::create_dir_all(out).with_context(|| format!("creating `{}`", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "rendered by `dutywatch demo`; replaced on the next run\n",
    )
    .with_context(|| format!("writing `{}`", out.join(MARKER).display()))?;
    render_into(from, out, now)?;
    let attested = attest(out, now)?;
    println!(
        "demo rendered into {} as of {now}, {attested} piece(s) of hand-added evidence recorded\n",
        out.display()
    );
    let code = crate::cli::once(
        &out.join("dutywatch.toml"),
        Some(now),
        false,
        &crate::clock::FixedClock(now),
    )?;
    // The status `once` printed ends with the open incidents' 72-hour clocks.
    let mails = out.join("outbox");
    let count = std::fs::read_dir(&mails).map(|d| d.count()).unwrap_or(0);
    println!(
        "\n{count} escalation mail(s) written to {}",
        mails.display()
    );
    println!(
        "re-run `dutywatch once --config {}` to see that no mail is sent twice",
        out.join("dutywatch.toml").display()
    );
    for page in write_digest_previews(out, now)? {
        println!("weekly digest preview: file://{}", page.display());
    }
    Ok(code)
}

/// The demo's weekly digest of each party as an HTML page in `out` (what
/// `dutywatch digest --preview --html` writes); returns the pages written.
pub fn write_digest_previews(out: &Path, now: Timestamp) -> anyhow::Result<Vec<PathBuf>> {
    let config =
        crate::config::load_with(&out.join("dutywatch.toml"), crate::config::Secrets::Skip)
            .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let store = crate::store::Store::open_read_only(&config.database)?;
    let out = std::path::absolute(out).with_context(|| format!("resolving `{}`", out.display()))?;
    let mut pages = Vec::new();
    for contractor in &config.contractors {
        for party in [Party::Contractor, Party::Msp] {
            let digest = crate::digest::build(&config, &store, contractor, party, now)?;
            let page = out.join(format!("digest-{party}.html"));
            std::fs::write(&page, crate::digest::render_html(&digest))
                .with_context(|| format!("writing `{}`", page.display()))?;
            pages.push(page);
        }
    }
    Ok(pages)
}

/// Renders the demo at `from` into `out` as of `now`: evidence dated relative to `now`, and
/// the modification times `demo.toml` gives. Tests render it at fixed instants.
pub fn render_into(from: &Path, out: &Path, now: Timestamp) -> anyhow::Result<()> {
    render_tree(from, out, now)?;
    add_cmmc_status(out, now)?;
    apply_modified_times(out, now)
}

/// Adds `demo.toml`'s `[cmmc]` to the rendered config as its contractor's `[contractor.cmmc]`
/// (the file's last table header names the one contractor, whatever tables follow it).
fn add_cmmc_status(out: &Path, now: Timestamp) -> anyhow::Result<()> {
    let Some(DemoManifest {
        cmmc: Some(cmmc), ..
    }) = manifest(out)?
    else {
        return Ok(());
    };
    let date = |relative: &str| token(&format!("date:{relative}"), now);
    let table = format!(
        "\n# Added by `dutywatch demo` from demo.toml's [cmmc], dated from the run.\n\
         [contractor.cmmc]\n\
         conditional_status_date = \"{}\"\n\
         last_affirmation_date = \"{}\"\n\
         affirming_official = {}\n",
        date(&cmmc.conditional_status_date)?,
        date(&cmmc.last_affirmation_date)?,
        toml::Value::String(cmmc.affirming_official.clone()),
    );
    let path = out.join("dutywatch.toml");
    let mut file = std::fs::File::options()
        .append(true)
        .open(&path)
        .with_context(|| format!("opening `{}`", path.display()))?;
    std::io::Write::write_all(&mut file, table.as_bytes())
        .with_context(|| format!("writing `{}`", path.display()))
}

/// Marks a directory as the demo's own, so a later run may replace it.
const MARKER: &str = ".dutywatch-demo";

fn render_tree(from: &Path, to: &Path, now: Timestamp) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating `{}`", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading `{}`", from.display()))? {
        let entry = entry?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            render_tree(&path, &target, now)?;
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("reading `{}`", path.display()))?;
        let rendered = match String::from_utf8(bytes) {
            Ok(text) => render(&text, now)
                .with_context(|| format!("rendering `{}`", path.display()))?
                .into_bytes(),
            Err(binary) => binary.into_bytes(),
        };
        std::fs::write(&target, rendered)
            .with_context(|| format!("writing `{}`", target.display()))?;
        // An export rendered as of `now` speaks for `now` (demo.toml may date it otherwise).
        std::fs::File::options()
            .write(true)
            .open(&target)
            .and_then(|file| file.set_modified(std::time::SystemTime::from(now)))
            .with_context(|| format!("dating `{}`", target.display()))?;
    }
    Ok(())
}

/// Replaces every `{{…}}` token in `text`.
pub fn render(text: &str, now: Timestamp) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").context("a `{{` is not closed with `}}`")?;
        out.push_str(&token(after[..end].trim(), now)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn token(token: &str, now: Timestamp) -> anyhow::Result<String> {
    let (form, instant) = token.split_once(':').unwrap_or(("", token));
    let at = instant_at(instant, now)?;
    Ok(match form {
        "" => at.to_string(),
        "date" => at.strftime("%Y-%m-%d").to_string(),
        "epoch" => format!("{}.0", at.as_second()),
        other => bail!("unknown form `{other}` in `{{{{{token}}}}}`: use date: or epoch:"),
    })
}

fn instant_at(text: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    let Some(offset) = text.strip_prefix("now") else {
        bail!("`{text}` must start with `now`");
    };
    if offset.is_empty() {
        return Ok(now);
    }
    let (sign, period) = if let Some(period) = offset.strip_prefix('+') {
        (1, period)
    } else if let Some(period) = offset.strip_prefix('-') {
        (-1, period)
    } else {
        bail!("`{text}`: write now+<duration> or now-<duration>")
    };
    let period: Period = period.parse()?;
    Ok(now.checked_add(SignedDuration::from_secs(sign * period.as_secs()))?)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoManifest {
    #[serde(default)]
    modified: std::collections::BTreeMap<String, String>,
    /// Hand-added evidence the demo records before its cycle, as `evidence add` would.
    #[serde(default)]
    attestation: Vec<DemoAttestation>,
    /// The contractor's CMMC status, dated from the run.
    cmmc: Option<DemoCmmc>,
}

/// `[cmmc]` of `demo.toml`: the rendered config's `[contractor.cmmc]`, its dates relative to
/// the run (`now-160d`). Kept out of the demo's `dutywatch.toml`, which loads as shipped.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoCmmc {
    conditional_status_date: String,
    last_affirmation_date: String,
    affirming_official: String,
}

/// One `[[attestation]]` of `demo.toml`: a file of the demo added to a manual duty.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoAttestation {
    duty: String,
    file: String,
    /// `now-20d`.
    done: String,
    by: String,
    note: Option<String>,
    /// For a verification of the MSP: what was looked at, and `satisfied` or `not_satisfied`.
    looked_at: Option<String>,
    outcome: Option<String>,
}

fn manifest(out: &Path) -> anyhow::Result<Option<DemoManifest>> {
    let path = out.join("demo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading `{}`", path.display())),
    };
    toml::from_str(&text)
        .map(Some)
        .with_context(|| format!("reading `{}`", path.display()))
}

/// Records the demo's `[[attestation]]`s in the rendered demo's database, through the same
/// path as `dutywatch evidence add`, so the library's duties show met and a verification's
/// finding next to the ones nobody attested yet.
fn attest(out: &Path, now: Timestamp) -> anyhow::Result<usize> {
    let Some(manifest) = manifest(out)? else {
        return Ok(0);
    };
    if manifest.attestation.is_empty() {
        return Ok(0);
    }
    let config_path = out.join("dutywatch.toml");
    let config = crate::config::load_with(&config_path, crate::config::Secrets::Skip)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let contractor = config
        .contractors
        .first()
        .context("the demo config has no contractor")?;
    let mut store = crate::store::Store::open(&config.database)?;
    for entry in &manifest.attestation {
        let outcome = match entry.outcome.as_deref() {
            None => None,
            Some("satisfied") => Some(Outcome::Satisfied),
            Some("not_satisfied") => Some(Outcome::NotSatisfied),
            Some(other) => bail!(
                "demo.toml: attestation of `{}`: outcome `{other}` is neither `satisfied` nor `not_satisfied`",
                entry.duty
            ),
        };
        let note = crate::manual::ManualNote {
            note: entry.note.clone(),
            by: Some(entry.by.clone()),
            done_at: Some(instant_at(&entry.done, now)?),
            verification: (entry.looked_at.clone(), outcome),
        };
        crate::manual::add(
            &mut store,
            contractor,
            &entry.duty,
            &out.join(&entry.file),
            note,
            now,
        )
        .with_context(|| format!("demo.toml: attestation of `{}`", entry.duty))?;
    }
    Ok(manifest.attestation.len())
}

fn apply_modified_times(out: &Path, now: Timestamp) -> anyhow::Result<()> {
    let Some(manifest) = manifest(out)? else {
        return Ok(());
    };
    for (file, when) in manifest.modified {
        let at = instant_at(&when, now)?;
        let path = out.join(&file);
        let handle = std::fs::File::options()
            .write(true)
            .open(&path)
            .with_context(|| format!("opening `{}`", path.display()))?;
        handle
            .set_modified(std::time::SystemTime::from(at))
            .with_context(|| format!("dating `{}`", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_relative_instants_in_three_forms() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let text = "a={{now-20d}} b={{ date:now+1d }} c={{epoch:now-1h}} d={{now}}";
        assert_eq!(
            render(text, now).unwrap(),
            "a=2026-11-03T12:00:00Z b=2026-11-24 c=1795431600.0 d=2026-11-23T12:00:00Z"
        );
        assert!(render("{{later}}", now).is_err());
        assert!(render("{{now-3x}}", now).is_err());
        assert!(render("{{now", now).is_err());
        assert!(render("{{now€3d}}", now).is_err(), "multibyte after now");
        assert!(render("{{nowé}}", now).is_err());
    }

    #[test]
    fn replaces_only_a_directory_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        crate::out_dir::clear_previous(&out, MARKER, "dutywatch demo").unwrap();

        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("thesis.tex"), "years of work").unwrap();
        let error = crate::out_dir::clear_previous(&out, MARKER, "dutywatch demo")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("was not made by `dutywatch demo`"),
            "{error}"
        );
        assert!(out.join("thesis.tex").exists());

        std::fs::write(out.join(MARKER), "").unwrap();
        crate::out_dir::clear_previous(&out, MARKER, "dutywatch demo").unwrap();
        assert!(!out.exists());
    }
}
