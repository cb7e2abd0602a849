//! Push approvals over HTTP, with the authenticator's own device client
//! (`countersign_authenticator::device`) as the device: registration from security info's
//! activation link, "Approve sign-in request" with the number, the page's status request, and
//! every refusal — wrong number, deny, "It's not me", expiry, a replayed answer, another device's
//! key, a removed device, an old app, the policy's mode, the fatigue limit — each in the sign-in
//! log.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::{activation_link, between, blocking, log_of, pending, refused_with};
use countersign_authenticator::channel::{self, ChannelEvent};
use countersign_authenticator::protocol::{self, DeviceAccount, DeviceError};
use countersign_core::model::SignInResult;
use countersign_core::policy::{self, Actor, AuthenticationMode};
use countersign_proto::device::{AnswerResult, Decision};
use countersign_testkit::{
    csrf_of, jwt_claims, location, query_param, redeem_code, Fixture, TestServer, WebClient,
    PASSWORD,
};

/// Signs alice in (password only) and registers a device from security info's activation link;
/// the browser stays signed in.
async fn register(s: &TestServer, name: &str) -> (WebClient, DeviceAccount) {
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let d = register_with(&web, name).await;
    (web, d)
}

async fn register_with(web: &WebClient, name: &str) -> DeviceAccount {
    let link = protocol::parse_activation(&activation_link(web).await).unwrap();
    let name = name.to_string();
    blocking(move |c| c.register(&link, &name)).await.unwrap().0
}

async fn answer(
    a: &DeviceAccount,
    id: &str,
    decision: Decision,
    number: Option<&str>,
) -> Result<AnswerResult, DeviceError> {
    let (a, id, number) = (a.clone(), id.to_string(), number.map(str::to_string));
    blocking(move |c| c.answer(&a, &id, decision, number.as_deref(), true, false)).await
}

/// The sign-in page after the password: "Approve sign-in request" and the number.
async fn push_page(web: &WebClient) -> String {
    let html = web.get("/contoso/login").await.text().await.unwrap();
    assert!(html.contains("Approve sign-in request"), "{html}");
    between(
        &html,
        "id=\"push-number\" aria-label=\"Number to enter in the app\">",
        '<',
    )
    .to_string()
}

async fn status(web: &WebClient) -> String {
    let v: serde_json::Value = web
        .get("/contoso/login/push/status")
        .await
        .json()
        .await
        .unwrap();
    v["state"].as_str().unwrap().to_string()
}

