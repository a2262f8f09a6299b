//! The bundled web pages: the login page at `/`, the agent desktop at `/desktop/`,
//! quality monitoring at `/qualidade/`, the contract's reports at `/relatorios/`, the
//! live wallboard at `/painel/` and users and the audit log at `/admin/`.
//!
//! The files live in `web/` and are compiled into the binary (`include_str!`), so the
//! README's one command runs the desktop with no build step and no files to install.
//! Pages are public (they hold no data); everything they show comes from `/api` and the
//! CTI websocket, which check the session. Every answer carries `Cache-Control: no-cache`
//! (a new binary's pages are picked up at once, revalidated by `ETag`) and a strict
//! Content-Security-Policy: scripts, styles and images from this origin only, network to
//! this origin and its websocket only, no framing.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// One embedded file: where it is served, its type and its bytes.
struct Page {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

const PAGES: &[Page] = &[
    Page {
        path: "/",
        content_type: HTML,
        body: include_str!("../../web/index.html"),
    },
    Page {
        path: "/login.js",
        content_type: JS,
        body: include_str!("../../web/login.js"),
    },
    Page {
        path: "/style.css",
        content_type: CSS,
        body: include_str!("../../web/style.css"),
    },
    Page {
        path: "/favicon.svg",
        content_type: SVG,
        body: include_str!("../../web/favicon.svg"),
    },
    Page {
        path: "/desktop/",
        content_type: HTML,
        body: include_str!("../../web/desktop/index.html"),
    },
    Page {
        path: "/desktop/app.js",
        content_type: JS,
        body: include_str!("../../web/desktop/app.js"),
    },
    Page {
        path: "/desktop/cti.js",
        content_type: JS,
        body: include_str!("../../web/desktop/cti.js"),
    },
    Page {
        path: "/desktop/format.js",
        content_type: JS,
        body: include_str!("../../web/desktop/format.js"),
    },
    Page {
        path: "/desktop/desktop.css",
        content_type: CSS,
        body: include_str!("../../web/desktop/desktop.css"),
    },
    Page {
        path: "/qualidade/",
        content_type: HTML,
        body: include_str!("../../web/qualidade/index.html"),
    },
    Page {
        path: "/qualidade/app.js",
        content_type: JS,
        body: include_str!("../../web/qualidade/app.js"),
    },
    Page {
        path: "/qualidade/qualidade.css",
        content_type: CSS,
        body: include_str!("../../web/qualidade/qualidade.css"),
    },
    Page {
        path: "/relatorios/",
        content_type: HTML,
        body: include_str!("../../web/relatorios/index.html"),
    },
    Page {
        path: "/relatorios/app.js",
        content_type: JS,
        body: include_str!("../../web/relatorios/app.js"),
    },
    Page {
        path: "/relatorios/formato.js",
        content_type: JS,
        body: include_str!("../../web/relatorios/formato.js"),
    },
    Page {
        path: "/relatorios/secoes.js",
        content_type: JS,
        body: include_str!("../../web/relatorios/secoes.js"),
    },
    Page {
        path: "/relatorios/relatorios.css",
        content_type: CSS,
        body: include_str!("../../web/relatorios/relatorios.css"),
    },
    Page {
        path: "/painel/",
        content_type: HTML,
        body: include_str!("../../web/painel/index.html"),
    },
    Page {
        path: "/painel/app.js",
        content_type: JS,
        body: include_str!("../../web/painel/app.js"),
    },
    Page {
        path: "/painel/painel.css",
        content_type: CSS,
        body: include_str!("../../web/painel/painel.css"),
    },
    Page {
        path: "/admin/",
        content_type: HTML,
        body: include_str!("../../web/admin/index.html"),
    },
    Page {
        path: "/admin/app.js",
        content_type: JS,
        body: include_str!("../../web/admin/app.js"),
    },
    Page {
        path: "/admin/admin.css",
        content_type: CSS,
        body: include_str!("../../web/admin/admin.css"),
    },
];

/// The pages' routes; merge into the server's router (outside the `/api` guard).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route(
            "/desktop",
            get(|| async { Redirect::permanent("/desktop/") }),
        )
        .route(
            "/qualidade",
            get(|| async { Redirect::permanent("/qualidade/") }),
        )
        .route(
            "/relatorios",
            get(|| async { Redirect::permanent("/relatorios/") }),
        )
        .route("/painel", get(|| async { Redirect::permanent("/painel/") }))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }));
    for (i, page) in PAGES.iter().enumerate() {
        r = r.route(page.path, get(move |headers: HeaderMap| serve(i, headers)));
    }
    r
}

/// The ETag of each page: its content hash, computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        PAGES
            .iter()
            .map(|p| {
                let digest = Sha256::digest(p.body.as_bytes());
                format!("\"{}\"", hex::encode(&digest[..12]))
            })
            .collect()
    })
}

async fn serve(i: usize, headers: HeaderMap) -> Response {
    let page = &PAGES[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(page.content_type),
            )],
            page.body,
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&policy(headers.get(header::HOST))) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The Content-Security-Policy: this origin only (recordings played in the page included,
/// `media-src`), plus its websocket (`ws:`/`wss:` on the
/// same host; older browsers do not count those as `'self'`). A Host header with anything
/// but host-name characters is left out rather than echoed into the policy.
fn policy(host: Option<&HeaderValue>) -> String {
    let host = host.and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let sockets = match host {
        Some(h) => format!(" ws://{h} wss://{h}"),
        None => String::new(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         media-src 'self'; connect-src 'self'{sockets}; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, extra: &[(&str, &str)]) -> Response {
        let app: Router = router();
        let mut req = Request::get(path).header("host", "127.0.0.1:8080");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn pages_have_their_type_no_cache_and_a_strict_policy() {
        for (path, ty) in [
            ("/", HTML),
            ("/desktop/", HTML),
            ("/desktop/cti.js", JS),
            ("/style.css", CSS),
            ("/relatorios/", HTML),
            ("/relatorios/formato.js", JS),
            ("/admin/", HTML),
            ("/admin/app.js", JS),
        ] {
            let r = get(path, &[]).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let h = r.headers();
            assert_eq!(h[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(h[header::CACHE_CONTROL], "no-cache");
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(
                csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"),
                "{csp}"
            );
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        }
    }

    #[tokio::test]
    async fn a_known_etag_gets_not_modified_and_desktop_redirects() {
        let etag = get("/desktop/app.js", &[]).await.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .to_string();
        let r = get("/desktop/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let r = get("/desktop", &[]).await;
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(r.headers()[header::LOCATION], "/desktop/");
    }

    #[test]
    fn a_hostile_host_header_stays_out_of_the_policy() {
        let p = policy(Some(&HeaderValue::from_static("x; script-src *")));
        assert!(!p.contains("script-src *"), "{p}");
        assert!(p.contains("connect-src 'self';"), "{p}");
    }
}
