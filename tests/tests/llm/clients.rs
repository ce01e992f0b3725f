//! Every client against every scripted behaviour of the double.

use super::*;

#[tokio::test]
async fn text_streams_in_pieces_with_usage_and_each_providers_credentials() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script::text(&["Hel", "lo, ", "wörld."])]);
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(error, None, "{kind:?}");
        assert_eq!(texts(&events), ["Hel", "lo, ", "wörld."], "{kind:?}");
        assert!(
            events.contains(&ChatEvent::Usage(Usage {
                input_tokens: 11,
                output_tokens: 7
            })),
            "{kind:?}: {events:?}"
        );
        assert_eq!(events.last(), Some(&ChatEvent::Done(StopReason::EndTurn)));
        let got = &double.received()[0];
        match kind {
            Kind::OpenAi => {
                assert_eq!(
                    got.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                );
                assert_eq!(got.body["stream"], true);
                assert_eq!(got.body["stream_options"]["include_usage"], true);
                assert_eq!(got.body["model"], "gpt-test");
                assert_eq!(got.body["max_completion_tokens"], 200);
                assert_eq!(
                    got.body["messages"][0],
                    json!({"role": "system", "content": "You are a test."})
                );
            }
            Kind::Anthropic => {
                assert_eq!(got.header("x-api-key"), Some(KEY));
                assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(got.body["system"], "You are a test.");
                assert_eq!(
                    got.body["messages"][0],
                    json!({"role": "user", "content": [{"type": "text", "text": "hi"}]})
                );
            }
            Kind::Bedrock => {
                assert_eq!(got.path, "/model/amazon.nova-lite-v1%3A0/converse-stream");
                let auth = got.header("authorization").unwrap_or_default();
                assert!(
                    auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
                    "{auth}"
                );
                assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
                assert_eq!(got.body["inferenceConfig"]["maxTokens"], 200);
                assert_eq!(got.body["system"], json!([{"text": "You are a test."}]));
            }
        }
    }
}

#[tokio::test]
async fn a_tool_call_split_across_chunks_arrives_whole() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script::tool_call(
            "call_7",
            "book_slot",
            &["{\"da", "y\": \"2026-01-05\", ", "\"seats\": 2}"],
        )]);
        let (events, error) = collect(&*client(kind, &double, fast()), request("book")).await;
        assert_eq!(error, None, "{kind:?}");
        let calls: Vec<&ChatEvent> = events
            .iter()
            .filter(|e| matches!(e, ChatEvent::ToolCall(_)))
            .collect();
        assert_eq!(
            calls,
            [&ChatEvent::ToolCall(ToolCall {
                id: "call_7".into(),
                name: "book_slot".into(),
                arguments: json!({"day": "2026-01-05", "seats": 2}),
            })],
            "{kind:?}"
        );
        assert_eq!(events.last(), Some(&ChatEvent::Done(StopReason::ToolUse)));
    }
}

#[tokio::test]
async fn a_slow_first_token_is_awaited_up_to_the_first_byte_deadline() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        let slow = || Script::text(&["late"]).first_token_after(Duration::from_millis(300));
        double.script([slow(), slow()]);
        let started = Instant::now();
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(error, None, "{kind:?}");
        assert_eq!(texts(&events), ["late"]);
        assert!(started.elapsed() >= Duration::from_millis(300));

        let mut impatient = fast();
        impatient.timeouts.first_byte = Duration::from_millis(100);
        let started = Instant::now();
        let (_, error) = collect(&*client(kind, &double, impatient), request("hi")).await;
        assert!(
            matches!(error, Some(LlmError::Unavailable(_))),
            "{kind:?}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(290), "{kind:?}");
    }
}

#[tokio::test]
async fn a_stream_dropped_mid_reply_is_unavailable_after_the_text_so_far() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script::new(Reply::DropAfter(vec![
            "Half a ".into(),
            "sent".into(),
        ]))]);
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(texts(&events), ["Half a ", "sent"], "{kind:?}");
        assert!(
            matches!(error, Some(LlmError::Unavailable(_))),
            "{kind:?}: {error:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, ChatEvent::Done(_))));
    }
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_delay_asked_unless_it_is_too_long() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([
            Script::status(429, Some("0.2"), "slow down"),
            Script::text(&["ok"]),
        ]);
        let started = Instant::now();
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(error, None, "{kind:?}");
        assert_eq!(texts(&events), ["ok"]);
        assert!(started.elapsed() >= Duration::from_millis(200), "{kind:?}");
        assert_eq!(double.received().len(), 2);

        // Asked to wait longer than the cap: no waiting, the engine may fall back at once.
        double.script([Script::status(429, Some("30"), "quota")]);
        let started = Instant::now();
        let (_, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(
            error,
            Some(LlmError::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            }),
            "{kind:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(double.received().len(), 3);
    }
}

#[tokio::test]
async fn server_errors_are_retried_twice_then_reported() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script::status(503, None, "busy"), Script::text(&["back"])]);
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!((texts(&events), error), (vec!["back"], None), "{kind:?}");

        let double = LlmDouble::start().await;
        double.always(Script::status(500, None, "boom"));
        let (_, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert!(
            matches!(&error, Some(LlmError::Unavailable(m)) if m.contains("500") && m.contains("boom")),
            "{kind:?}: {error:?}"
        );
        assert_eq!(
            double.received().len(),
            3,
            "{kind:?}: one try and two retries"
        );
    }
}

#[tokio::test]
async fn a_malformed_chunk_is_an_invalid_response() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script::new(Reply::Malformed)]);
        let (events, error) = collect(&*client(kind, &double, fast()), request("hi")).await;
        assert_eq!(texts(&events), ["Hi"], "{kind:?}");
        assert!(
            matches!(error, Some(LlmError::InvalidResponse(_))),
            "{kind:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn auth_and_request_errors_carry_the_providers_message_never_the_key() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([
            Script::status(401, None, &format!("Incorrect API key provided: {KEY}")),
            Script::status(400, None, "model gpt-nope does not exist"),
        ]);
        let model = client(kind, &double, fast());
        let (_, error) = collect(&*model, request("hi")).await;
        match error {
            Some(LlmError::Auth(m)) => {
                assert!(
                    m.contains("Incorrect API key") && !m.contains("0123456789"),
                    "{m}"
                )
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        let (_, error) = collect(&*model, request("hi")).await;
        assert!(
            matches!(&error, Some(LlmError::BadRequest(m)) if m.contains("gpt-nope")),
            "{kind:?}: {error:?}"
        );
        assert_eq!(double.received().len(), 2, "4xx is never retried");
    }
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_unavailable() {
    // A port nobody listens on: every attempt (one and two retries) is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    for kind in KINDS {
        let nowhere = LlmDouble::at(&base);
        let (_, error) = collect(&*client(kind, &nowhere, fast()), request("hi")).await;
        assert!(
            matches!(&error, Some(LlmError::Unavailable(m)) if m.contains("cannot connect")),
            "{kind:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_reply_that_stalls_between_chunks_is_unavailable() {
    for kind in KINDS {
        let double = LlmDouble::start().await;
        double.script([Script {
            chunk_delay: Duration::from_millis(400),
            ..Script::text(&["a", "b"])
        }]);
        let mut impatient = fast();
        impatient.timeouts.idle = Duration::from_millis(100);
        let (_, error) = collect(&*client(kind, &double, impatient), request("hi")).await;
        assert!(
            matches!(&error, Some(LlmError::Unavailable(m)) if m.contains("stalled")),
            "{kind:?}: {error:?}"
        );
    }
}