/// The page's `status` request, sent now and left waiting on the server (its answer is the
/// handle's); the short sleep lets it reach the server before the test goes on.
async fn waiting_status(web: &WebClient) -> tokio::task::JoinHandle<String> {
    let tab = web.clone();
    let waiting = tokio::spawn(async move { status(&tab).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    waiting
}

async fn finish(web: &WebClient) -> reqwest::Response {
    let csrf = csrf_of(&web.get("/contoso/login").await.text().await.unwrap()).unwrap();
    web.post_form("/contoso/login/push", &[("csrf", &csrf)])
        .await
}

async fn again(web: &WebClient) -> String {
    let csrf = csrf_of(&web.get("/contoso/login").await.text().await.unwrap()).unwrap();
    let r = web
        .post_form("/contoso/login/push/again", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    push_page(web).await
}

/// The reasons the sign-in log gives for alice's push attempts, oldest first.
async fn push_log(s: &TestServer, f: &Fixture) -> Vec<(SignInResult, String)> {
    log_of(s, &f.tenant.id, "push").await
}

#[tokio::test]
async fn a_push_approval_with_the_number_signs_in_with_mfa() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (web, phone) = register(&s, "Alice's phone").await;
    assert_eq!(phone.upn, "alice@contoso.com");
    // Security info shows it as the Entra-style method, with the device's name.
    let html = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Authenticator app — Notification and code"),
        "{html}"
    );
    assert!(html.contains("Alice&#39;s phone") || html.contains("Alice's phone"));

    // An application's sign-in: password, then the number.
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    assert_eq!(web.get(&url).await.status(), 303);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let number = push_page(&web).await;
    assert_eq!(number.len(), 2, "two digits by default");
    let requests = pending(&phone).await;
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(
        (req.application.as_deref(), req.digits, req.pushed),
        (Some("App"), 2, true)
    );
    assert_eq!(req.location.as_ref().unwrap().address, "127.0.0.1");
    // As documented; ids that could start with "-" would be taken for options on command lines.
    assert!(
        req.id.starts_with("req_") && req.id.len() == 47,
        "{}",
        req.id
    );
    let wire = serde_json::to_string(req).unwrap();
    assert!(
        !wire.contains("number"),
        "the number never goes to the device: {wire}"
    );

    // The page's status request waits on the server and wakes when the device answers.
    let waiting = waiting_status(&web).await;
    let r = answer(&phone, &req.id, Decision::Approve, Some(&number)).await;
    assert_eq!(r.unwrap(), AnswerResult::Approved);
    assert_eq!(waiting.await.unwrap(), "approved-pin");

    let r = finish(&web).await;
    assert_eq!(r.status(), 303);
    let code = query_param(&location(&r), "code").expect("back to the app with a code");
    let basic = Some((f.app.id.as_str(), f.secret.as_str()));
    let (st, body) = redeem_code(&s.base, "contoso", basic, &code, &verifier).await;
    assert_eq!(st, 200, "{body}");
    let claims = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "swk", "pin", "mfa"]),
        "{claims}"
    );
    assert_eq!(
        push_log(&s, &f).await,
        vec![(SignInResult::Success, "approved".to_string())]
    );
    // The device's answer is logged against the application, like the password before it.
    let log = s
        .state
        .deps
        .store
        .list_signins(&f.tenant.id, 10)
        .await
        .unwrap();
    let apps: Vec<_> = log
        .iter()
        .map(|e| (e.method.as_str(), e.client_id.as_deref()))
        .collect();
    let app = Some(f.app.id.as_str());
    assert_eq!(apps[..2], [("push", app), ("password", app)], "{log:?}");
    // Nothing is left waiting on the device.
    assert!(pending(&phone).await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn wrong_number_deny_expiry_and_not_me_end_the_attempt_and_are_logged() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    let web = WebClient::new(&s.base);
    assert_eq!(
        web.sign_in("contoso", "alice", PASSWORD).await.status(),
        303
    );

    // A wrong number: refused, and the attempt is over.
    let number = push_page(&web).await;
    let wrong = if number == "00" { "01" } else { "00" };
    let id = pending(&phone).await[0].id.clone();
    let msg = refused_with(
        answer(&phone, &id, Decision::Approve, Some(wrong)).await,
        "wrong_number",
    );
    assert!(msg.contains("doesn't match"), "{msg}");
    assert_eq!(status(&web).await, "wrong-number");
    let r = finish(&web).await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("didn&#39;t match") || html.contains("didn't match"),
        "{html}"
    );
    // The right number afterwards changes nothing: the request is settled.
    refused_with(
        answer(&phone, &id, Decision::Approve, Some(&number)).await,
        "request_answered",
    );

    // "Send another request" → a denial.
    again(&web).await;
    let id = pending(&phone).await[0].id.clone();
    assert_eq!(
        answer(&phone, &id, Decision::Deny, None).await.unwrap(),
        AnswerResult::Denied
    );
    let html = finish(&web).await.text().await.unwrap();
    assert!(html.contains("Request denied"), "{html}");

    // Another → nobody answers in time.
    again(&web).await;
    let id = pending(&phone).await[0].id.clone();
    s.clock
        .advance(countersign_core::methods::push::REQUEST_TTL);
    assert_eq!(status(&web).await, "expired");
    let html = finish(&web).await.text().await.unwrap();
    assert!(
        html.contains("We didn&#39;t hear from you") || html.contains("We didn't hear from you"),
        "{html}"
    );
    refused_with(
        answer(&phone, &id, Decision::Approve, Some("00")).await,
        "request_expired",
    );

    // Another → "It's not me": reported, and no more pushes until an administrator clears it.
    let number = again(&web).await;
    let id = pending(&phone).await[0].id.clone();
    assert_eq!(
        answer(&phone, &id, Decision::NotMe, None).await.unwrap(),
        AnswerResult::Reported
    );
    let html = finish(&web).await.text().await.unwrap();
    assert!(html.contains("not yours"), "{html}");
    assert!(!html.contains("Send another request"));
    let deps = &s.state.deps;
    let alice = deps.store.user_by_id(&f.alice.id).await.unwrap().unwrap();
    assert!(alice.push_blocked_at.is_some());
    // The next sign-in offers the device's codes, never a push.
    let next = WebClient::new(&s.base);
    next.sign_in("contoso", "alice", PASSWORD).await;
    let html = next.get("/contoso/login").await.text().await.unwrap();
    assert!(html.contains("Enter code"), "{html}");
    assert!(pending(&phone).await.is_empty());
    let _ = number;

    assert_eq!(
        push_log(&s, &f).await,
        vec![
            (
                SignInResult::Failure,
                "push answer refused: The number doesn't match the one on the sign-in page, so \
                 the sign-in was refused."
                    .to_string()
            ),
            (SignInResult::Failure, "answer replayed or late".into()),
            (SignInResult::Failure, "denied on the device".into()),
            (SignInResult::Failure, "request expired unanswered".into()),
            (
                SignInResult::Failure,
                "push answer refused: This sign-in request has expired.".into()
            ),
            (
                SignInResult::Fraud,
                "reported as fraud (\"It's not me\"); push requests blocked".into()
            ),
        ]
    );
    // The administrator clears the block: pushes again.
    countersign_core::directory::clear_push_block(deps, &f.tenant, "alice@contoso.com")
        .await
        .unwrap();
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    push_page(&web).await;
    s.stop().await;
}

