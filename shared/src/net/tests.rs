use std::time::Duration;

use super::test_server::{FixedResolver, start};
use super::*;

fn strict() -> GuardedClient {
    GuardedClient::with_resolver(
        &GuardConfig::default(),
        FixedResolver::new(&[
            ("evil.example", &["127.0.0.1"]),
            ("mixed.example", &["93.184.216.34", "10.0.0.7"]),
            ("metadata.example", &["169.254.169.254"]),
            ("mapped.example", &["::ffff:127.0.0.1"]),
        ]),
    )
    .unwrap()
}

/// Allows the name `allowed.test` (→ 127.0.0.1) and nothing else local, so redirects from
/// it to 127.0.0.1 itself are still refused.
fn allowing_test_host() -> GuardedClient {
    GuardedClient::with_resolver(
        &GuardConfig {
            allow_hosts: vec!["allowed.test".into()],
            allow_private: false,
        },
        FixedResolver::new(&[
            ("allowed.test", &["127.0.0.1"]),
            ("evil.example", &["127.0.0.1"]),
        ]),
    )
    .unwrap()
}

fn blocked(result: Result<impl std::fmt::Debug, NetError>) -> String {
    match result {
        Err(NetError::Blocked { reason }) => reason,
        other => panic!("expected Blocked, got {other:?}"),
    }
}

#[test]
fn literal_addresses_in_every_notation_are_refused() {
    let client = strict();
    for url in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0x0.0x0.0x1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://0/",
        "http://0.0.0.0:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://192.0.2.10/",
        "http://198.51.100.1/",
        "http://203.0.113.9/",
        "http://198.18.0.1/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[ff02::1]/",
        "http://[2001:db8::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::1]/",
        "http://[2001:0:4136:e378::1]/",
        "https://127.0.0.1:443/",
    ] {
        let reason = blocked(client.check_url(url));
        assert!(!reason.is_empty(), "{url}");
    }
}

#[test]
fn public_addresses_and_names_pass_the_static_check() {
    let client = strict();
    for url in [
        "https://93.184.216.34/",
        "http://8.8.8.8/",
        "https://[2606:4700:4700::1111]/dns-query",
        "https://[64:ff9b::808:808]/",
        "https://api.example.com/v1/weather?city=Paris",
        "http://172.32.0.1/",
        "http://100.128.0.1/",
    ] {
        assert!(client.check_url(url).is_ok(), "{url}");
    }
}

#[test]
fn schemes_other_than_http_are_refused() {
    let client = strict();
    for url in [
        "file:///etc/passwd",
        "gopher://example.com:70/_stats",
        "ftp://example.com/x",
        "ws://example.com/",
        "data:text/plain,hi",
        "javascript:alert(1)",
    ] {
        let reason = blocked(client.check_url(url));
        assert!(reason.contains("scheme"), "{url}: {reason}");
    }
    assert!(matches!(
        client.check_url("not a url"),
        Err(NetError::InvalidUrl(_))
    ));
}

