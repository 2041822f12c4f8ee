//! The words real CRMs use: header aliases for our columns and owner words for
//! [`Responsibility`], both extendable by the config.
//!
//! Headers and words are compared after [`header_key`] / [`word_key`], so case, spaces and
//! punctuation never matter (`Control ID`, `control_id` and `CONTROL-ID` are one header).

use std::fmt;

use super::Responsibility;

/// A CRM field, as the config's `[contractor.crm_columns]` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrmColumn {
    Id,
    Owner,
    ContractorDoes,
    MspDoes,
    EvidenceProducer,
    Verification,
    Package,
    Justification,
}

impl CrmColumn {
    pub const ALL: [CrmColumn; 8] = [
        Self::Id,
        Self::Owner,
        Self::ContractorDoes,
        Self::MspDoes,
        Self::EvidenceProducer,
        Self::Verification,
        Self::Package,
        Self::Justification,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Owner => "owner",
            Self::ContractorDoes => "contractor_does",
            Self::MspDoes => "msp_does",
            Self::EvidenceProducer => "evidence_producer",
            Self::Verification => "verification",
            Self::Package => "package",
            Self::Justification => "justification",
        }
    }

    /// The column a config key names (exactly our spelling, ignoring case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|column| column.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The headers seen in real CRMs for this column, besides its own name.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Id => &[
                "ref",
                "reference",
                "control",
                "control id",
                "control number",
                "requirement",
                "requirement id",
                "security requirement",
                "practice",
                "practice id",
                "objective",
                "objective id",
            ],
            Self::Owner => &[
                "responsibility",
                "responsible",
                "responsible?",
                "responsible party",
                "control responsibility",
                "control origination",
                "inheritance",
                "inheritance type",
                "can be inherited",
                "can be inherited from csp",
                "can be inherited from provider",
                "inheritable",
            ],
            Self::ContractorDoes => &[
                "contractor responsibility",
                "customer responsibility",
                "customer responsibilities",
                "osa responsibility",
                "what you do",
            ],
            Self::MspDoes => &[
                "msp responsibility",
                "provider responsibility",
                "provider responsibilities",
                "service provider responsibility",
                "csp responsibility",
                "esp responsibility",
                "what the provider does",
            ],
            Self::EvidenceProducer => &["evidence by", "evidence provided by", "evidence party"],
            Self::Verification => &[
                "contractor verification",
                "customer verification",
                "verification method",
                "how verified",
            ],
            Self::Package => &["service package", "service tier", "tier"],
            Self::Justification => &["rationale", "reason", "n/a justification"],
        }
    }
}

impl fmt::Display for CrmColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A header as compared: lowercase letters and digits only.
pub fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The column a header means by our name or a built-in alias. A provider's name appended in
/// parentheses (`Customer Responsibility (Acme Cloud)`) is ignored.
pub(super) fn builtin_column(header: &str) -> Option<CrmColumn> {
    let find = |key: &str| {
        CrmColumn::ALL.into_iter().find(|column| {
            header_key(column.name()) == key
                || column
                    .aliases()
                    .iter()
                    .any(|alias| header_key(alias) == key)
        })
    };
    let key = header_key(header);
    if key.is_empty() {
        return None;
    }
    find(&key)
        .or_else(|| {
            let (base, _) = header.trim().split_once(['(', '['])?;
            let base = header_key(base);
            (!base.is_empty()).then(|| find(&base)).flatten()
        })
        .or_else(|| {
            // `What <platform> provides`
            (key.starts_with("what") && key.ends_with("provides")).then_some(CrmColumn::MspDoes)
        })
}

/// Whether an owner column headed `header` is FedRAMP's "can be inherited" drop-down, where
/// `Yes` means the provider does it and `No` that the customer does.
pub(super) fn is_inheritance_header(header: &str) -> bool {
    let key = header_key(header);
    key.starts_with("canbeinherited") || key == "inheritable"
}