#[tokio::test]
async fn replayed_forged_and_foreign_answers_are_refused() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    // Bob, with a device of his own.
    countersign_core::directory::create_user(
        &s.state.deps,
        &f.tenant,
        countersign_core::directory::NewUser {
            upn: "bob@contoso.com",
            display_name: "Bob",
            email: None,
            password: Some(PASSWORD),
            enabled: true,
        },
    )
    .await
    .unwrap();
    let bob_web = WebClient::new(&s.base);
    bob_web.sign_in("contoso", "bob", PASSWORD).await;
    let bobs = register_with(&bob_web, "bob's phone").await;

    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let number = push_page(&web).await;
    let id = pending(&phone).await[0].id.clone();
    // Bob's device sees nothing of alice's request and can't answer it.
    assert!(pending(&bobs).await.is_empty());
    refused_with(
        answer(&bobs, &id, Decision::Approve, Some(&number)).await,
        "request_not_found",
    );
    // Bob's key claiming to be alice's device: the signature doesn't verify.
    let mut forged = bobs.clone();
    forged.device_id = phone.device_id.clone();
    refused_with(
        answer(&forged, &id, Decision::Approve, Some(&number)).await,
        "bad_signature",
    );
    // Alice's signed approval, sent twice: the second is a replay.
    let body = phone
        .answer(&id, Decision::Approve, Some(&number), true, false)
        .unwrap();
    let (p2, id2, b2) = (phone.clone(), id.clone(), body.clone());
    let first = blocking(move |c| c.send_answer(&p2, &id2, &b2)).await;
    assert_eq!(first.unwrap(), AnswerResult::Approved);
    let (p2, id2) = (phone.clone(), id.clone());
    let replay = blocking(move |c| c.send_answer(&p2, &id2, &body)).await;
    refused_with(replay, "request_answered");
    // An answer for a request that is not this flow's can't finish another flow: bob's own
    // flow waits on his own request.
    assert_eq!(finish(&web).await.status(), 303);
    let log = push_log(&s, &f).await;
    let reasons: Vec<&str> = log.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "answer from another user's device",
            "push answer refused: The signature does not match this device's key.",
            "approved",
            "answer replayed or late"
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_removed_device_and_an_old_app_are_refused() {
    let s = TestServer::start_with(countersign_testkit::Db::Sqlite, |c| {
        c.min_app_version = Some("99.0".into());
    })
    .await
    .unwrap();
    let f = s.seed().await;
    // An app below the minimum can't even register, and is told to update.
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let link = protocol::parse_activation(&activation_link(&web).await).unwrap();
    let r = blocking(move |c| c.register(&link, "old phone")).await;
    match r {
        Err(DeviceError::Refused { code, message }) => {
            assert_eq!(code, "app_version_unsupported");
            assert!(
                message.contains("Update the app to version 99.0"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;

    let s = TestServer::start().await;
    let f2 = s.seed().await;
    let (web, phone) = register(&s, "lost phone").await;
    // Security info removes it only after a sign-in with the second factor it now has.
    let csrf = web.csrf("/contoso/security-info").await;
    let r = web
        .post_form(
            "/contoso/security-info/delete",
            &[("csrf", &csrf), ("id", &phone.device_id)],
        )
        .await;
    assert!(location(&r).ends_with("/contoso/login"), "{}", location(&r));
    // The administrator removes it (a lost phone): its requests are refused, and it is sent
    // nothing more.
    let removed = countersign_core::directory::remove_device(
        &s.state.deps,
        &f2.tenant,
        "alice@contoso.com",
        &phone.device_id,
    )
    .await
    .unwrap();
    assert_eq!(removed.name, "lost phone");
    let signin = WebClient::new(&s.base);
    signin.sign_in("contoso", "alice", PASSWORD).await;
    let html = signin.get("/contoso/login").await.text().await.unwrap();
    assert!(!html.contains("Approve sign-in request"), "{html}");
    let a = phone.clone();
    let r = blocking(move |c| c.pending(&a)).await;
    assert!(matches!(r, Err(DeviceError::Refused { code, .. }) if code == "device_unknown"));
    let _ = (f, f2);
    s.stop().await;
}

#[tokio::test]
async fn another_tenants_activation_code_registers_nothing_and_stays_usable() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    countersign_core::directory::create_tenant(
        &s.state.deps,
        "fabrikam",
        "Fabrikam",
        &["fabrikam.com".into()],
    )
    .await
    .unwrap();
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let link = protocol::parse_activation(&activation_link(&web).await).unwrap();
    // Contoso's code, posted to Fabrikam's registration: refused, and nothing is written.
    let mut elsewhere = link.clone();
    elsewhere.server = elsewhere.server.replace("/contoso", "/fabrikam");
    let r = blocking(move |c| c.register(&elsewhere, "phone")).await;
    refused_with(r, "activation_invalid");
    let stored = s.state.deps.store.devices_of_user(&f.alice.id).await;
    assert!(stored.unwrap().is_empty(), "no device was stored");
    // The code still works in its own tenant.
    let (phone, _) = blocking(move |c| c.register(&link, "phone")).await.unwrap();
    let stored = s.state.deps.store.devices_of_user(&f.alice.id).await;
    assert_eq!(stored.unwrap()[0].id, phone.device_id);
    s.stop().await;
}

#[tokio::test]
async fn the_policy_decides_who_gets_pushes_and_fatigue_is_limited() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let number = push_page(&web).await;
    let id = pending(&phone).await[0].id.clone();
    // Phone sign-in only (Passwordless mode): no push at the next sign-in, and an answer to the
    // pending one is refused.
    policy::change(
        &s.state.deps,
        &f.tenant,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.authenticator.method.include_targets[0].authentication_mode =
                Some(AuthenticationMode::Passwordless);
            Ok(p)
        },
    )
    .await
    .unwrap();
    refused_with(
        answer(&phone, &id, Decision::Approve, Some(&number)).await,
        "method_not_supported",
    );
    let other = WebClient::new(&s.base);
    other.sign_in("contoso", "alice", PASSWORD).await;
    let html = other.get("/contoso/login").await.text().await.unwrap();
    assert!(html.contains("Enter code"), "{html}");
    // Push mode again: pushes, but no more than five in ten minutes.
    policy::change(
        &s.state.deps,
        &f.tenant,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.authenticator.method.include_targets[0].authentication_mode =
                Some(AuthenticationMode::Push);
            Ok(p)
        },
    )
    .await
    .unwrap();
    for _ in 0..4 {
        again(&web).await;
    }
    let csrf = csrf_of(&web.get("/contoso/login").await.text().await.unwrap()).unwrap();
    // Refused where it is asked for: the answer to "Send another request" says why.
    let r = web
        .post_form("/contoso/login/push/again", &[("csrf", &csrf)])
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("too many sign-in requests"), "{html}");
    assert_eq!(
        push_log(&s, &f).await.last().unwrap().1,
        "push fatigue limit"
    );
    // The limit is the policy's setting: seven in the same ten minutes lets two more through.
    policy::change(
        &s.state.deps,
        &f.tenant,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.authenticator.feature_settings.push_fatigue_limit.requests = 7;
            Ok(p)
        },
    )
    .await
    .unwrap();
    let more = WebClient::new(&s.base);
    more.sign_in("contoso", "alice", PASSWORD).await;
    push_page(&more).await;
    again(&more).await;
    let csrf = csrf_of(&more.get("/contoso/login").await.text().await.unwrap()).unwrap();
    let r = more
        .post_form("/contoso/login/push/again", &[("csrf", &csrf)])
        .await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("too many sign-in requests"));
    s.stop().await;
}

