//! Service packages that nest: Premium includes Basic, so a client holding Premium holds
//! Basic's rows too. Names compare without case.

use std::fmt;

/// One `[[package]]`: its name and the packages it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDef {
    pub name: String,
    pub includes: Vec<String>,
}

/// A package name that is neither defined nor used by any CRM row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageError {
    pub name: String,
    /// The known names, sorted, as first spelled.
    pub known: Vec<String>,
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.known.is_empty() {
            write!(
                f,
                "package `{}` is unknown: no package is defined",
                self.name
            )
        } else {
            write!(
                f,
                "package `{}` is unknown; known packages: {}",
                self.name,
                self.known.join(", ")
            )
        }
    }
}

/// The packages `held` stands for: each one and everything it includes, transitively
/// (a cycle simply ends), in the order first reached. Names are trimmed and compared without
/// case; each comes back once, as `held` or the definition spells it.
///
/// With `known` non-empty (the defined packages and those CRM rows name), a held or included
/// name outside it is an error; all of them are returned.
pub fn expand_packages(
    held: &[String],
    defs: &[PackageDef],
    known: &[String],
) -> Result<Vec<String>, Vec<PackageError>> {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let mut known_names: Vec<String> = known
        .iter()
        .chain(defs.iter().map(|d| &d.name))
        .chain(defs.iter().flat_map(|d| &d.includes))
        .map(|n| n.trim().to_owned())
        .collect();
    known_names.sort_by_key(|n| n.to_lowercase());
    known_names.dedup_by(|a, b| same(a, b));
    let mut errors = Vec::new();
    let check = |name: &str, errors: &mut Vec<PackageError>| {
        if !known_names.is_empty()
            && !known_names.iter().any(|k| same(k, name))
            && !errors.iter().any(|e: &PackageError| same(&e.name, name))
        {
            errors.push(PackageError {
                name: name.trim().to_owned(),
                known: known_names.clone(),
            });
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut queue: Vec<String> = held.iter().map(|h| h.trim().to_owned()).collect();
    queue.reverse();
    while let Some(name) = queue.pop() {
        if name.is_empty() || out.iter().any(|o| same(o, &name)) {
            continue;
        }
        check(&name, &mut errors);
        if let Some(def) = defs.iter().find(|d| same(&d.name, &name)) {
            queue.extend(def.includes.iter().rev().map(|i| i.trim().to_owned()));
        }
        out.push(name);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
