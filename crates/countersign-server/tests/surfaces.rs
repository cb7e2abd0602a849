//! Each surface's error mapping, through the router alone (`tower::ServiceExt::oneshot`, no
//! socket): the web pages answer with an HTML page carrying the stable code, the device API with
//! the protocol's JSON error (an unknown address under `/device/v1/` included), and the OpenID
//! Connect endpoints with RFC 6749's bodies.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use countersign_testkit::TestServer;
use tower::ServiceExt;

/// Status, content type and body of one request through `router(state)`.
async fn call(s: &TestServer, req: Request<Body>) -> (StatusCode, String, String) {
    let res = countersign_server::router(s.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, kind, String::from_utf8_lossy(&body).into_owned())
}

fn post(path: &str, kind: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, kind)
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

/// The JSON error of a device API answer: (error, message).
fn json_error(kind: &str, body: &str) -> (String, String) {
    assert!(kind.starts_with("application/json"), "{kind}: {body}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    (
        v["error"].as_str().unwrap().to_string(),
        v["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn web_errors_are_pages_with_their_code() {
    let s = TestServer::start().await;
    s.seed().await;
    let (status, kind, body) = call(&s, get("/contoso/nowhere/at/all")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains("data-code=\"not_found\""), "{body}");
    // A form of another content type, and a form without its anti-CSRF token.
    let json = post("/contoso/login/username", "application/json", "{}");
    let (status, kind, body) = call(&s, json).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(kind.starts_with("text/html") && body.contains("data-code=\"bad_form\""));
    let form = post(
        "/contoso/login/username",
        "application/x-www-form-urlencoded",
        "username=alice",
    );
    let (status, _, body) = call(&s, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("data-code=\"flow_expired\""), "{body}");
    // An unknown tenant's sign-in page.
    let (status, kind, _) = call(&s, get("/nobody/login")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html"), "{kind}");
    s.stop().await;
}

#[tokio::test]
async fn device_api_errors_are_the_protocols_json() {
    let s = TestServer::start().await;
    s.seed().await;
    // Any address under /device/v1/ that the protocol does not have, with any method.
    for req in [
        get("/contoso/device/v1/nope"),
        post(
            "/contoso/device/v1/requests/x/y/z",
            "application/json",
            "{}",
        ),
        get("/contoso/device/v1"),
    ] {
        let (status, kind, body) = call(&s, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(json_error(&kind, &body).0, "not_found");
    }
    // A body that is not the message, an unknown tenant, an unknown device.
    let bad = post("/contoso/device/v1/register", "application/json", "{nope");
    let (status, kind, body) = call(&s, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json_error(&kind, &body).0, "bad_request");
    let elsewhere = post("/nobody/device/v1/challenge", "application/json", "{}");
    let (status, kind, body) = call(&s, elsewhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json_error(&kind, &body).0, "not_found");
    let answer = serde_json::json!({
        "device_id": "dev_unknown", "decision": "deny", "number": null, "pin": false,
        "signature": "AAAA", "app_version": "1.0.0",
    });
    let unknown = post(
        "/contoso/device/v1/requests/req_x/answer",
        "application/json",
        &answer.to_string(),
    );
    let (status, kind, body) = call(&s, unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(json_error(&kind, &body).0, "device_unknown");
    s.stop().await;
}

#[tokio::test]
async fn oidc_errors_are_rfc_6749_bodies() {
    let s = TestServer::start().await;
    s.seed().await;
    let token = post(
        "/contoso/oauth2/v2.0/token",
        "application/x-www-form-urlencoded",
        "grant_type=password&username=alice&password=x",
    );
    // No client authentication: RFC 6749 §5.2's invalid_client, 401.
    let (status, kind, body) = call(&s, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(kind.starts_with("application/json"), "{kind}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "invalid_client", "{body}");
    assert!(v.get("error_description").is_some(), "{body}");
    let (status, _, body) = call(&s, get("/contoso/oidc/userinfo")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    s.stop().await;
}