/// The next event of a channel, skipping nothing.
async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<((), ChannelEvent)>,
) -> ChannelEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the channel runs")
        .1
}

fn listen(phone: &DeviceAccount) -> tokio::sync::mpsc::UnboundedReceiver<((), ChannelEvent)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(channel::run(phone.clone(), (), tx));
    rx
}

#[tokio::test]
async fn the_channel_delivers_requests_redelivers_after_a_reconnect_and_closes_on_shutdown() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    let mut rx = listen(&phone);
    assert!(matches!(next_event(&mut rx).await, ChannelEvent::Ready));

    // A sign-in's request arrives as it is sent.
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let number = push_page(&web).await;
    let ChannelEvent::Request(req) = next_event(&mut rx).await else {
        panic!("a request")
    };
    assert_eq!(req.account, "alice@contoso.com");

    // The device was offline: a new connection gets the pending request again.
    drop(rx);
    let mut rx = listen(&phone);
    assert!(matches!(next_event(&mut rx).await, ChannelEvent::Ready));
    let ChannelEvent::Request(again) = next_event(&mut rx).await else {
        panic!("the missed request, redelivered")
    };
    assert_eq!(again.id, req.id);

    // Answered: the channel is told to hide it.
    answer(&phone, &req.id, Decision::Approve, Some(&number))
        .await
        .unwrap();
    let ChannelEvent::Withdrawn(id) = next_event(&mut rx).await else {
        panic!("withdrawn")
    };
    assert_eq!(id, req.id);

    // A removed device's channel is closed, with the reason.
    let other = WebClient::new(&s.base);
    other.sign_in("contoso", "alice", PASSWORD).await;
    push_page(&other).await;
    let ChannelEvent::Request(_) = next_event(&mut rx).await else {
        panic!("a second request")
    };
    countersign_core::directory::remove_device(
        &s.state.deps,
        &f.tenant,
        "alice@contoso.com",
        &phone.device_id,
    )
    .await
    .unwrap();
    // An administrator's removal reaches the connected device at once: the core tells the
    // server's events (`Deps::notifier`), whoever removed it.
    loop {
        match next_event(&mut rx).await {
            ChannelEvent::Refused { code, .. } => {
                assert_eq!(code, "device_unknown");
                break;
            }
            ChannelEvent::Withdrawn(_) => continue,
            other => panic!("{other:?}"),
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn shutdown_closes_device_channels_and_waiting_pages_at_once() {
    let s = TestServer::start().await;
    s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    let mut rx = listen(&phone);
    assert!(matches!(next_event(&mut rx).await, ChannelEvent::Ready));
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    push_page(&web).await;
    let ChannelEvent::Request(_) = next_event(&mut rx).await else {
        panic!("a request")
    };
    let waiting = waiting_status(&web).await;
    // Well within the 25 s a status request may wait: shutdown doesn't wait for it.
    tokio::time::timeout(std::time::Duration::from_secs(10), s.stop())
        .await
        .expect("the server stops at once");
    assert_eq!(
        waiting.await.unwrap(),
        "pending",
        "the page asks again later"
    );
    match next_event(&mut rx).await {
        ChannelEvent::Disconnected { reason, .. } => {
            assert_eq!(reason, "server restarting")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn two_instances_on_postgres_carry_requests_and_approvals_to_each_other() {
    let Some(a) = TestServer::start_on(countersign_testkit::Db::Postgres).await else {
        return;
    };
    a.seed().await;
    let b = a.second_instance().await;
    // The device registers with, and listens on, instance A.
    let (_, phone) = register(&a, "phone").await;
    let mut rx = listen(&phone);
    assert!(matches!(next_event(&mut rx).await, ChannelEvent::Ready));
    // The browser signs in on instance B.
    let web = WebClient::new(&b.base);
    assert_eq!(
        web.sign_in("contoso", "alice", PASSWORD).await.status(),
        303
    );
    let number = push_page(&web).await;
    let ChannelEvent::Request(req) = next_event(&mut rx).await else {
        panic!("B's request reaches the device on A")
    };
    let waiting = waiting_status(&web).await;
    // The answer goes to A; the browser waiting on B wakes.
    answer(&phone, &req.id, Decision::Approve, Some(&number))
        .await
        .unwrap();
    let woke = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("B's waiting page wakes well before its 25 s")
        .unwrap();
    assert_eq!(woke, "approved-pin");
    let r = finish(&web).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("/contoso/"));
    b.stop().await;
    a.stop().await;
}

/// An administrator's command line is another process: on PostgreSQL it tells the servers
/// through the bus, so a removed device's channel closes at once (not at its next heartbeat).
#[tokio::test]
async fn a_device_removed_from_another_process_is_told_through_the_bus() {
    let Some(s) = TestServer::start_on(countersign_testkit::Db::Postgres).await else {
        return;
    };
    let f = s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    // What the server's device channels of alice hear (a ping could also find the device gone,
    // so the event itself is what is checked).
    let mut heard = s.state.push.subscribe(&f.alice.id);
    // The command line's own events, told through the bus and not listened to (as `admin` does).
    let events = countersign_server::push_events::PushEvents::default();
    events.tell_others_through(s.store.bus("push").unwrap());
    let admin = countersign_core::Deps {
        notifier: std::sync::Arc::new(events.clone()),
        ..s.state.deps.clone()
    };
    countersign_core::directory::remove_device(
        &admin,
        &f.tenant,
        "alice@contoso.com",
        &phone.device_id,
    )
    .await
    .unwrap();
    events.flush(std::time::Duration::from_secs(5)).await;
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), heard.next())
        .await
        .expect("the server hears the removal through the bus");
    assert_eq!(
        event,
        Some(countersign_server::push_events::Event::DeviceRemoved {
            device_id: phone.device_id.clone()
        })
    );
    s.stop().await;
}

#[tokio::test]
async fn geoip_names_the_place_and_a_flagged_sign_in_is_not_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = countersign_testkit::geoip_test_db(dir.path()) else {
        return;
    };
    let s = TestServer::start_with(countersign_testkit::Db::Sqlite, |c| {
        c.geoip_db = Some(db);
        c.risky_networks = vec!["127.0.0.0/8".into()];
    })
    .await
    .unwrap();
    s.seed().await;
    let (_, phone) = register(&s, "phone").await;
    let mut rx = listen(&phone);
    assert!(matches!(next_event(&mut rx).await, ChannelEvent::Ready));
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let html = web.get("/contoso/login").await.text().await.unwrap();
    assert!(
        html.contains("We didn&#39;t send a notification")
            || html.contains("We didn't send a notification"),
        "{html}"
    );
    // Not pushed: the channel stays quiet; the app's refresh finds it.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), rx.recv()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    let requests = pending(&phone).await;
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].pushed);
    let place = requests[0].location.as_ref().unwrap();
    assert_eq!(
        (place.city.as_deref(), place.country.as_deref()),
        (Some("Sydney"), Some("Australia"))
    );
    let wire = serde_json::to_string(&requests[0]).unwrap();
    assert!(
        !wire.contains("151.2") && !wire.contains("latitude"),
        "{wire}"
    );
    s.stop().await;
}

