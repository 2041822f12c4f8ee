//! The two parties a CRM splits the work between.

use std::fmt;
use std::str::FromStr;

/// The contractor that holds the contract (and always the accountability)
/// or the managed service provider that does part of the work.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    Contractor,
    Msp,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Contractor => "contractor",
            Party::Msp => "msp",
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a party: write `contractor` or `msp`")]
pub struct ParsePartyError(String);

impl FromStr for Party {
    type Err = ParsePartyError;

    fn from_str(text: &str) -> Result<Party, ParsePartyError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "contractor" => Ok(Party::Contractor),
            "msp" => Ok(Party::Msp),
            _ => Err(ParsePartyError(text.to_owned())),
        }
    }
}
