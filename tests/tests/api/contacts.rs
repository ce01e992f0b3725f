//! CRM contacts (SPEC §12) over real HTTP on both stores: CRUD with phone and
//! e-mail normalised and unique per org (409, race-safe), filters and search,
//! roles and isolation, bad input, the dialer's helpers, and a callee who asks
//! not to be called again becoming do-not-call.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::contacts;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

backend_tests!(
    contacts_are_created_read_patched_and_deleted,
    phone_and_email_are_unique_per_org,
    twenty_racing_creates_of_one_phone_make_one_contact,
    lists_filter_and_search_by_key,
    the_agent_role_cannot_delete_and_other_orgs_see_nothing,
    bad_input_gets_the_error_body,
    the_dialer_links_and_marks_numbers,
    a_callee_who_asks_not_to_be_called_becomes_do_not_call,
);

async fn create(t: &TestApp, body: Value) -> Value {
    let (status, created) = call(t.api(Method::POST, "/contacts").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"].clone()
}

async fn list(t: &TestApp, query: &str) -> Value {
    let (status, body) = call(t.api(Method::GET, &format!("/contacts{query}"))).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn phones(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["phone"].as_str().unwrap_or("-").to_owned())
        .collect()
}

async fn tenant(t: &TestApp, mode: Mode) -> Tenant {
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        mode,
    }
}

