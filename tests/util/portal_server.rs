//! A fake MSP portal for the `http_json` source: `GET /api/v1/patches?page=N`, the records at
//! `/data/items`, the next page's URL at `/links/next` or in a `Link` header, and a key in
//! `X-API-Key` (or a bearer token). Faults are scripted per page.

use std::sync::{Arc, Mutex};

use super::fake_http::{self, Fault, Reply, Request, Script};

pub(crate) const PATCHES: &str = "/api/v1/patches";

#[derive(Clone)]
pub(crate) struct PortalServer {
    pub(crate) base: String,
    pages: Arc<Mutex<Vec<Vec<serde_json::Value>>>>,
    script: Arc<Script>,
}

/// How the portal names its next page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    Body,
    Header,
}

impl PortalServer {
    /// Accepts `X-API-Key: key` (`bearer = false`) or `Authorization: Bearer key`.
    pub(crate) fn start(key: &str, bearer: bool, links: Links) -> PortalServer {
        let pages = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Script::default());
        let (p, f, k) = (Arc::clone(&pages), Arc::clone(&script), key.to_owned());
        let base = Arc::new(Mutex::new(String::new()));
        let own = Arc::clone(&base);
        let address = fake_http::serve(move |request| {
            let base = own.lock().expect("base").clone();
            respond(&p, &f, &k, bearer, links, &base, request)
        });
        *base.lock().expect("base") = address.clone();
        PortalServer {
            base: address,
            pages,
            script,
        }
    }

    pub(crate) fn set_pages(&self, pages: Vec<Vec<serde_json::Value>>) {
        *self.pages.lock().expect("pages") = pages;
    }

    pub(crate) fn fault(&self, page: usize, fault: Fault) {
        self.script.add(PATCHES, page, fault);
    }

    pub(crate) fn seen(&self) -> Vec<Request> {
        self.script.seen()
    }
}

fn respond(
    pages: &Mutex<Vec<Vec<serde_json::Value>>>,
    script: &Script,
    key: &str,
    bearer: bool,
    links: Links,
    base: &str,
    request: &Request,
) -> Reply {
    script.saw(request);
    if request.path() != PATCHES {
        return Reply::json(404, serde_json::json!({"error": "not found"}));
    }
    let pages = pages.lock().expect("pages").clone();
    let page: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let items = pages
        .get(page.saturating_sub(1))
        .cloned()
        .unwrap_or_default();
    let next = (page < pages.len()).then(|| format!("{base}{PATCHES}?page={}", page + 1));
    let body = serde_json::json!({
        "data": {"items": items, "page": page},
        "links": {"self": format!("{base}{PATCHES}?page={page}"), "next": if links == Links::Body { next.clone() } else { None }},
    })
    .to_string();
    let index = page.saturating_sub(1);
    if let Some(fault) = script.next(PATCHES, index) {
        if let Fault::Status(status) = fault {
            return Reply::json(
                status,
                serde_json::json!({"error": "access denied", "status": status}),
            );
        }
        if let Some(reply) =
            fake_http::generic(&fault, "{\"error\": \"slow down\"}", &body, request)
        {
            return reply;
        }
    }
    let authorized = if bearer {
        request.header("authorization") == Some(&format!("Bearer {key}"))
    } else {
        request.header("x-api-key") == Some(key)
    };
    if !authorized {
        // Echoes what it was sent, as a careless portal might: dutywatch must not repeat it.
        let given = request
            .header("x-api-key")
            .or_else(|| request.header("authorization"))
            .unwrap_or_default();
        return Reply::json(
            401,
            serde_json::json!({"error": format!("invalid API key {given}")}),
        );
    }
    let reply = Reply::json(200, body);
    match (links, next) {
        (Links::Header, Some(next)) => reply.header("Link", &format!("<{next}>; rel=\"next\"")),
        _ => reply,
    }
}