/// `countersign-authenticator listen --json` as a separate process: the request arrives as one
/// JSON line; "?" (I can't see the number) hides it for 3 seconds and shows it again; the number
/// typed approves it, and the waiting page sees the approval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_shows_requests_as_they_arrive_and_answers_what_is_typed() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let Some(bin) = countersign_testkit::process::authenticator_bin() else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    // The terminal app registers itself with the link from security info.
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let link = activation_link(&web).await;
    let home = tempfile::tempdir().unwrap();
    let pin = "246810\n";
    let run =
        |args: &[&str]| countersign_testkit::process::authenticator(&bin, home.path(), pin, args);
    assert!(run(&["init"]).0);
    let (ok, _, err) = run(&["add", &link]);
    assert!(ok, "{err}");
    // A sign-in sends a request before the app listens.
    let browser = WebClient::new(&s.base);
    browser.sign_in("contoso", "alice", PASSWORD).await;
    let number = push_page(&browser).await;

    let mut child = Command::new(&bin)
        .arg("--home")
        .arg(home.path())
        .args(["--pin-stdin", "listen", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(pin.as_bytes()).unwrap();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(l);
        }
    });
    let mut next_line = async || {
        tokio::time::timeout(std::time::Duration::from_secs(15), line_rx.recv())
            .await
            .expect("a line within 15 s")
            .expect("listen runs")
    };
    // The request pending since before it connected arrives first (redelivery).
    let first: serde_json::Value = serde_json::from_str(&next_line().await).unwrap();
    assert_eq!(first["type"], "request");
    // "I can't see the number": hidden, then shown again.
    stdin.write_all(b"?\n").unwrap();
    let again: serde_json::Value = serde_json::from_str(&next_line().await).unwrap();
    assert_eq!(again["request"]["id"], first["request"]["id"]);
    let waiting = waiting_status(&browser).await;
    stdin.write_all(format!("{number}\n").as_bytes()).unwrap();
    let result = next_line().await;
    assert!(result.starts_with("Approved"), "{result}");
    assert_eq!(waiting.await.unwrap(), "approved-pin");
    let _ = child.kill();
    let _ = child.wait();
    s.stop().await;
}