async fn contacts_are_created_read_patched_and_deleted(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let c = create(
        &t,
        json!({"name": "Ada Lovelace", "phone": "+1 (415) 555-0123", "email": "Ada@Example.COM",
               "company": "Analytical Engines", "tags": ["vip", "vip", "math"],
               "attributes": {"plan": "gold", "seats": 3}}),
    )
    .await;
    assert_eq!(c["phone"], "+14155550123", "normalised to E.164");
    assert_eq!(c["email"], "ada@example.com", "lower-cased");
    assert_eq!(c["tags"], json!(["vip", "math"]));
    assert_eq!(c["attributes"]["seats"], 3);
    assert_eq!(c["do_not_call"], false);
    assert!(c["do_not_call_at"].is_null() && c["do_not_call_reason"].is_null());
    let id = c["id"].as_str().unwrap();

    let (status, got) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["data"], c);

    // Setting do-not-call records when and why; a later patch keeps them.
    let (status, p) = call(
        t.api(Method::PATCH, &format!("/contacts/{id}"))
            .json(&json!({"do_not_call": true, "do_not_call_reason": "asked by e-mail"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let at = p["data"]["do_not_call_at"].as_str().unwrap().to_owned();
    assert_eq!(p["data"]["do_not_call_reason"], "asked by e-mail");
    assert_eq!(p["data"]["name"], "Ada Lovelace", "unsent fields kept");
    let (_, p) = call(
        t.api(Method::PATCH, &format!("/contacts/{id}"))
            .json(&json!({"company": null, "phone": "+44 20 7123 4567"})),
    )
    .await;
    assert_eq!(p["data"]["do_not_call_at"], at.as_str());
    assert!(p["data"]["company"].is_null(), "null clears");
    assert_eq!(p["data"]["phone"], "+442071234567");
    // A contact read back is a valid PATCH (the keys a read adds pass) and changes nothing.
    let read = p["data"].clone();
    let (status, again) = call(t.api(Method::PATCH, &format!("/contacts/{id}")).json(&read)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["data"]["phone"], read["phone"]);
    assert_eq!(again["data"]["do_not_call_at"], read["do_not_call_at"]);
    // The phone claim moved: the old number is free, the new one taken.
    assert!(
        contacts::is_do_not_call(&t.app, &tenant(&t, Mode::Live).await, "+442071234567")
            .await
            .unwrap()
    );
    create(&t, json!({"phone": "+14155550123"})).await;
    let (status, body) = call(
        t.api(Method::POST, "/contacts")
            .json(&json!({"phone": "+442071234567"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, p) = call(
        t.api(Method::PATCH, &format!("/contacts/{id}"))
            .json(&json!({"do_not_call": false})),
    )
    .await;
    assert!(p["data"]["do_not_call_at"].is_null() && p["data"]["do_not_call_reason"].is_null());

    let body = list(&t, "").await;
    assert_eq!(body["meta"]["pagination"]["total"], 2);
    let (status, deleted) = call(t.api(Method::DELETE, &format!("/contacts/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["data"], json!({"deleted": true, "id": id}));
    let (status, body) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    assert_eq!(list(&t, "").await["meta"]["pagination"]["total"], 1);
    // Deleting freed the phone and the e-mail.
    create(
        &t,
        json!({"phone": "+442071234567", "email": "ada@example.com"}),
    )
    .await;
}

async fn phone_and_email_are_unique_per_org(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let first = create(
        &t,
        json!({"name": "A", "phone": "+14155550100", "email": "a@example.com"}),
    )
    .await;
    for (body, named) in [
        (json!({"phone": "+1 415 555 0100"}), "phone +14155550100"),
        (json!({"email": "A@EXAMPLE.com"}), "email a@example.com"),
    ] {
        let (status, err) = call(t.api(Method::POST, "/contacts").json(&body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        assert!(assert_error_body(&err).contains(named), "{err}");
    }
    // A patch onto another contact's phone or e-mail is refused too, and
    // changes nothing.
    let second = create(&t, json!({"name": "B", "phone": "+14155550101"})).await;
    let id = second["id"].as_str().unwrap();
    let (status, err) = call(
        t.api(Method::PATCH, &format!("/contacts/{id}"))
            .json(&json!({"name": "B2", "email": "a@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(assert_error_body(&err).contains("email a@example.com"));
    let (_, now) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    assert_eq!(now["data"]["name"], "B");
    // The same values in another org, or in test mode, are free.
    let (cookie, _) = t.signup("other@example.com").await;
    let (status, body) = call(
        t.session(Method::POST, "/contacts", &cookie)
            .json(&json!({"phone": "+14155550100", "email": "a@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = call(
        t.api(Method::POST, "/contacts?mode=test")
            .json(&json!({"phone": "+14155550100"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["phone"], "+14155550100");
}

async fn twenty_racing_creates_of_one_phone_make_one_contact(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let requests = (0..20).map(|i| {
        call(
            t.api(Method::POST, "/contacts")
                .json(&json!({"name": format!("Racer {i}"), "phone": "+14155550199"})),
        )
    });
    let results = join_all(requests).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "exactly one contact: {results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert!(assert_error_body(body).contains("+14155550199"));
    }
    let body = list(&t, "").await;
    assert_eq!(phones(&body), ["+14155550199"]);
    assert_eq!(body["meta"]["pagination"]["total"], 1);

    // The dialer's find-or-create races the same way to one contact.
    let tenant = &tenant(&t, Mode::Live).await;
    let app = &t.app;
    let links = (0..20).map(|_| contacts::link_by_phone(app, tenant, "+14155550198", None, None));
    let ids: Vec<String> = join_all(links)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let marks = (0..20).map(|i| async move {
        let reason = format!("reason {i}");
        contacts::mark_do_not_call(app, tenant, "+14155550197", &reason).await
    });
    for r in join_all(marks).await {
        r.unwrap();
    }
    let body = list(&t, "?search=%2B14155550197").await;
    assert_eq!(phones(&body), ["+14155550197"], "one contact");
    assert_eq!(list(&t, "").await["meta"]["pagination"]["total"], 3);
}

async fn lists_filter_and_search_by_key(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let rows = [
        (
            "Ada Lovelace",
            "+14155550001",
            "ada@example.com",
            vec!["vip"],
            true,
        ),
        (
            "Ada Byron King",
            "+14155550002",
            "countess@example.org",
            vec!["vip", "uk"],
            false,
        ),
        (
            "Alan Turing",
            "+442071230003",
            "alan@example.com",
            vec![],
            false,
        ),
        (
            "Grace Hopper",
            "+14155551004",
            "grace@navy.example",
            vec!["uk"],
            true,
        ),
    ];
    for (name, phone, email, tags, dnc) in &rows {
        create(
            &t,
            json!({"name": name, "phone": phone, "email": email, "tags": tags, "do_not_call": dnc}),
        )
        .await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Newest first, paged by offset and by cursor alike.
    let all = list(&t, "?limit=3").await;
    assert_eq!(
        names(&all),
        ["Grace Hopper", "Alan Turing", "Ada Byron King"]
    );
    assert_eq!(all["meta"]["pagination"]["total"], 4);
    let cursor = all["meta"]["pagination"]["next_cursor"].as_str().unwrap();
    let rest = list(&t, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(names(&rest), ["Ada Lovelace"]);
    assert_eq!(
        names(&list(&t, "?limit=3&offset=3").await),
        ["Ada Lovelace"]
    );

    assert_eq!(
        names(&list(&t, "?do_not_call=true").await),
        ["Grace Hopper", "Ada Lovelace"]
    );
    assert_eq!(
        names(&list(&t, "?do_not_call=false").await),
        ["Alan Turing", "Ada Byron King"]
    );
    assert_eq!(
        names(&list(&t, "?tag=uk").await),
        ["Grace Hopper", "Ada Byron King"]
    );
    assert_eq!(
        names(&list(&t, "?tag=vip&do_not_call=true").await),
        ["Ada Lovelace"]
    );

    // Name words by prefix, each listed once, in word order.
    assert_eq!(
        names(&list(&t, "?search=ada").await),
        ["Ada Lovelace", "Ada Byron King"]
    );
    assert_eq!(
        names(&list(&t, "?search=ADA%20lov").await),
        ["Ada Lovelace"]
    );
    assert_eq!(names(&list(&t, "?search=king").await), ["Ada Byron King"]);
    assert_eq!(
        names(&list(&t, "?search=a").await).len(),
        3,
        "Ada ×2 and Alan, once each"
    );
    assert_eq!(
        names(&list(&t, "?search=ada&tag=uk").await),
        ["Ada Byron King"]
    );
    // Phone prefixes, formatting ignored; an exact number finds its contact.
    assert_eq!(
        phones(&list(&t, "?search=%2B1%20415%20555%200").await),
        ["+14155550001", "+14155550002"]
    );
    assert_eq!(phones(&list(&t, "?search=44207").await), ["+442071230003"]);
    assert_eq!(
        phones(&list(&t, "?search=%2B14155551004").await),
        ["+14155551004"]
    );
    assert_eq!(
        phones(&list(&t, "?search=%2B1415&do_not_call=true").await),
        ["+14155550001", "+14155551004"]
    );
    // E-mail prefixes, case-insensitively.
    assert_eq!(names(&list(&t, "?search=ALAN@").await), ["Alan Turing"]);
    assert_eq!(
        names(&list(&t, "?search=countess%40example.org").await),
        ["Ada Byron King"]
    );
    // Search pages with a cursor too.
    let first = list(&t, "?search=a&limit=2").await;
    assert_eq!(names(&first).len(), 2);
    let cursor = first["meta"]["pagination"]["next_cursor"].as_str().unwrap();
    let second = list(&t, &format!("?search=a&limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second), ["Alan Turing"]);
    // Nothing to look for, or nothing found: an empty page.
    assert!(names(&list(&t, "?search=zz").await).is_empty());
    assert!(names(&list(&t, "?search=%23%21").await).is_empty());
    // Renaming moves the name words.
    let grace = list(&t, "?search=grace").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/contacts/{grace}"))
            .json(&json!({"name": "Rear Admiral Hopper"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(names(&list(&t, "?search=grace").await).is_empty());
    assert_eq!(
        names(&list(&t, "?search=admiral").await),
        ["Rear Admiral Hopper"]
    );
}

async fn the_agent_role_cannot_delete_and_other_orgs_see_nothing(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (admin, _) = t.signup("owner@example.com").await;
    let member = t.member(&admin, "member@example.com", "agent").await;
    // A human agent works contacts, but may not delete them.
    let (status, c) = call(
        t.session(Method::POST, "/contacts", &member)
            .json(&json!({"name": "Walk-in", "email": "walkin@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["data"]["id"].as_str().unwrap();
    let path = format!("/contacts/{id}");
    let (status, _) = call(
        t.session(Method::PATCH, &path, &member)
            .json(&json!({"company": "X"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(t.session(Method::DELETE, &path, &member)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body);

    // Another org (the bootstrap key's) sees none of it, whatever it tries.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let req = t.api(method.clone(), &path);
        let req = if method == Method::PATCH {
            req.json(&json!({"name": "x"}))
        } else {
            req
        };
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {body}");
        assert_error_body(&body);
    }
    assert!(phones(&list(&t, "?search=walkin@").await).is_empty());
    assert_eq!(list(&t, "").await["meta"]["pagination"]["total"], 0);
    // Nor does the same org's test mode (where the sandbox's demo call may
    // have made its callee a contact).
    let (_, body) = call(t.session(Method::GET, "/contacts?mode=test", &admin)).await;
    assert!(!body["data"].to_string().contains(id), "{body}");
    assert!(!body["data"].to_string().contains("walkin@"), "{body}");
    let (status, _) = call(t.session(Method::DELETE, &path, &admin)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn bad_input_gets_the_error_body(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let cases = [
        (json!({"name": "A", "phone": "415-555-0123"}), "phone"),
        (json!({"name": "A", "phone": 14155550123u64}), "phone"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({}), "name"),
        (json!({"name": "A", "tags": "vip"}), "tags"),
        (json!({"name": "A", "tags": vec!["t"; 21]}), "tags"),
        (json!({"name": "A", "attributes": [1, 2]}), "attributes"),
        (
            json!({"name": "A", "attributes": {"big": "x".repeat(9000)}}),
            "attributes",
        ),
        (json!({"name": "A", "do_not_call": "yes"}), "do_not_call"),
        (
            json!({"name": "A", "do_not_call_reason": "why"}),
            "do_not_call_reason",
        ),
        (json!({"name": "A", "compnay": "x"}), "compnay"),
        (json!({"name": "x".repeat(201)}), "name"),
    ];
    for (body, field) in cases {
        let (status, err) = call(t.api(Method::POST, "/contacts").json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_error_body(&err);
        assert!(
            err["details"]["fields"][field].is_string(),
            "{field}: {err}"
        );
    }
    let (status, err) = call(
        t.api(Method::POST, "/contacts")
            .header("content-type", "application/json")
            .body("[1]"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_error_body(&err);
    for query in [
        "?limit=0",
        "?do_not_call=maybe",
        "?cursor=bogus",
        &format!("?search={}", "a".repeat(201)),
    ] {
        let (status, err) = call(t.api(Method::GET, &format!("/contacts{query}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {err}");
        assert_error_body(&err);
    }
    let (status, err) = call(t.api(Method::GET, "/contacts/not-an-id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&err);
    let c = create(&t, json!({"name": "A"})).await;
    let (status, err) = call(
        t.api(
            Method::PATCH,
            &format!("/contacts/{}", c["id"].as_str().unwrap()),
        )
        .json(&json!({"name": null})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing left to identify it: {err}"
    );

    // A PATCH names every bad field at once, an unknown key included, and
    // changes nothing; then null clears a field (or restores its default)
    // and an absent one is kept.
    let full = create(
        &t,
        json!({"name": "Ann", "phone": "+14155550999", "company": "Acme",
        "tags": ["vip"], "do_not_call": true}),
    )
    .await;
    let path = format!("/contacts/{}", full["id"].as_str().unwrap());
    let (status, err) = call(t.api(Method::PATCH, &path).json(&json!({"phone": "555",
        "email": 7, "tags": [""], "attributes": [1], "do_not_call": "yes", "colour": "red"})))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_error_body(&err);
    let fields = err["details"]["fields"].as_object().unwrap();
    assert!(fields["phone"].is_string(), "{fields:?}");
    assert_eq!(fields["email"], "must be a string");
    assert_eq!(fields["tags"], "items must be 1 to 50 characters");
    assert_eq!(fields["attributes"], "must be an object");
    assert_eq!(fields["do_not_call"], "must be true or false");
    assert_eq!(fields["colour"], "is not a field of a contact");
    assert_eq!(fields.len(), 6, "{fields:?}");
    let (status, patched) = call(t.api(Method::PATCH, &path).json(&json!({"company": null,
        "tags": null, "do_not_call": null})))
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let p = &patched["data"];
    assert_eq!((&p["company"], &p["tags"]), (&json!(null), &json!([])));
    assert_eq!(
        (&p["do_not_call"], &p["do_not_call_at"]),
        (&json!(false), &json!(null))
    );
    assert_eq!(
        (&p["name"], &p["phone"]),
        (&json!("Ann"), &json!("+14155550999"))
    );
}

async fn the_dialer_links_and_marks_numbers(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let tenant = tenant(&t, Mode::Live).await;
    let app = &t.app;
    let taken = create(&t, json!({"name": "Owner", "email": "owner@example.com"})).await;

    // Find-or-create by phone, normalising it; an e-mail another contact
    // holds is left off.
    let id = contacts::link_by_phone(
        app,
        &tenant,
        "+1 415 555 0150",
        Some("Bea"),
        Some("owner@example.com"),
    )
    .await
    .unwrap();
    let (_, c) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    assert_eq!(c["data"]["phone"], "+14155550150");
    assert_eq!(c["data"]["name"], "Bea");
    assert!(c["data"]["email"].is_null());
    assert_ne!(taken["id"], id.as_str());
    let again = contacts::link_by_phone(app, &tenant, "+14155550150", Some("Other"), None)
        .await
        .unwrap();
    assert_eq!(again, id, "found, not created");
    assert!(
        contacts::link_by_phone(app, &tenant, "555", None, None)
            .await
            .is_err()
    );

    // Do-not-call: unknown numbers are callable; marking creates the contact
    // when needed and keeps the first time and reason.
    assert!(
        !contacts::is_do_not_call(app, &tenant, "+14155550150")
            .await
            .unwrap()
    );
    assert!(
        !contacts::is_do_not_call(app, &tenant, "+14155550151")
            .await
            .unwrap()
    );
    contacts::mark_do_not_call(app, &tenant, "+14155550150", "first")
        .await
        .unwrap();
    contacts::mark_do_not_call(app, &tenant, "+14155550151", "new")
        .await
        .unwrap();
    assert!(
        contacts::is_do_not_call(app, &tenant, "+1 415 555 0150")
            .await
            .unwrap()
    );
    assert!(
        contacts::is_do_not_call(app, &tenant, "+14155550151")
            .await
            .unwrap()
    );
    let (_, c) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    let at = c["data"]["do_not_call_at"].clone();
    assert_eq!(c["data"]["do_not_call_reason"], "first");
    contacts::mark_do_not_call(app, &tenant, "+14155550150", "second")
        .await
        .unwrap();
    let (_, c) = call(t.api(Method::GET, &format!("/contacts/{id}"))).await;
    assert_eq!(c["data"]["do_not_call_at"], at);
    assert_eq!(c["data"]["do_not_call_reason"], "first");
    // Clearing it through the API makes the number callable again.
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/contacts/{id}"))
            .json(&json!({"do_not_call": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !contacts::is_do_not_call(app, &tenant, "+14155550150")
            .await
            .unwrap()
    );
    // Other tenants are untouched.
    let test = Tenant {
        mode: Mode::Test,
        ..tenant.clone()
    };
    assert!(
        !contacts::is_do_not_call(app, &test, "+14155550151")
            .await
            .unwrap()
    );
}

async fn a_callee_who_asks_not_to_be_called_becomes_do_not_call(backend: Backend) {
    let (mut config, dir) = config(backend).await;
    config.sim_time_scale = 0.0;
    config.scheduler_interval_ms = 3_600_000;
    let t = TestApp::spawn_with(config, dir).await;
    let (_, agent) = call(t.api(Method::POST, "/agents").json(
        &json!({"name": "Seller", "system_prompt": "You sell solar panels.",
                "greeting": "Hello, this is Sunny Solar calling."}),
    ))
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap();
    // A known contact with that number, and a call to it.
    let known = create(&t, json!({"name": "Dee", "phone": "+15005550006"})).await;
    let mut call_ids = Vec::new();
    for to in ["+15005550006", "+15005550009"] {
        let (status, task) = call(
            t.api(Method::POST, "/tasks")
                .json(&json!({"agent_id": agent_id, "to_number": to})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        let task_id = task["data"]["id"].as_str().unwrap();
        let (status, started) =
            call(t.api(Method::POST, &format!("/tasks/{task_id}/execute"))).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        call_ids.push(started["data"]["call_id"].as_str().unwrap().to_owned());
    }
    // Both calls end with their reports written by the post-call job.
    let start = Instant::now();
    for id in &call_ids {
        loop {
            let (_, c) = call(t.api(Method::GET, &format!("/calls/{id}"))).await;
            if c["data"]["report"].is_object() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no report: {c}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let dnc = loop {
        let body = list(&t, "?do_not_call=true").await;
        if !body["data"].as_array().unwrap().is_empty() {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never marked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(phones(&dnc), ["+15005550006"], "only the one who asked");
    let c = &dnc["data"][0];
    assert_eq!(c["id"], known["id"], "the existing contact is marked");
    assert_eq!(
        c["do_not_call_reason"],
        format!("asked not to be called again (call {})", call_ids[0])
    );
    // The post-call hook again (a redelivered event) changes nothing.
    let tenant = tenant(&t, Mode::Live).await;
    let (stored, _) = switchboard::services::calls::load(&t.app, &tenant, &call_ids[0])
        .await
        .unwrap();
    contacts::after_call(&t.app, &tenant, &stored)
        .await
        .unwrap();
    let (_, again) = call(t.api(
        Method::GET,
        &format!("/contacts/{}", known["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(again["data"]["do_not_call_at"], c["do_not_call_at"]);
    assert_eq!(again["data"]["updated_at"], c["updated_at"]);
    assert!(
        contacts::is_do_not_call(&t.app, &tenant, "+15005550006")
            .await
            .unwrap()
    );
    assert!(
        !contacts::is_do_not_call(&t.app, &tenant, "+15005550009")
            .await
            .unwrap()
    );
}