/// An owner word as compared: lowercase words separated by single spaces (`N/A` is `n a`).
pub fn word_key(word: &str) -> String {
    word.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Built-in owner words. `Service Provider Hybrid` is the provider's alone (both of its
/// layers), not shared with the customer.
const BUILTIN_WORDS: &[(&str, Responsibility)] = {
    use Responsibility::{Contractor as C, Msp as M, NotApplicable as N, Shared as S};
    &[
        ("contractor", C),
        ("customer", C),
        ("OSA", C),
        ("Customer Only", C),
        ("Customer Configured", C),
        ("Configured by Customer", C),
        ("Customer Provided", C),
        ("Provided by Customer", C),
        ("None", C),
        ("msp", M),
        ("provider", M),
        ("service provider", M),
        ("ESP", M),
        ("CSP", M),
        ("Full", M),
        ("Inherited", M),
        ("Inheritable", M),
        ("Google Inherited", M),
        ("Inherited from Pre-Existing Authorization", M),
        ("Service Provider Corporate", M),
        ("Service Provider System Specific", M),
        ("Service Provider Hybrid", M),
        ("sp-corporate", M),
        ("sp-system", M),
        ("shared", S),
        ("hybrid", S),
        ("partial", S),
        ("both", S),
        ("Shared (Customer and Provider)", S),
        ("Shared (Service Provider and Customer Responsibility)", S),
        ("not_applicable", N),
        ("N/A", N),
        ("NA", N),
    ]
};

/// Words that are owners only in a "can be inherited" column.
const INHERITANCE_WORDS: &[(&str, Responsibility)] = &[
    ("Yes", Responsibility::Msp),
    ("No", Responsibility::Contractor),
];

/// The owner words one CRM source accepts: the built-in ones, the config's own (which win),
/// and `Yes`/`No` when the owner column is a "can be inherited" column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerWords {
    /// The config's `[contractor.crm_owner_words]`, word → owner.
    pub extra: Vec<(String, Responsibility)>,
    /// Whether `Yes`/`No` are read (FedRAMP's "can be inherited from the provider").
    pub inheritance_column: bool,
}

impl OwnerWords {
    pub fn lookup(&self, text: &str) -> Option<Responsibility> {
        let key = word_key(text);
        fn find<'a>(
            mut words: impl Iterator<Item = (&'a str, Responsibility)>,
            key: &str,
        ) -> Option<Responsibility> {
            words
                .find(|(word, _)| word_key(word) == key)
                .map(|(_, r)| r)
        }
        find(self.extra.iter().map(|(w, r)| (w.as_str(), *r)), &key)
            .or_else(|| find(BUILTIN_WORDS.iter().copied(), &key))
            .or_else(|| {
                self.inheritance_column
                    .then(|| find(INHERITANCE_WORDS.iter().copied(), &key))
                    .flatten()
            })
    }

    /// Whether `text` would be an owner in a "can be inherited" column.
    pub(super) fn only_in_inheritance_column(&self, text: &str) -> bool {
        let key = word_key(text);
        !self.inheritance_column && INHERITANCE_WORDS.iter().any(|(w, _)| word_key(w) == key)
    }

    /// Every accepted word, grouped by owner: `contractor: contractor, customer, …; msp: …`.
    pub fn accepted(&self) -> String {
        let owners = [
            Responsibility::Contractor,
            Responsibility::Msp,
            Responsibility::Shared,
            Responsibility::NotApplicable,
        ];
        owners
            .iter()
            .map(|owner| {
                let mut words: Vec<&str> = self
                    .extra
                    .iter()
                    .map(|(w, r)| (w.as_str(), *r))
                    .chain(BUILTIN_WORDS.iter().copied())
                    .chain(
                        INHERITANCE_WORDS
                            .iter()
                            .copied()
                            .filter(|_| self.inheritance_column),
                    )
                    .filter(|(_, r)| r == owner)
                    .map(|(w, _)| w)
                    .collect();
                words.dedup_by(|a, b| word_key(a) == word_key(b));
                format!("{owner}: {}", words.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