#[test]
fn internal_host_names_are_refused_before_resolving() {
    let client = strict();
    for url in [
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://printer.local/",
    ] {
        let reason = blocked(client.check_url(url));
        assert!(reason.contains("internal name"), "{url}: {reason}");
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_and_nothing_is_sent() {
    let server = start().await;
    let client = strict();
    for host in [
        "evil.example",
        "mixed.example",
        "metadata.example",
        "mapped.example",
    ] {
        let err = client
            .send(OutboundRequest::new(
                Method::GET,
                server.url_as(host, "/echo"),
            ))
            .await;
        let reason = blocked(err);
        assert_eq!(reason, format!("the destination {host} is not allowed"));
        // No DNS oracle: the address a name resolved to is never told to the caller.
        for leak in ["127.", "169.254", "::", "loopback", "private", "link-local"] {
            assert!(!reason.contains(leak), "{reason} names the address");
        }
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn an_unknown_name_is_a_clear_failure() {
    let client = strict();
    let err = client
        .send(OutboundRequest::new(Method::GET, "http://nowhere.example/"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NetError::Http(m) if m.contains("nowhere.example")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_allowed_host_is_reached_and_the_response_reported() {
    let server = start().await;
    let client = allowing_test_host();
    let response = client
        .send(
            OutboundRequest::new(Method::POST, server.url_as("allowed.test", "/echo"))
                .header("x-test", "1")
                .body("hello"),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(response.is_json());
    let echoed: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["headers"]["x-test"], "1");
    assert_eq!(echoed["body"], "hello");

    let text = client
        .send(OutboundRequest::new(
            Method::GET,
            server.url_as("allowed.test", "/text"),
        ))
        .await
        .unwrap();
    assert_eq!(text.content_type.as_deref(), Some("text/plain"));
    assert!(!text.is_json());
    assert_eq!(text.text(), "hello there");
}

#[tokio::test]
async fn allowed_networks_and_allow_private_open_local_addresses() {
    let server = start().await;
    let by_net = GuardedClient::new(&GuardConfig {
        allow_hosts: vec!["127.0.0.0/8".into()],
        allow_private: false,
    })
    .unwrap();
    let ok = by_net
        .send(OutboundRequest::new(Method::GET, server.url("/text")))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    // The allowed network does not open other private ranges.
    blocked(by_net.check_url("http://10.0.0.1/"));

    let private = GuardedClient::new(&GuardConfig {
        allow_hosts: vec![],
        allow_private: true,
    })
    .unwrap();
    assert!(private.check_url("http://192.168.0.10/").is_ok());
    // Never a destination, even then.
    blocked(private.check_url("http://0.0.0.0/"));
    blocked(private.check_url("http://255.255.255.255/"));
}

#[tokio::test]
async fn redirects_are_followed_and_rechecked_on_every_hop() {
    let server = start().await;
    let client = allowing_test_host();
    let followed = client
        .send(OutboundRequest::new(
            Method::GET,
            server.url_as("allowed.test", "/redirect?to=/echo"),
        ))
        .await
        .unwrap();
    assert_eq!(followed.status, 200);
    assert!(followed.url.ends_with("/echo"), "{}", followed.url);

    let port = server.addr.port();
    for target in [
        format!("http://127.0.0.1:{port}/echo"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://evil.example:{port}/echo"),
        format!("http://localhost:{port}/echo"),
        format!("http://[::ffff:127.0.0.1]:{port}/echo"),
        "file:///etc/passwd".to_string(),
        "gopher://127.0.0.1:6379/_INFO".to_string(),
    ] {
        let hits_before = server.hits();
        let url = server.url_as(
            "allowed.test",
            &format!(
                "/redirect?to={}",
                percent_encoding::utf8_percent_encode(&target, percent_encoding::NON_ALPHANUMERIC)
            ),
        );
        let err = client.send(OutboundRequest::new(Method::GET, url)).await;
        blocked(err);
        // Only the redirecting request reached the server; the hop was never made.
        assert_eq!(server.hits(), hits_before + 1, "{target}");
    }
}

#[tokio::test]
async fn redirect_loops_stop_at_the_limit() {
    let server = start().await;
    let client = allowing_test_host();
    let err = client
        .send(OutboundRequest::new(
            Method::GET,
            server.url_as("allowed.test", "/loop"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NetError::TooManyRedirects {
            limit: MAX_REDIRECTS
        }
    );
    assert_eq!(server.hits(), MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_and_307_keeps_it() {
    let server = start().await;
    let client = allowing_test_host();
    let see_other = client
        .send(
            OutboundRequest::new(
                Method::POST,
                server.url_as("allowed.test", "/redirect?to=/echo&code=303"),
            )
            .body("payload"),
        )
        .await
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_slice(&see_other.body).unwrap();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["body"], "");

    let temporary = client
        .send(
            OutboundRequest::new(
                Method::POST,
                server.url_as("allowed.test", "/redirect?to=/echo&code=307"),
            )
            .body("payload"),
        )
        .await
        .unwrap();
    let echoed: serde_json::Value = serde_json::from_slice(&temporary.body).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["body"], "payload");
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_with_or_without_a_length() {
    let server = start().await;
    let client = allowing_test_host();
    for path in ["/big", "/stream-big"] {
        let err = client
            .send(
                OutboundRequest::new(Method::GET, server.url_as("allowed.test", path))
                    .max_body_bytes(1024 * 1024),
            )
            .await
            .unwrap_err();
        assert_eq!(err, NetError::TooLarge { limit: 1024 * 1024 }, "{path}");
    }
    let fits = client
        .send(
            OutboundRequest::new(Method::GET, server.url_as("allowed.test", "/stream-big"))
                .max_body_bytes(4 * 1024 * 1024),
        )
        .await
        .unwrap();
    assert_eq!(fits.body.len(), 2 * 1024 * 1024);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = start().await;
    let client = allowing_test_host();
    let err = client
        .send(
            OutboundRequest::new(Method::GET, server.url_as("allowed.test", "/slow"))
                .timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert_eq!(err, NetError::Timeout);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = allowing_test_host();
    let err = client
        .send(OutboundRequest::new(
            Method::GET,
            format!("http://allowed.test:{port}/"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Http(_)), "{err:?}");
}

#[test]
fn bad_headers_are_refused_before_sending() {
    assert!(matches!(
        header_map(&[("x-a".into(), "line\r\nbreak".into())]),
        Err(NetError::InvalidRequest(_))
    ));
    assert!(matches!(
        header_map(&[("bad name".into(), "v".into())]),
        Err(NetError::InvalidRequest(_))
    ));
}

#[test]
fn allow_lists_read_from_text_and_bad_entries_are_refused() {
    let config = GuardConfig::from_list(" 127.0.0.1, mock.internal ,,10.0.0.0/8", false);
    assert_eq!(
        config.allow_hosts,
        ["127.0.0.1", "mock.internal", "10.0.0.0/8"]
    );
    let client = GuardedClient::new(&config).unwrap();
    assert!(client.check_url("http://mock.internal/x").is_ok());
    assert!(client.check_url("http://10.9.8.7/").is_ok());
    blocked(client.check_url("http://192.168.0.1/"));
    for bad in ["10.0.0.0/33", "fe80::zz"] {
        assert!(
            GuardedClient::new(&GuardConfig::from_list(bad, false)).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_excerpt_keeps_the_start_of_a_big_body_and_redirects_can_be_refused() {
    let server = start().await;
    let client = allowing_test_host();
    for path in ["/big", "/stream-big"] {
        let got = client
            .send(
                OutboundRequest::new(Method::GET, server.url_as("allowed.test", path))
                    .body_excerpt(1024),
            )
            .await
            .unwrap();
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.body.len(), 1024, "{path}");
    }
    let kept = client
        .send(
            OutboundRequest::new(
                Method::POST,
                server.url_as("allowed.test", "/redirect?to=/echo"),
            )
            .without_redirects(),
        )
        .await
        .unwrap();
    assert!((300..400).contains(&kept.status), "{}", kept.status);
    assert_eq!(server.hits(), 3, "the redirect was not followed");
}
