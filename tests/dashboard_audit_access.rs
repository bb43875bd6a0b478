//! The dashboard's audit page refuses exactly whom `GET /v1/audit` refuses: for every
//! persona, the page's status (and its download's) is the API's for the same user's token —
//! 403 for one who is neither an auditor nor an organization's owner or administrator.

mod dashboard_support;
mod http_support;

use dashboard_support::{get, sign_in};
use http_support::{Persona, Server};
use reqwest::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_refuses_whom_the_api_refuses() {
    let s = Server::start().await;
    let mut refused = 0;
    for persona in Persona::ALL {
        let who = s.person(persona);
        let api = s.call(Method::GET, "/v1/audit", &who.token, None).await;
        let (session, _) = sign_in(&s, &who.token).await;
        let page = get(&s, "/ui/audit", Some(&session)).await;
        assert_eq!(page.status(), api.status, "{persona:?}: page and API agree");
        let download = get(&s, "/ui/audit/export?format=csv", Some(&session)).await;
        assert_eq!(
            download.status(),
            api.status,
            "{persona:?}: download and API agree"
        );
        if api.status == StatusCode::FORBIDDEN {
            refused += 1;
            let html = page.text().await.expect("body");
            assert!(html.contains("Only auditors"), "{persona:?}: {html}");
        } else {
            assert_eq!(api.status, StatusCode::OK, "{persona:?}: {}", api.text);
        }
    }
    assert!(refused > 0, "some persona is not an auditor");
    assert!(
        refused < Persona::ALL.len(),
        "some persona reads audit records"
    );
}
