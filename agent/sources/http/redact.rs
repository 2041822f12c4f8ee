//! Server text as an error quotes it: every secret of the request taken out, should the
//! server (or a proxy before it) echo one, and cut to a readable length. [`Secrets`] is built
//! from the request's credential and the token it carried, so a call site names the request,
//! not each secret, and cannot leave one out.

use std::sync::Arc;

use super::ClientCredentials;
use super::fetch::Auth;
use crate::secret::Secret;

/// Everything secret one request carried: the client secret, the bearer token, the API key
/// or header value, a Basic password with `username:password` and its base64.
#[derive(Debug)]
pub(crate) struct Secrets<'a> {
    held: Vec<Held<'a>>,
}

#[derive(Debug)]
enum Held<'a> {
    Borrowed(&'a Secret),
    Shared(Arc<Secret>),
    Owned(Secret),
}

impl Held<'_> {
    fn expose(&self) -> &str {
        match self {
            Held::Borrowed(secret) => secret.expose(),
            Held::Shared(secret) => secret.expose(),
            Held::Owned(secret) => secret.expose(),
        }
    }
}

impl<'a> Secrets<'a> {
    /// For tests of the quoting itself.
    #[cfg(test)]
    pub(crate) fn none() -> Secrets<'static> {
        Secrets { held: Vec::new() }
    }

    /// An OAuth client's: its client secret and, once one was issued, the bearer `token`.
    pub(crate) fn client(
        credentials: &ClientCredentials<'a>,
        token: Option<&Arc<Secret>>,
    ) -> Secrets<'a> {
        let mut held = vec![Held::Borrowed(credentials.secret)];
        held.extend(token.map(|token| Held::Shared(Arc::clone(token))));
        Secrets { held }
    }

    /// Whatever `auth` puts on a request, with the bearer `token` of an OAuth one.
    pub(crate) fn of(auth: &Auth<'a>, token: Option<&Arc<Secret>>) -> Secrets<'a> {
        match auth {
            Auth::OAuth(credentials) => Secrets::client(credentials, token),
            Auth::Header { secret, .. } => Secrets {
                held: vec![Held::Borrowed(secret)],
            },
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let pair = format!("{username}:{}", password.expose());
                let mut held = vec![Held::Borrowed(password)];
                for engine in [
                    base64::engine::general_purpose::STANDARD,
                    base64::engine::general_purpose::STANDARD_NO_PAD,
                ] {
                    held.push(Held::Owned(Secret::new(engine.encode(&pair))));
                }
                held.push(Held::Owned(Secret::new(pair)));
                Secrets { held }
            }
        }
    }
}

/// A server's text as quoted in an error: every one of `secrets` taken out should the server
/// echo it, cut to a readable length.
pub(crate) fn quote(text: &str, secrets: &Secrets<'_>) -> String {
    let mut text = text.trim().to_owned();
    // As sent (a form-encoded body, which a server or proxy may echo: an Entra secret's `~`
    // travels as `%7E`) as well as it is; the longest first, so that a secret holding
    // another is taken out whole.
    let mut forms: Vec<String> = secrets
        .held
        .iter()
        .map(Held::expose)
        .filter(|secret| !secret.is_empty())
        .flat_map(encoded_forms)
        .collect();
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    for form in forms {
        text = text.replace(&form, "[redacted]");
    }
    let mut text = dutywatch_checks::printable::printable(&text).into_owned();
    const MAX: usize = 300;
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// `secret` as it is and as a form body or URL carries it (`application/x-www-form-urlencoded`,
/// and percent-encoding with `%20`), in upper- and lower-case hex, longest first.
fn encoded_forms(secret: &str) -> Vec<String> {
    // `keep`: the bytes left as they are besides letters and digits.
    let encode = |keep: &[u8], space: &str, hex_upper: bool| {
        let mut out = String::new();
        for byte in secret.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(char::from(byte)),
                _ if keep.contains(&byte) => out.push(char::from(byte)),
                b' ' => out.push_str(space),
                _ if hex_upper => out.push_str(&format!("%{byte:02X}")),
                _ => out.push_str(&format!("%{byte:02x}")),
            }
        }
        out
    };
    // A form body (WHATWG), and RFC 3986's unreserved set (JavaScript's encodeURIComponent,
    // Python's quote): `~` as it is, `*` encoded.
    const FORM: &[u8] = b"*-._";
    const URI: &[u8] = b"-._~";
    let mut forms = vec![secret.to_owned(), secret.replace('/', "\\/")];
    for hex_upper in [true, false] {
        forms.push(encode(FORM, "+", hex_upper));
        forms.push(encode(FORM, "%20", hex_upper));
        forms.push(encode(URI, "%20", hex_upper));
        forms.push(encode(URI, "+", hex_upper));
    }
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Secrets` holding `secret` alone, as a fixed header credential.
    fn header(secret: &Secret) -> Secrets<'_> {
        Secrets {
            held: vec![Held::Borrowed(secret)],
        }
    }

    #[test]
    fn quoted_server_text_never_holds_the_secret() {
        let secret = Secret::new("s3cr3t-value".to_owned());
        assert_eq!(
            quote("bad secret s3cr3t-value given", &header(&secret)),
            "bad secret [redacted] given"
        );
        assert_eq!(
            quote(&"x".repeat(400), &Secrets::none()).chars().count(),
            301
        );
        // An Entra secret, echoed back from the form body it went in.
        let entra = Secret::new("Abc8Q~xYz.1_2-3dEf w/+".to_owned());
        for echoed in [
            "client_secret=Abc8Q%7ExYz.1_2-3dEf+w%2F%2B&scope=x",
            "client_secret=Abc8Q%7exYz.1_2-3dEf+w%2f%2b",
            "secret Abc8Q%7ExYz.1_2-3dEf%20w%2F%2B given",
            "Abc8Q~xYz.1_2-3dEf w/+",
        ] {
            let quoted = quote(echoed, &header(&entra));
            assert!(quoted.contains("[redacted]"), "{echoed} -> {quoted}");
            assert!(!quoted.contains("Abc8Q"), "{echoed} -> {quoted}");
        }
    }

    #[test]
    fn control_characters_in_server_text_are_written_out() {
        assert_eq!(
            quote(
                "denied\u{1b}[2J\r\nSTATUS: all met\u{0}\u{202e}x\ty",
                &Secrets::none()
            ),
            "denied\\u{1b}[2J\\r\\nSTATUS: all met\\u{0}\\u{202e}x\\ty"
        );
        // The secret is found before its control characters are written out.
        let odd = Secret::new("ab\ncd-secret".to_owned());
        assert_eq!(quote("got ab\ncd-secret", &header(&odd)), "got [redacted]");
    }

    #[test]
    fn an_rfc3986_echo_is_redacted() {
        // `~` is unreserved in RFC 3986 (encodeURIComponent, Go's url.PathEscape, Python's
        // quote): a proxy that echoes the secret so keeps it and writes a space as %20.
        let entra = Secret::new("Abc8Q~xYz w/".to_owned());
        let quoted = quote("client_secret=Abc8Q~xYz%20w%2F given", &header(&entra));
        assert!(!quoted.contains("Abc8Q"), "{quoted}");
    }
}
